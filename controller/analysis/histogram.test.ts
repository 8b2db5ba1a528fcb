import { describe, expect, it } from 'vitest';
import { bucketCounts, histogramQuantile } from './histogram.js';

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
