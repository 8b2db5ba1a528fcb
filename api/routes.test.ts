import { describe, expect, it } from 'vitest';
import { parseRouteTable, parseRouteTableJson, unsafeRegexReason } from './routes.js';

const minimal = {
  service: 'shop',
  generation: 1,
  tracks: {
    stable: { upstream: 'http://127.0.0.1:8080' },
    canary: { upstream: 'http://shop-canary.default.svc:80' },
  },
  weights: { stable: 90, canary: 10 },
};

describe('parseRouteTable', () => {
  it('accepts the DESIGN.md example and fills defaults', () => {
    const table = parseRouteTable({
      ...minimal,
      rules: [
        { match: { header: { name: 'X-User-Group', exact: 'beta' } }, track: 'canary' },
        { match: { cookie: { name: 'plan', regex: '^pro-' } }, track: 'canary' },
      ],
      sticky: { cookie: 'switchyard-track', maxAgeSeconds: 3600 },
      hashOn: { header: 'X-User-Id' },
      mirror: { track: 'canary', percent: 5 },
      canaryHeader: { name: 'x-canary', tokenSha256: null },
    });
    expect(table.rules[0]).toEqual({
      match: { header: { name: 'x-user-group', exact: 'beta' } },
      track: 'canary',
    });
    expect(table.hashOn).toEqual({ header: 'x-user-id' });
    expect(Object.isFrozen(table)).toBe(true);
    expect(parseRouteTable(minimal).canaryHeader).toEqual({ name: 'x-canary', tokenSha256: null });
    expect(parseRouteTable(minimal).rules).toEqual([]);
  });

  it.each([
    [{ ...minimal, weights: { stable: 90, canary: 20 } }, 'weights: weights must sum to 100, got 110'],
    [{ ...minimal, weights: { stable: 90, blue: 10 } }, 'weights.blue: unknown track "blue"'],
    [{ ...minimal, generation: -1 }, 'generation: expected an integer'],
    [{ ...minimal, tracks: { stable: { upstream: 'ftp://x' } } }, 'tracks.stable.upstream: expected an http'],
    [{ ...minimal, tracks: { stable: { upstream: 'http://x/path' } } }, 'without a path'],
    [
      { ...minimal, rules: [{ match: { header: { name: 'a', regex: '(a+)+$' } }, track: 'canary' }] },
      'rules[0].match.header.regex',
    ],
    [
      { ...minimal, rules: [{ match: { header: { name: 'a', exact: 'x', prefix: 'y' } }, track: 'canary' }] },
      'exactly one of exact',
    ],
    [{ ...minimal, mirror: { track: 'canary', percent: 101 } }, 'mirror.percent'],
    [{ ...minimal, canaryHeader: { tokenSha256: 'abc' } }, 'canaryHeader.tokenSha256'],
    [{ ...minimal, surprise: true }, '$.surprise: unknown field'],
  ])('rejects %j naming the field', (input, message) => {
    expect(() => parseRouteTable(input)).toThrow(message);
  });

  it('reports JSON syntax errors with the route-table code', () => {
    expect(() => parseRouteTableJson('{')).toThrow(
      expect.objectContaining({ code: 'SWY_ROUTE_TABLE_INVALID' }),
    );
  });
});

describe('unsafeRegexReason', () => {
  it.each(['^pro-', 'beta|gamma', '^[a-z]+$', '(ab)+', '\\d{3}'])('allows %s', (pattern) => {
    expect(unsafeRegexReason(pattern)).toBeNull();
  });
  it.each(['(a+)+', '(a|aa)+', '(x*)*y', '(\\w+\\s?)*$', '(a)\\1', '(?<n>a)\\k<n>', '[', 'a'.repeat(300)])(
    'rejects %s',
    (pattern) => {
      expect(unsafeRegexReason(pattern)).not.toBeNull();
    },
  );
});
