// Per-track request counters and latency histograms: read from router samples, differenced between
// two scrapes (counter resets handled), summed across routers. The shape every judge works on.

import type { Sample } from './exposition.js';
import { sumHistograms } from './histogram.js';

export const REQUESTS_METRIC = 'switchyard_requests_total';
export const DURATION_METRIC = 'switchyard_request_duration_seconds';
/** Code classes that count against the success rate: server errors and no response at all. */
export const ERROR_CODE_CLASSES: readonly string[] = ['5xx', 'error'];

/** A cumulative histogram bucket: requests that took at most `le` seconds. */
export interface Bucket {
  readonly le: number;
  readonly count: number;
}

/** Counts of one track over a window (or since process start, in a raw scrape). */
export interface TrackCounts {
  readonly requests: number;
  readonly errors: number;
  /** Cumulative, ascending `le`, the last one +Inf (empty when the track had no histogram). */
  readonly buckets: readonly Bucket[];
}

/** Tracks by name, e.g. `{ stable, canary }`. */
export type TrackSnapshot = Readonly<Record<string, TrackCounts>>;

export const EMPTY_COUNTS: TrackCounts = Object.freeze({
  requests: 0,
  errors: 0,
  buckets: Object.freeze([]),
});

/** Folds one router's samples of `service` into per-track counts. */
export function countsFromSamples(samples: readonly Sample[], service: string): TrackSnapshot {
  const requests = new Map<string, { requests: number; errors: number }>();
  const buckets = new Map<string, Map<number, number>>();
  for (const sample of samples) {
    const { labels } = sample;
    if (labels.service !== service || labels.track === undefined) continue;
    if (sample.name === REQUESTS_METRIC) {
      const entry = requests.get(labels.track) ?? { requests: 0, errors: 0 };
      entry.requests += sample.value;
      if (ERROR_CODE_CLASSES.includes(labels.code_class ?? '')) entry.errors += sample.value;
      requests.set(labels.track, entry);
    } else if (sample.name === `${DURATION_METRIC}_bucket` && labels.le !== undefined) {
      const le = labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le);
      const byLe = buckets.get(labels.track) ?? new Map<number, number>();
      byLe.set(le, (byLe.get(le) ?? 0) + sample.value);
      buckets.set(labels.track, byLe);
    }
  }
  const snapshot: Record<string, TrackCounts> = {};
  for (const track of new Set([...requests.keys(), ...buckets.keys()])) {
    const counts = requests.get(track) ?? { requests: 0, errors: 0 };
    snapshot[track] = { ...counts, buckets: sortBuckets(buckets.get(track)) };
  }
  return snapshot;
}

function sortBuckets(byLe: Map<number, number> | undefined): Bucket[] {
  if (byLe === undefined) return [];
  return [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
}

/**
 * `after - before` for one router. A counter that went down means the router restarted: its value
 * since the restart is all we know, so `after` itself is the delta (as PromQL `increase` does).
 */
export function deltaCounts(before: TrackCounts | undefined, after: TrackCounts): TrackCounts {
  if (before === undefined) return after;
  const reset =
    after.requests < before.requests ||
    after.errors < before.errors ||
    after.buckets.some(
      (bucket) => bucket.count < (before.buckets.find((b) => b.le === bucket.le)?.count ?? 0),
    );
  if (reset) return after;
  return {
    requests: after.requests - before.requests,
    errors: after.errors - before.errors,
    buckets: after.buckets.map((bucket) => ({
      le: bucket.le,
      count: bucket.count - (before.buckets.find((b) => b.le === bucket.le)?.count ?? 0),
    })),
  };
}

/**
 * Sums counts of the same track from several routers; buckets on the bounds every router has (a
 * bound only some routers have would hold only their requests).
 */
export function sumCounts(all: readonly TrackCounts[]): TrackCounts {
  let requests = 0;
  let errors = 0;
  for (const counts of all) {
    requests += counts.requests;
    errors += counts.errors;
  }
  return { requests, errors, buckets: sumHistograms(all.map((counts) => counts.buckets)) };
}

/** Per-router snapshots keyed by scrape target → one window per track. */
export function windowBetween(
  before: ReadonlyMap<string, TrackSnapshot>,
  after: ReadonlyMap<string, TrackSnapshot>,
): TrackSnapshot {
  const perTrack = new Map<string, TrackCounts[]>();
  for (const [target, snapshot] of after) {
    for (const [track, counts] of Object.entries(snapshot)) {
      const list = perTrack.get(track) ?? [];
      list.push(deltaCounts(before.get(target)?.[track], counts));
      perTrack.set(track, list);
    }
  }
  const window: Record<string, TrackCounts> = {};
  for (const [track, list] of perTrack) window[track] = sumCounts(list);
  return window;
}
