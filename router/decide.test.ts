import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRouteTable } from '../api/routes.js';
import { bucketOf, compileRoutes, cookieValue, type HeaderBag, parseCanaryValue } from './decide.js';

function routes(extra: Record<string, unknown> = {}, weights = { stable: 90, canary: 10 }) {
  return compileRoutes(
    parseRouteTable({
      service: 'shop',
      generation: 1,
      tracks: { stable: { upstream: 'http://127.0.0.1:1' }, canary: { upstream: 'http://127.0.0.1:2' } },
      weights,
      ...extra,
    }),
  );
}

/** A deterministic Random: a linear congruential generator from a seed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const never = (): number => {
  throw new Error('random must not be consulted for this request');
};

describe('cookieValue', () => {
  it.each([
    ['a=1; b=2', 'b', '2'],
    ['a=1;b=2', 'b', '2'],
    ['ab=1; b=2', 'b', '2'],
    ['xb=1', 'b', undefined],
    ['b=', 'b', ''],
    ['switchyard-track=canary', 'switchyard-track', 'canary'],
    ['a=1;  switchyard-track="canary" ; c=3', 'switchyard-track', 'canary'],
    ['plan="pro-gold"', 'plan', 'pro-gold'],
    ['plan=""', 'plan', ''],
    ['plan="', 'plan', '"'],
    [undefined, 'b', undefined],
  ])('%s → %s=%s', (header, name, expected) => {
    expect(cookieValue(header, name)).toBe(expected);
  });
});

describe('parseCanaryValue', () => {
  it.each([
    ['always', 'always', null],
    [' ALWAYS ', 'always', null],
    ['Canary; token=s3cret', 'canary', 's3cret'],
    ['never;Token = x ', 'never', 'x'],
    ['always; other=1', 'always', null],
  ])('%j', (value, target, token) => {
    expect(parseCanaryValue(value)).toEqual({ target, token });
  });
});

describe('decide: table-driven', () => {
  const full = routes({
    rules: [
      { match: { header: { name: 'x-user-group', exact: 'beta' } }, track: 'canary' },
      { match: { cookie: { name: 'plan', regex: '^pro-' } }, track: 'canary' },
      { match: { header: { name: 'x-region', prefix: 'eu-' } }, track: 'stable' },
    ],
    sticky: { cookie: 'switchyard-track', maxAgeSeconds: 60 },
    hashOn: { header: 'x-user-id' },
  });
  const cases: { name: string; headers: HeaderBag; track: string; reason: string; cookie: boolean }[] = [
    {
      name: 'x-canary always',
      headers: { 'x-canary': 'always' },
      track: 'canary',
      reason: 'header',
      cookie: false,
    },
    {
      name: 'x-canary NEVER',
      headers: { 'x-canary': 'NEVER' },
      track: 'stable',
      reason: 'header',
      cookie: false,
    },
    {
      name: 'x-canary track name',
      headers: { 'x-canary': 'Canary' },
      track: 'canary',
      reason: 'header',
      cookie: false,
    },
    {
      name: 'header beats rules',
      headers: { 'x-canary': 'never', 'x-user-group': 'beta' },
      track: 'stable',
      reason: 'header',
      cookie: false,
    },
    {
      name: 'header rule exact',
      headers: { 'x-user-group': 'beta' },
      track: 'canary',
      reason: 'rule',
      cookie: false,
    },
    {
      name: 'cookie rule regex on a quoted cookie value',
      headers: { cookie: 'a=1; plan="pro-x"' },
      track: 'canary',
      reason: 'rule',
      cookie: false,
    },
    {
      name: 'cookie rule regex',
      headers: { cookie: 'a=1; plan=pro-x' },
      track: 'canary',
      reason: 'rule',
      cookie: false,
    },
    {
      name: 'prefix rule',
      headers: { 'x-region': 'eu-west' },
      track: 'stable',
      reason: 'rule',
      cookie: false,
    },
    {
      name: 'rule beats sticky',
      headers: { 'x-user-group': 'beta', cookie: 'switchyard-track=stable' },
      track: 'canary',
      reason: 'rule',
      cookie: false,
    },
    {
      name: 'sticky',
      headers: { cookie: 'switchyard-track=canary' },
      track: 'canary',
      reason: 'sticky',
      cookie: false,
    },
    {
      name: 'sticky beats hash',
      headers: { cookie: 'switchyard-track=canary', 'x-user-id': 'u-stable-forever' },
      track: 'canary',
      reason: 'sticky',
      cookie: false,
    },
  ];
  it.each(cases)('$name → $track ($reason)', ({ headers, track, reason, cookie }) => {
    const decision = full.decide(headers, never);
    expect({ track: decision.track, reason: decision.reason, cookie: decision.setCookie !== null }).toEqual({
      track,
      reason,
      cookie,
    });
  });

  it('unknown x-canary targets and rule misses fall through to hash, then weight', () => {
    const hashed = full.decide({ 'x-canary': 'nope', 'x-user-group': 'alpha', 'x-user-id': 'u1' }, never);
    expect(hashed.reason).toBe('hash');
    expect(hashed.setCookie).toMatch(/^switchyard-track=(stable|canary); Path=\/; Max-Age=60; HttpOnly/);
    expect(full.decide({}, () => 0.95).reason).toBe('weight');
  });

  it('weighted buckets: canary takes the low buckets, stable the rest', () => {
    const plain = routes();
    expect(plain.decide({}, () => 0).track).toBe('canary');
    expect(plain.decide({}, () => 0.099).track).toBe('canary');
    expect(plain.decide({}, () => 0.1).track).toBe('stable');
    expect(plain.decide({}, () => 0.999).track).toBe('stable');
    expect(plain.decide({}, () => 0.5).setCookie).toBeNull();
  });

  it('sticky cookie naming a track at weight 0 is ignored and replaced by a fresh decision', () => {
    const off = routes({ sticky: { cookie: 'sy', maxAgeSeconds: 5 } }, { stable: 100, canary: 0 });
    const decision = off.decide({ cookie: 'sy=canary' }, () => 0);
    expect(decision).toMatchObject({ track: 'stable', reason: 'weight' });
    expect(decision.setCookie).toContain('sy=stable');
  });

  it('hashOn cookie keys are bucketed too', () => {
    const byCookie = routes({ hashOn: { cookie: 'uid' } }, { stable: 50, canary: 50 });
    const decision = byCookie.decide({ cookie: 'uid=abc' }, never);
    expect(decision.reason).toBe('hash');
    expect(decision.track).toBe(bucketOf('abc') < 50 ? 'canary' : 'stable');
  });

  it('with a token hash, X-Canary is honoured only with the right token', () => {
    const sha = createHash('sha256').update('t0ken').digest('hex');
    const guarded = routes(
      { canaryHeader: { name: 'x-canary', tokenSha256: sha } },
      { stable: 100, canary: 0 },
    );
    expect(guarded.decide({ 'x-canary': 'always' }, () => 0.5).reason).toBe('weight');
    expect(guarded.decide({ 'x-canary': 'always; token=wrong' }, () => 0.5).reason).toBe('weight');
    expect(guarded.decide({ 'x-canary': 'always; token=t0ken' }, never)).toMatchObject({
      track: 'canary',
      reason: 'header',
    });
    expect(guarded.decide({ 'x-canary': 'canary;token=t0ken' }, never).track).toBe('canary');
  });

  it('a custom canary header name is honoured', () => {
    const custom = routes({ canaryHeader: { name: 'X-Test-Version' } }, { stable: 100, canary: 0 });
    expect(custom.canaryHeader).toBe('x-test-version');
    expect(custom.decide({ 'x-test-version': 'always' }, never).track).toBe('canary');
  });

  it('three tracks: weights split in table order with the baseline on top', () => {
    const three = compileRoutes(
      parseRouteTable({
        service: 's',
        generation: 1,
        tracks: {
          stable: { upstream: 'http://a:1' },
          canary: { upstream: 'http://b:1' },
          green: { upstream: 'http://c:1' },
        },
        weights: { stable: 50, canary: 30, green: 20 },
      }),
    );
    expect(three.decide({}, () => 0.29).track).toBe('canary');
    expect(three.decide({}, () => 0.3).track).toBe('green');
    expect(three.decide({}, () => 0.49).track).toBe('green');
    expect(three.decide({}, () => 0.5).track).toBe('stable');
  });

  it('mirrors only requests not already on the mirror track, at the configured percent', () => {
    const mirrored = routes({ mirror: { track: 'canary', percent: 20 } });
    const stable = mirrored.decision(0, 'weight');
    const canary = mirrored.decision(1, 'weight');
    expect(mirrored.shouldMirror(stable, () => 0.19)).toBe(true);
    expect(mirrored.shouldMirror(stable, () => 0.2)).toBe(false);
    expect(mirrored.shouldMirror(canary, () => 0)).toBe(false);
    expect(routes().shouldMirror(stable, () => 0)).toBe(false);
  });
});

describe('decide: properties', () => {
  const weightPair = fc.integer({ min: 0, max: 100 });

  it('weights are honoured within statistical bounds', () => {
    fc.assert(
      fc.property(weightPair, fc.integer(), (canaryWeight, seed) => {
        const table = routes({}, { stable: 100 - canaryWeight, canary: canaryWeight });
        const random = seeded(seed);
        const n = 4000;
        let canary = 0;
        for (let i = 0; i < n; i++) if (table.decide({}, random).track === 'canary') canary++;
        const p = canaryWeight / 100;
        const sigma = Math.sqrt(n * p * (1 - p));
        // 5 sigma: a false failure is ~1 in 3.5 million runs.
        expect(Math.abs(canary - n * p)).toBeLessThanOrEqual(5 * sigma + 1e-9);
      }),
      { numRuns: 40 },
    );
  });

  it('hash bucketing is monotonic: a key on canary at weight w stays on canary at every higher weight', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), weightPair, weightPair, (key, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        const at = (w: number) =>
          routes({ hashOn: { header: 'x-user-id' } }, { stable: 100 - w, canary: w }).decide(
            { 'x-user-id': key },
            never,
          ).track;
        if (at(low) === 'canary') expect(at(high)).toBe('canary');
        if (at(high) === 'stable') expect(at(low)).toBe('stable');
      }),
    );
  });

  it('hash buckets spread keys evenly', () => {
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 10_000; i++) counts[Math.floor(bucketOf(`user-${i}`) / 10)]++;
    for (const count of counts) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });

  it('sticky cookie is stable: the cookie a fresh decision sets routes every later request to the same track', () => {
    fc.assert(
      fc.property(weightPair, fc.double({ min: 0, max: 0.999999, noNaN: true }), (w, r) => {
        const table = routes(
          { sticky: { cookie: 'switchyard-track', maxAgeSeconds: 60 } },
          {
            stable: 100 - w,
            canary: w,
          },
        );
        const first = table.decide({}, () => r);
        const cookie = first.setCookie!.split(';')[0]!;
        const later = table.decide({ cookie: `other=1; ${cookie}` }, never);
        expect(later).toMatchObject({ track: first.track, reason: 'sticky' });
      }),
    );
  });

  it('a valid X-Canary header always wins over rules, sticky cookies and hashing', () => {
    const table = routes({
      rules: [{ match: { header: { name: 'x-group', exact: 'beta' } }, track: 'stable' }],
      sticky: { cookie: 'switchyard-track', maxAgeSeconds: 60 },
      hashOn: { header: 'x-user-id' },
    });
    fc.assert(
      fc.property(
        fc.constantFrom('always', 'never', 'stable', 'canary', 'ALWAYS', 'Canary'),
        fc.constantFrom('beta', 'alpha'),
        fc.constantFrom('switchyard-track=stable', 'switchyard-track=canary', ''),
        fc.string(),
        (header, group, cookie, user) => {
          const decision = table.decide(
            { 'x-canary': header, 'x-group': group, cookie, 'x-user-id': user },
            never,
          );
          const expected =
            { always: 'canary', never: 'stable' }[header.toLowerCase()] ?? header.toLowerCase();
          expect(decision).toMatchObject({ track: expected, reason: 'header' });
        },
      ),
    );
  });
});
