import { describe, expect, it } from 'vitest';
import {
  Annotation,
  DEFAULT_SETTINGS,
  parseAnnotations,
  podTemplateHash,
  progressDeadlineMs,
} from './annotations.js';
import { SwitchyardError } from './errors.js';

function errorOf(annotations: Record<string, string>): SwitchyardError {
  try {
    parseAnnotations(annotations);
  } catch (error) {
    if (error instanceof SwitchyardError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(annotations)} to be rejected`);
}

describe('parseAnnotations', () => {
  it('applies DESIGN.md defaults when only opted in', () => {
    const { settings, warnings } = parseAnnotations({
      [Annotation.canary]: 'enabled',
      'app.kubernetes.io/x': 'y',
    });
    expect(settings).toEqual(DEFAULT_SETTINGS);
    expect(warnings).toEqual([]);
    expect(Object.isFrozen(settings)).toBe(true);
  });

  it('parses every annotation', () => {
    const { settings } = parseAnnotations({
      'switchyard.io/canary': 'enabled',
      'switchyard.io/port': 'http',
      'switchyard.io/protocol': 'h2c',
      'switchyard.io/steps': '10, 20,60',
      'switchyard.io/interval': '1m30s',
      'switchyard.io/progress-deadline': '15m',
      'switchyard.io/max-failed-checks': '3',
      'switchyard.io/success-rate': '0.95',
      'switchyard.io/p99-latency': '500ms',
      'switchyard.io/max-latency-ratio': '1.5',
      'switchyard.io/min-requests': '100',
      'switchyard.io/promotion': 'manual',
      'switchyard.io/strategy': 'ab',
      'switchyard.io/match':
        '[{"header":{"name":"X-User-Group","exact":"beta"}},{"cookie":{"name":"plan","regex":"^pro-"}}]',
      'switchyard.io/sticky': 'cookie',
      'switchyard.io/mirror': '10',
      'switchyard.io/canary-token-secret': 'tester-token',
      'switchyard.io/check.errors': 'sum(rate(x[1m])) < 0.5',
      'switchyard.io/patch-service': 'true',
    });
    expect(settings).toEqual({
      port: 'http',
      protocol: 'h2c',
      steps: [10, 20, 60],
      intervalMs: 90_000,
      progressDeadlineMs: 900_000,
      maxFailedChecks: 3,
      successRate: 0.95,
      p99LatencyMs: 500,
      maxLatencyRatio: 1.5,
      minRequests: 100,
      promotion: 'manual',
      strategy: 'ab',
      match: [
        { header: { name: 'x-user-group', exact: 'beta' } },
        { cookie: { name: 'plan', regex: '^pro-' } },
      ],
      stickyCookie: 'switchyard-track',
      mirrorPercent: 10,
      canaryTokenSecret: 'tester-token',
      checks: [{ name: 'errors', query: 'sum(rate(x[1m]))', operator: '<', threshold: 0.5 }],
      patchService: true,
    });
  });

  it.each([
    ['switchyard.io/steps', '5,x', 'ascending integers 1–99'],
    ['switchyard.io/steps', '50,25', 'ascending integers 1–99'],
    ['switchyard.io/steps', '5,100', 'ascending integers 1–99'],
    ['switchyard.io/steps', '', 'ascending integers 1–99'],
    ['switchyard.io/interval', '5s', 'from 10s to 24h'],
    ['switchyard.io/interval', '1 minute', 'from 10s to 24h'],
    ['switchyard.io/progress-deadline', '30s', 'a duration from the interval (1m) to 240h'],
    ['switchyard.io/progress-deadline', '10 minutes', 'a duration from the interval (1m) to 240h'],
    ['switchyard.io/progress-deadline', '241h', 'a duration from the interval (1m) to 240h'],
    ['switchyard.io/port', 'Not_A_Port', 'container port name'],
    ['switchyard.io/port', '70000', 'integer 1–65535'],
    ['switchyard.io/success-rate', '1.2', 'from 0 to 1'],
    ['switchyard.io/max-failed-checks', '0', 'integer 1–100'],
    ['switchyard.io/promotion', 'sometimes', 'one of auto, manual'],
    ['switchyard.io/protocol', 'grpc', 'one of http, h2c'],
    ['switchyard.io/strategy', 'random', 'one of canary, ab, bluegreen'],
    ['switchyard.io/match', '[{"header":{"name":"a","regex":"(a+)+"}}]', 'nested quantifiers'],
    ['switchyard.io/match', 'not json', 'JSON array'],
    ['switchyard.io/sticky', 'ip', '"cookie"'],
    ['switchyard.io/mirror', '101', 'integer 0–100'],
    ['switchyard.io/check.errors', 'sum(x)', '<PromQL'],
    ['switchyard.io/check.Bad_Name', 'x < 1', 'DNS label'],
    ['switchyard.io/canary', 'yes', 'one of enabled, disabled'],
  ])('%s: %j is rejected naming the annotation, value and what is allowed', (annotation, value, allowed) => {
    const error = errorOf({ [annotation]: value });
    expect(error.code).toBe('SWY_ANNOTATION_INVALID');
    expect(error.field).toBe(annotation);
    expect(error.message).toContain(annotation);
    expect(error.message).toContain(JSON.stringify(value));
    expect(error.message).toContain(allowed);
  });

  it('defaults the progress deadline to 10 intervals, following the interval', () => {
    expect(progressDeadlineMs(DEFAULT_SETTINGS)).toBe(600_000);
    expect(progressDeadlineMs(parseAnnotations({ 'switchyard.io/interval': '30s' }).settings)).toBe(300_000);
    const custom = parseAnnotations({ 'switchyard.io/progress-deadline': '1h30m' }).settings;
    expect(custom.progressDeadlineMs).toBe(5_400_000);
    expect(progressDeadlineMs(custom)).toBe(5_400_000);
  });

  it('checks the progress deadline against the interval set alongside it, in any order', () => {
    const { settings } = parseAnnotations({
      'switchyard.io/progress-deadline': '20s',
      'switchyard.io/interval': '20s',
    });
    expect(progressDeadlineMs(settings)).toBe(20_000);
    const error = errorOf({ 'switchyard.io/interval': '2m', 'switchyard.io/progress-deadline': '90s' });
    expect(error.field).toBe('switchyard.io/progress-deadline');
    expect(error.message).toBe(
      'switchyard.io/progress-deadline: "90s" — expected a duration from the interval (2m) to 240h, e.g. "10m", "1h"',
    );
  });

  it('requires match rules for the ab strategy', () => {
    expect(errorOf({ 'switchyard.io/strategy': 'ab' }).message).toContain('switchyard.io/match');
  });

  it('warns about unknown annotations with a did-you-mean hint', () => {
    const { warnings } = parseAnnotations({
      'switchyard.io/stpes': '5',
      'switchyard.io/zzzzzzzzzzzzzzzz': 'x',
    });
    expect(warnings[0]).toContain('did you mean switchyard.io/steps?');
    expect(warnings[1]).toContain('unknown annotation switchyard.io/zzzzzzzzzzzzzzzz');
    expect(warnings[1]).not.toContain('did you mean');
  });
});

describe('podTemplateHash', () => {
  const template = {
    metadata: { labels: { app: 'shop' } },
    spec: { containers: [{ name: 'app', image: 'shop:1' }] },
  };

  it('ignores key order and switchyard-owned labels and annotations', () => {
    const reordered = {
      spec: { containers: [{ image: 'shop:1', name: 'app' }] },
      metadata: {
        annotations: { 'switchyard.io/injected': '0.1.0' },
        labels: { 'switchyard.io/inject': 'true', app: 'shop', 'switchyard.io/track': 'stable' },
      },
    };
    expect(podTemplateHash(reordered)).toBe(podTemplateHash(template));
    expect(podTemplateHash(template)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('changes when the user changes the template', () => {
    const changed = structuredClone(template);
    changed.spec.containers[0]!.image = 'shop:2';
    expect(podTemplateHash(changed)).not.toBe(podTemplateHash(template));
  });

  it('changes with the fronted port: the copy of switchyard.io/port decides what the router fronts', () => {
    const withPort = (port: string) => ({
      ...template,
      metadata: { ...template.metadata, annotations: { 'switchyard.io/port': port } },
    });
    expect(podTemplateHash(withPort('http'))).not.toBe(podTemplateHash(template));
    expect(podTemplateHash(withPort('grpc'))).not.toBe(podTemplateHash(withPort('http')));
  });
});

describe('parseAnnotations fuzz', () => {
  it('10 000 random values either parse or fail with AnnotationInvalid naming the annotation', async () => {
    const fc = (await import('fast-check')).default;
    const names = [
      ...Object.values(Annotation).filter((name) => !name.endsWith('.')),
      'switchyard.io/check.x',
      'switchyard.io/patch-service',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.oneof(fc.string(), fc.stringMatching(/^[0-9., a-z:\-[\]{}"<>=]{0,20}$/), fc.json()),
        (annotation, value) => {
          try {
            const { settings } = parseAnnotations({ [annotation]: value });
            expect(Object.isFrozen(settings)).toBe(true);
          } catch (error) {
            expect(error).toBeInstanceOf(SwitchyardError);
            expect((error as SwitchyardError).code).toBe('SWY_ANNOTATION_INVALID');
            expect((error as SwitchyardError).message).toContain('switchyard.io/');
          }
        },
      ),
      { numRuns: 10_000 },
    );
  });
});

describe('parseAnnotations on hostile input', () => {
  it('answers quickly-shaped inputs without catastrophic backtracking and rejects oversized values', () => {
    const spaces = ' '.repeat(16_000);
    expect(() => parseAnnotations({ 'switchyard.io/check.x': `a${spaces}` })).toThrow(/<PromQL/);
    expect(() => parseAnnotations({ 'switchyard.io/interval': `${'1m'.repeat(8000)}x` })).toThrow(/duration/);
    expect(() => parseAnnotations({ 'switchyard.io/match': 'x'.repeat(20_000) })).toThrow(
      /at most 16384 characters/,
    );
    const { warnings } = parseAnnotations({ [`switchyard.io/${'z'.repeat(5000)}`]: 'x' });
    expect(warnings[0]).toContain('unknown annotation');
  });

  it('splits a check at its last comparison', () => {
    const { settings } = parseAnnotations({ 'switchyard.io/check.lat': 'max(x > 5) <= 1e-3' });
    expect(settings.checks[0]).toMatchObject({ query: 'max(x > 5)', operator: '<=', threshold: 0.001 });
  });
});
