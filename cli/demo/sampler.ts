// What the demo shows and charts, sampled about once a second: per-version request rate, success
// rate and p99 from the track routers' own /metrics (the numbers analysis sees), plus the rollout.

import type { Phase } from '../../api/canary.js';
import { scrapeTargets } from '../../controller/analysis/builtin.js';
import { histogramQuantile } from '../../controller/analysis/histogram.js';
import { deltaCounts, EMPTY_COUNTS, sumCounts, type TrackCounts } from '../../controller/analysis/window.js';
import type { RolloutSummary } from '../../controller/api.js';
import type { ClientCounts } from './load.js';

export interface VersionRate {
  readonly rps: number;
  /** 0-1, null without requests in the interval. */
  readonly successRate: number | null;
  readonly p99Ms: number | null;
}

/** One point of the timeline (also one row of the HTML charts). */
export interface Point {
  /** Seconds since v2 was announced. */
  readonly t: number;
  readonly phase: Phase;
  readonly weight: number;
  /** v2's share of live traffic: the canary weight, 100 once promoted (v2 is then the stable). */
  readonly v2Percent: number;
  readonly step: number;
  readonly v1: VersionRate;
  readonly v2: VersionRate;
  readonly clientsSent: number;
  readonly clientsFailed: number;
}

export interface VersionTotals {
  readonly requests: number;
  readonly errors: number;
}

/** Turns two cumulative readings of one version into a rate over the interval between them. */
export function rateBetween(before: TrackCounts, after: TrackCounts, seconds: number): VersionRate {
  const delta = deltaCounts(before, after);
  const p99 = histogramQuantile(0.99, delta.buckets);
  return {
    rps: seconds > 0 ? delta.requests / seconds : 0,
    successRate: delta.requests > 0 ? 1 - delta.errors / delta.requests : null,
    p99Ms: p99 === null ? null : p99 * 1000,
  };
}

/** Reads each version's router: everything the v1 router served is v1, the v2 router's is v2. */
export class VersionMetrics {
  readonly #targets: { readonly v1: string; readonly v2: string };
  readonly #service: string;
  #last: { at: number; v1: TrackCounts; v2: TrackCounts } | null = null;
  #first: { v1: TrackCounts; v2: TrackCounts } | null = null;

  constructor(service: string, targets: { v1: string; v2: string }) {
    this.#service = service;
    this.#targets = targets;
  }

  async #read(): Promise<{ v1: TrackCounts; v2: TrackCounts }> {
    const { snapshots } = await scrapeTargets([this.#targets.v1, this.#targets.v2], this.#service, {
      scrapeTimeoutMs: 1000,
    });
    const of = (target: string): TrackCounts => {
      const snapshot = snapshots.get(target);
      return snapshot ? sumCounts(Object.values(snapshot)) : EMPTY_COUNTS;
    };
    return { v1: of(this.#targets.v1), v2: of(this.#targets.v2) };
  }

  /** Rates since the previous call (zero rates on the first). */
  async sample(now: number): Promise<{ v1: VersionRate; v2: VersionRate }> {
    const current = await this.#read();
    const last = this.#last ?? { at: now, ...current };
    this.#first ??= current;
    this.#last = { at: now, ...current };
    const seconds = (now - last.at) / 1000;
    return { v1: rateBetween(last.v1, current.v1, seconds), v2: rateBetween(last.v2, current.v2, seconds) };
  }

  /** Requests and errors each version's router served since the first sample. */
  totals(): { v1: VersionTotals; v2: VersionTotals } {
    const first = this.#first ?? { v1: EMPTY_COUNTS, v2: EMPTY_COUNTS };
    const last = this.#last ?? { v1: EMPTY_COUNTS, v2: EMPTY_COUNTS };
    const of = (a: TrackCounts, b: TrackCounts): VersionTotals => {
      const delta = deltaCounts(a, b);
      return { requests: delta.requests, errors: delta.errors };
    };
    return { v1: of(first.v1, last.v1), v2: of(first.v2, last.v2) };
  }
}

export function point(
  t: number,
  rollout: RolloutSummary,
  rates: { v1: VersionRate; v2: VersionRate },
  clients: ClientCounts,
): Point {
  return {
    t: Math.round(t * 10) / 10,
    phase: rollout.phase,
    weight: rollout.weight,
    v2Percent: rollout.phase === 'Promoting' || rollout.phase === 'Succeeded' ? 100 : rollout.weight,
    step: rollout.step,
    v1: rates.v1,
    v2: rates.v2,
    clientsSent: clients.sent,
    clientsFailed: clients.failed,
  };
}
