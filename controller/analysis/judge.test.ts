import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type RolloutSettings } from '../../api/annotations.js';
import type { CheckResult, Verdict } from '../../api/canary.js';
import { type CustomValue, judge, type Measurement } from './judge.js';
import type { TrackCounts } from './window.js';

const INF = Number.POSITIVE_INFINITY;
const LES = [0.05, 0.1, 0.25, 0.5, 1];

/** Counts with `perBucket` requests in each of LES then +Inf (non-cumulative input). */
function track(requests: number, errors: number, perBucket: readonly number[] = [requests]): TrackCounts {
  let running = 0;
  const buckets = [...LES, INF].map((le, i) => {
    running += perBucket[i] ?? 0;
    return { le, count: le === INF ? requests : running };
  });
  return { requests, errors, buckets };
}

const settings = (overrides: Partial<RolloutSettings> = {}): RolloutSettings => ({
  ...DEFAULT_SETTINGS,
  ...overrides,
});
const context = { at: new Date('2026-01-01T00:00:00Z'), step: 1, weight: 25 };
const run = (m: Partial<Measurement>, s = settings()): Verdict =>
  judge({ canary: track(1000, 0), stable: track(3000, 3), custom: [], ...m }, s, context);
const byName = (verdict: Verdict, name: string): CheckResult | undefined =>
  verdict.checks.find((check) => check.name === name);

describe('judge', () => {
  it('passes a healthy canary with every default check and the numbers recorded', () => {
    const verdict = run({});
    expect(verdict).toMatchObject({
      outcome: 'pass',
      fastFail: false,
      step: 1,
      weight: 25,
      at: '2026-01-01T00:00:00.000Z',
    });
    expect(verdict.checks.map((c) => c.name)).toEqual([
      'success-rate',
      'error-rate-z-test',
      'latency-mann-whitney',
    ]);
    expect(verdict.canary).toMatchObject({ requests: 1000, errors: 0, successRate: 1 });
    expect(byName(verdict, 'success-rate')).toMatchObject({ value: 1, threshold: 0.99 });
    expect(byName(verdict, 'error-rate-z-test')?.pValue).toBeGreaterThan(0.01);
  });

  it('is inconclusive below min-requests, never pass', () => {
    const verdict = run({ canary: track(49, 0), stable: track(1000, 0) });
    expect(verdict.outcome).toBe('inconclusive');
    expect(byName(verdict, 'success-rate')?.message).toContain('canary 49 requests < min-requests 50');
    expect(run({ stable: track(10, 0) }).outcome).toBe('inconclusive');
  });

  it('is inconclusive on a window without canary requests even with min-requests 0', () => {
    // min-requests "0" waives the sample-size guard; it must not turn "no data" into a failure.
    const verdict = run({ canary: track(0, 0, [0]), stable: track(1000, 0) }, settings({ minRequests: 0 }));
    expect(byName(verdict, 'success-rate')).toMatchObject({ outcome: 'inconclusive', value: null });
    expect(byName(verdict, 'success-rate')?.message).toBe('canary has no requests');
    expect(verdict.outcome).toBe('inconclusive');
  });

  it('fails a success rate under the threshold', () => {
    const verdict = run({ canary: track(1000, 15) }, settings({ successRate: 0.99 }));
    expect(verdict.outcome).toBe('fail');
    expect(byName(verdict, 'success-rate')).toMatchObject({ outcome: 'fail', value: 0.985 });
    expect(byName(verdict, 'success-rate')?.message).toBe(
      'canary success 98.50% < 99.00% over 1000 requests',
    );
  });

  it('fails an error rate significantly worse than stable even above the absolute threshold', () => {
    // 0.8% vs 0.1%: success 99.2% passes the 99% bar, the z-test does not.
    const verdict = run({ canary: track(2000, 16), stable: track(6000, 6) });
    expect(byName(verdict, 'success-rate')?.outcome).toBe('pass');
    expect(byName(verdict, 'error-rate-z-test')?.outcome).toBe('fail');
    expect(verdict.outcome).toBe('fail');
    expect(verdict.fastFail).toBe(false);
  });

  it('checks p99 and the latency ratio when configured', () => {
    const slow = track(1000, 0, [0, 0, 900, 100]); // p99 in (0.25, 0.5]
    const fast = track(3000, 0, [3000]);
    const s = settings({ p99LatencyMs: 300, maxLatencyRatio: 1.5 });
    const verdict = run({ canary: slow, stable: fast }, s);
    expect(byName(verdict, 'p99-latency')).toMatchObject({ outcome: 'fail', threshold: 0.3 });
    expect(byName(verdict, 'p99-latency')?.value).toBeCloseTo(0.475, 6);
    expect(byName(verdict, 'latency-ratio')?.outcome).toBe('fail');
    expect(byName(verdict, 'latency-mann-whitney')?.outcome).toBe('fail');
    const same = run({ canary: track(1000, 0, [1000]), stable: fast }, s);
    expect(same.outcome).toBe('pass');
  });

  it('does not fail latency on a significant but negligible shift (effect size guard)', () => {
    // 52% vs 48% in the faster bucket across 20 000 requests: p is tiny, effect ~0.52.
    const canary = track(20_000, 0, [9_600, 10_400]);
    const stable = track(20_000, 0, [10_400, 9_600]);
    const check = byName(run({ canary, stable }), 'latency-mann-whitney');
    expect(check?.pValue).toBeLessThan(0.01);
    expect(check?.outcome).toBe('pass');
  });

  it('does not fail latency on a sub-millisecond slowdown, however significant (shift guard)', () => {
    // A 1 ms app: the canary's router measures ~0.7 ms more at the median with a large effect size.
    const fine = (requests: number, underOneMs: number): TrackCounts => ({
      requests,
      errors: 0,
      buckets: [
        { le: 0.001, count: underOneMs },
        { le: 0.0025, count: requests },
        { le: 0.005, count: requests },
        { le: INF, count: requests },
      ],
    });
    const check = byName(
      run({ canary: fine(5_000, 1_000), stable: fine(5_000, 3_000) }),
      'latency-mann-whitney',
    );
    expect(check?.pValue).toBeLessThan(1e-6);
    expect(check?.outcome).toBe('pass');
    expect(check?.message).toContain('shift');
    // The same shape 10 ms higher up is a real slowdown and fails.
    const slow = (requests: number, fast: number): TrackCounts => ({
      requests,
      errors: 0,
      buckets: [
        { le: 0.01, count: fast },
        { le: 0.025, count: requests },
        { le: 0.05, count: requests },
        { le: INF, count: requests },
      ],
    });
    expect(
      byName(run({ canary: slow(5_000, 1_000), stable: slow(5_000, 3_000) }), 'latency-mann-whitney')
        ?.outcome,
    ).toBe('fail');
  });

  it('compares latency on the bucket bounds both layouts share when router versions differ', () => {
    // Stable's older routers have every other bound of the canary's: the canary's finer buckets
    // merge exactly into stable's at the shared bounds (0.05, 0.25, 1, +Inf).
    const coarse = (requests: number, cumulative: readonly number[]): TrackCounts => ({
      requests,
      errors: 0,
      buckets: [0.05, 0.25, 1, INF].map((le, i) => ({ le, count: cumulative[i] ?? requests })),
    });
    const slowCanary = track(1000, 0, [0, 0, 900, 100]); // all in (0.1, 0.5]
    const fastStable = coarse(3000, [3000]);
    const slow = byName(run({ canary: slowCanary, stable: fastStable }), 'latency-mann-whitney');
    expect(slow).toMatchObject({ outcome: 'fail' });
    expect(slow?.message).toContain('on the 4 bucket bounds canary and stable share');
    const same = byName(
      run({ canary: track(1000, 0, [500, 300, 200]), stable: coarse(3000, [1500, 3000]) }),
      'latency-mann-whitney',
    );
    expect(same?.outcome).toBe('pass');
    expect(same?.pValue).toBeGreaterThan(0.4);
  });

  it('reads both p99s of the latency ratio on the bounds both layouts share', () => {
    // The same latencies, all in (0.01, 0.025]: read in stable's finer buckets alone its p99 would be
    // 24.9 ms against the canary's 49.5 ms in (0, 0.05], a ratio of 1.99 from the layouts alone.
    const finer: TrackCounts = {
      requests: 3000,
      errors: 0,
      buckets: [0.01, 0.025, ...LES, INF].map((le) => ({ le, count: le < 0.01 ? 0 : 3000 })),
    };
    const ratio = byName(
      run({ canary: track(1000, 0, [1000]), stable: finer }, settings({ maxLatencyRatio: 1.5 })),
      'latency-ratio',
    );
    expect(ratio).toMatchObject({ outcome: 'pass', value: 1 });
    expect(ratio?.message).toContain('on the 6 bucket bounds canary and stable share');
  });

  it('stays inconclusive on latency when the layouts share no bound but +Inf', () => {
    const other: TrackCounts = {
      requests: 3000,
      errors: 0,
      buckets: [
        { le: 0.03, count: 3000 },
        { le: INF, count: 3000 },
      ],
    };
    const verdict = run({ stable: other }, settings({ maxLatencyRatio: 1.5 }));
    for (const name of ['latency-mann-whitney', 'latency-ratio']) {
      expect(byName(verdict, name)).toMatchObject({
        outcome: 'inconclusive',
        value: null,
        message:
          'canary and stable latency histograms share no bucket bound but +Inf (routers of different versions?)',
      });
    }
  });

  it('fast-fails at ≥ 50% errors over ≥ 10 requests, and on overwhelming z-test evidence', () => {
    expect(run({ canary: track(10, 5) })).toMatchObject({ outcome: 'fail', fastFail: true });
    expect(run({ canary: track(9, 9) }).fastFail).toBe(false);
    const overwhelming = run({ canary: track(300, 30), stable: track(6000, 6) });
    expect(overwhelming).toMatchObject({ outcome: 'fail', fastFail: true });
    expect(overwhelming.checks[0]).toMatchObject({ name: 'fast-fail' });
    expect(overwhelming.checks[0]?.pValue).toBeLessThan(1e-6);
    // Three unlucky errors on a 5% canary: the z-test alone would say p < 1e-6, the exact test not.
    expect(run({ canary: track(150, 3), stable: track(2850, 0) }).fastFail).toBe(false);
  });

  it('custom checks: operator applied, NaN or empty is inconclusive, never pass', () => {
    const check = { name: 'queue', query: 'q', operator: '<' as const, threshold: 10 };
    const custom = (values: readonly (number | null)[]): CustomValue[] =>
      values.map((value) => ({ check, value }));
    expect(byName(run({ custom: custom([3]) }), 'check.queue')?.outcome).toBe('pass');
    expect(byName(run({ custom: custom([12]) }), 'check.queue')?.outcome).toBe('fail');
    expect(run({ custom: custom([null]) }).outcome).toBe('inconclusive');
    expect(run({ custom: custom([Number.NaN]) }).outcome).toBe('inconclusive');
    expect(run({ custom: [{ check, value: null, error: 'timeout' }] }).checks.at(-1)?.message).toContain(
      'timeout',
    );
  });

  it('a fail outranks inconclusive, which outranks pass', () => {
    const check = { name: 'x', query: 'q', operator: '>=' as const, threshold: 1 };
    expect(run({ canary: track(1000, 50), custom: [{ check, value: null }] }).outcome).toBe('fail');
  });
});
