import { describe, expect, it } from 'vitest';
import { CelUnsupported, evaluateCondition } from './cel.js';

// The matchConditions switchyard's own webhook configuration uses (deploy/base/webhook.yaml).
const OPTED_IN =
  "(has(object.metadata.annotations) && 'switchyard.io/canary' in object.metadata.annotations) || " +
  "(oldObject != null && has(oldObject.metadata.annotations) && 'switchyard.io/canary' in oldObject.metadata.annotations)";
const NOT_CONTROLLER =
  "request.userInfo.username != 'system:serviceaccount:switchyard-system:switchyard-control'";

const scope = (object: unknown, oldObject: unknown, username = 'kubernetes-admin') => ({
  object,
  oldObject,
  request: { userInfo: { username } },
});

describe('matchConditions CEL subset', () => {
  it.each([
    [
      'annotated object',
      scope({ metadata: { annotations: { 'switchyard.io/canary': 'enabled' } } }, null),
      true,
    ],
    ['object without annotations', scope({ metadata: {} }, null), false],
    ['other annotations only', scope({ metadata: { annotations: { a: 'b' } } }, null), false],
    [
      'annotation removed in this update',
      scope({ metadata: {} }, { metadata: { annotations: { 'switchyard.io/canary': 'enabled' } } }),
      true,
    ],
  ])('opted-in: %s', (_name, input, expected) => {
    expect(evaluateCondition(OPTED_IN, input)).toBe(expected);
  });

  it('tells the controller apart by username', () => {
    expect(evaluateCondition(NOT_CONTROLLER, scope({}, null))).toBe(true);
    expect(
      evaluateCondition(
        NOT_CONTROLLER,
        scope({}, null, 'system:serviceaccount:switchyard-system:switchyard-control'),
      ),
    ).toBe(false);
  });

  it('absorbs errors that the other side of || decides, and reports the rest', () => {
    expect(evaluateCondition('object.spec.missing == 1 || true', scope({ spec: {} }, null))).toBe(true);
    expect(() => evaluateCondition('object.spec.missing == 1', scope({ spec: {} }, null))).toThrow(
      /no such key/,
    );
    expect(() => evaluateCondition('authorizer.group("x")', scope({}, null))).toThrow(CelUnsupported);
  });
});
