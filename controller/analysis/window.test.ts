import { describe, expect, it } from 'vitest';
import { deltaCounts, sumCounts, type TrackCounts, type TrackSnapshot, windowBetween } from './window.js';

const INF = Number.POSITIVE_INFINITY;
const counts = (requests: number, errors: number, fast: number): TrackCounts => ({
  requests,
  errors,
  buckets: [
    { le: 0.1, count: fast },
    { le: INF, count: requests },
  ],
});

describe('window deltas', () => {
  it('subtracts the earlier scrape', () => {
    expect(deltaCounts(counts(100, 5, 80), counts(150, 6, 120))).toEqual(counts(50, 1, 40));
  });

  it('treats a counter that went down as a restart: the new value is the delta', () => {
    expect(deltaCounts(counts(100, 5, 80), counts(30, 1, 20))).toEqual(counts(30, 1, 20));
    // Only one bucket going down is a reset too.
    expect(deltaCounts(counts(100, 5, 80), counts(120, 5, 10))).toEqual(counts(120, 5, 10));
  });

  it('sums routers per track after differencing each router on its own', () => {
    const before = new Map<string, TrackSnapshot>([
      ['http://a', { stable: counts(1000, 10, 900), canary: counts(10, 0, 10) }],
      ['http://b', { stable: counts(500, 0, 400) }],
    ]);
    const after = new Map<string, TrackSnapshot>([
      ['http://a', { stable: counts(1100, 11, 990), canary: counts(20, 1, 19) }],
      // b restarted: its 40 requests since the restart count in full.
      ['http://b', { stable: counts(40, 2, 30) }],
    ]);
    expect(windowBetween(before, after)).toEqual({ stable: counts(140, 3, 120), canary: counts(10, 1, 9) });
  });

  it('sums buckets by bound', () => {
    expect(sumCounts([counts(1, 0, 1), counts(2, 1, 0)])).toEqual(counts(3, 1, 1));
  });

  it('sums routers with different bucket layouts on the bounds all of them have', () => {
    // Router a buckets at 0.1 and 0.2, router b (another version) at 0.1 and 0.15: only 0.1 and
    // +Inf hold every request; 0.15 or 0.2 alone would count one router's requests only.
    const a: TrackCounts = {
      requests: 20,
      errors: 1,
      buckets: [
        { le: 0.1, count: 10 },
        { le: 0.2, count: 15 },
        { le: INF, count: 20 },
      ],
    };
    const b: TrackCounts = {
      requests: 10,
      errors: 0,
      buckets: [
        { le: 0.1, count: 5 },
        { le: 0.15, count: 8 },
        { le: INF, count: 10 },
      ],
    };
    expect(sumCounts([a, b])).toEqual(counts(30, 1, 15));
    // A router without a histogram yet (no requests) does not narrow the others.
    expect(sumCounts([a, { requests: 0, errors: 0, buckets: [] }])).toEqual(a);
  });
});
