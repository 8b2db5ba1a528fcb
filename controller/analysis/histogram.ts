// Quantiles from cumulative histogram buckets, computed the way PromQL `histogram_quantile` does,
// and histograms of different bucket layouts brought onto the bounds they share.

import type { Bucket } from './window.js';

/**
 * The q-quantile (0 ≤ q ≤ 1) in seconds, or null without observations. A rank in the +Inf bucket
 * returns the highest finite bound (PromQL does the same: the histogram cannot say more).
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  const last = buckets[buckets.length - 1];
  if (last === undefined || last.le !== Number.POSITIVE_INFINITY || buckets.length < 2) return null;
  const total = last.count;
  if (!(total > 0)) return null;
  const rank = q * total;
  let previousLe = 0;
  let previousCount = 0;
  for (let i = 0; i < buckets.length; i++) {
    const bucket = buckets[i] as Bucket;
    if (bucket.count >= rank && bucket.count > previousCount) {
      if (bucket.le === Number.POSITIVE_INFINITY) return buckets[buckets.length - 2]?.le ?? null;
      // The first bucket starts at 0 (latencies are never negative), as in PromQL.
      const start = i === 0 && bucket.le <= 0 ? bucket.le : previousLe;
      return start + (bucket.le - start) * ((rank - previousCount) / (bucket.count - previousCount));
    }
    previousLe = bucket.le;
    previousCount = bucket.count;
  }
  return buckets[buckets.length - 2]?.le ?? null;
}

/** Per-bucket (non-cumulative) counts, aligned with `buckets`. */
export function bucketCounts(buckets: readonly Bucket[]): number[] {
  let previous = 0;
  return buckets.map((bucket) => {
    const count = Math.max(0, bucket.count - previous);
    previous = Math.max(previous, bucket.count);
    return count;
  });
}

/**
 * Each histogram cut down to the bounds all of them have, so that histograms from routers with
 * different bucket layouts (versions mixed during an upgrade) can be added and compared. Exact,
 * not an estimate: a cumulative count at a shared bound is the same however finely the buckets
 * below it were split. Empty histograms (no requests yet) stay empty and narrow nothing.
 */
export function onSharedBounds(histograms: readonly (readonly Bucket[])[]): Bucket[][] {
  const layouts = histograms
    .filter((histogram) => histogram.length > 0)
    .map((histogram) => new Set(histogram.map((bucket) => bucket.le)));
  const shared = new Set([...(layouts[0] ?? [])].filter((le) => layouts.every((bounds) => bounds.has(le))));
  return histograms.map((histogram) => histogram.filter((bucket) => shared.has(bucket.le)));
}

/** Adds the histograms of one track's routers on the bounds all of them have (ascending `le` each). */
export function sumHistograms(histograms: readonly (readonly Bucket[])[]): Bucket[] {
  const [first = [], ...rest] = onSharedBounds(histograms).filter((histogram) => histogram.length > 0);
  return first.map((bucket, i) => ({
    le: bucket.le,
    count: rest.reduce((sum, histogram) => sum + (histogram[i]?.count ?? 0), bucket.count),
  }));
}
