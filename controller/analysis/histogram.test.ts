import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketCounts, histogramQuantile, onSharedBounds, sumHistograms } from './histogram.js';
import type { Bucket } from './window.js';

const INF = Number.POSITIVE_INFINITY;
const buckets = [
  { le: 0.1, count: 50 },
  { le: 0.2, count: 90 },
  { le: 0.4, count: 100 },
  { le: INF, count: 100 },
];

describe('histogramQuantile (PromQL semantics)', () => {
  it.each([
    [0.5, 0.1],
    [0.25, 0.05],
    [0.7, 0.15],
    [0.95, 0.3],
    [0.99, 0.38],
    [1, 0.4],
  ])('q=%f → %f', (q, expected) => {
    expect(histogramQuantile(q, buckets)).toBeCloseTo(expected, 10);
  });

  it('returns the highest finite bound when the rank falls in +Inf', () => {
    expect(
      histogramQuantile(0.99, [
        { le: 0.1, count: 1 },
        { le: INF, count: 10 },
      ]),
    ).toBe(0.1);
  });

  it('has no answer without observations or without a +Inf bucket', () => {
    expect(
      histogramQuantile(0.5, [
        { le: 0.1, count: 0 },
        { le: INF, count: 0 },
      ]),
    ).toBeNull();
    expect(histogramQuantile(0.5, [{ le: 0.1, count: 3 }])).toBeNull();
    expect(histogramQuantile(0.5, [])).toBeNull();
  });

  it('turns cumulative counts into per-bucket counts', () => {
    expect(bucketCounts(buckets)).toEqual([50, 40, 10, 0]);
  });
});

/** The router's bounds (router/metrics.ts DURATION_BUCKETS). */
const ROUTER_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Bounds a router of another version might have: any of these, including some ours lacks. */
const ANY_BOUNDS = [...ROUTER_BOUNDS, 0.0075, 0.3, 2].sort((a, b) => a - b);

/** What a router with bounds `layout` (+Inf added) exports after observing `seconds`. */
function histogramOf(seconds: readonly number[], layout: readonly number[]): Bucket[] {
  return [...layout, INF].map((le) => ({ le, count: seconds.filter((s) => s <= le).length }));
}

describe('onSharedBounds and sumHistograms', () => {
  const observed = [0.0004, 0.003, 0.003, 0.02, 0.07, 0.3, 0.3, 0.9, 4, 30];

  it.each([
    ['identical layouts', [ROUTER_BOUNDS, ROUTER_BOUNDS], ROUTER_BOUNDS],
    [
      'a coarser layout whose bounds the finer one has',
      [ROUTER_BOUNDS, [0.005, 0.05, 0.5, 5]],
      [0.005, 0.05, 0.5, 5],
    ],
    [
      'overlapping layouts',
      [
        [0.01, 0.02, 0.05, 0.1],
        [0.005, 0.01, 0.05, 0.2],
      ],
      [0.01, 0.05],
    ],
    ['three layouts', [ROUTER_BOUNDS, [0.01, 0.1, 1], [0.1, 1, 10]], [0.1, 1]],
    [
      'no shared finite bound',
      [
        [0.01, 0.1],
        [0.02, 0.2],
      ],
      [],
    ],
  ])('%s: each histogram on the shared bounds', (_name, layouts, shared) => {
    expect(onSharedBounds(layouts.map((layout) => histogramOf(observed, layout)))).toEqual(
      layouts.map(() => histogramOf(observed, shared)),
    );
  });

  it('keeps an empty histogram empty and does not let it narrow the others', () => {
    const full = histogramOf(observed, ROUTER_BOUNDS);
    expect(onSharedBounds([[], full])).toEqual([[], full]);
    expect(onSharedBounds([])).toEqual([]);
    expect(sumHistograms([[], full])).toEqual(full);
    expect(sumHistograms([[], []])).toEqual([]);
  });

  it('is exact: merged buckets equal what the routers would count on the shared bounds alone', () => {
    const layout = fc.subarray(ANY_BOUNDS);
    // Whole milliseconds up to 12 s, so observations land on bounds too.
    const router = fc.record({
      layout,
      seconds: fc.array(
        fc.integer({ min: 0, max: 12_000 }).map((ms) => ms / 1000),
        { maxLength: 40 },
      ),
    });
    fc.assert(
      fc.property(fc.array(router, { minLength: 1, maxLength: 4 }), (routers) => {
        const shared = ANY_BOUNDS.filter((le) => routers.every((r) => r.layout.includes(le)));
        const merged = onSharedBounds(routers.map((r) => histogramOf(r.seconds, r.layout)));
        expect(merged).toEqual(routers.map((r) => histogramOf(r.seconds, shared)));
        // Added up, they are the histogram of all the routers' requests on those bounds.
        expect(sumHistograms(routers.map((r) => histogramOf(r.seconds, r.layout)))).toEqual(
          histogramOf(
            routers.flatMap((r) => r.seconds),
            shared,
          ),
        );
      }),
    );
  });
});
