// The router's Prometheus metrics (names fixed by DESIGN.md) on an explicit Registry. Hot-path
// series are bound once — per process for the local track, per route table for decisions — so a
// request only increments.

import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import { VERSION } from '../api/version.js';
import { type CompiledRoutes, REASONS } from './decide.js';

// Metric classes loaded by path: the package root also loads default metrics, the push gateway and
// cluster aggregation (~10 MB RSS in every pod). Same module instances as the root's exports.
const require = createRequire(import.meta.url);
const Counter: typeof PromClient.Counter = require('prom-client/lib/counter.js');
const Gauge: typeof PromClient.Gauge = require('prom-client/lib/gauge.js');
const Histogram: typeof PromClient.Histogram = require('prom-client/lib/histogram.js');
/** prom-client's Registry class, loaded the same way (for the CLI's per-process registry). */
export const Registry: typeof PromClient.Registry = require('prom-client/lib/registry.js');
export type Registry = PromClient.Registry;

export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const CODE_CLASSES = ['error', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset';

interface Inc {
  inc(): void;
}
interface Observe {
  observe(value: number): void;
}

/**
 * A hot-path counter: a request adds 1 to a plain number; the prom-client counter takes the delta
 * when scraped. prom-client's bound `inc()` re-validates and re-hashes its labels on every call.
 */
class Tally implements Inc {
  n = 0;
  constructor(readonly labels: Record<string, string>) {}
  inc(): void {
    this.n++;
  }
}

/** Moves what the tallies counted into the counter; prom-client calls it before every read. */
function flush(counter: PromClient.Counter<string>, tallies: readonly Tally[]): void {
  for (const tally of tallies) {
    if (tally.n > 0) {
      counter.inc(tally.labels, tally.n);
      tally.n = 0;
    }
  }
}

/** prom-client's per-series histogram state (one entry of `Histogram.hashMap`). */
interface HistogramEntry {
  labels: Record<string, string>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * A hot-path histogram series: a request adds to plain per-bucket numbers; the prom-client histogram
 * takes them when scraped. prom-client's `observe()` validates and hashes the labels and allocates
 * on every call.
 */
class HistogramTally implements Observe {
  readonly #bounds: readonly number[];
  /** Per bucket (not cumulative); the last slot counts values above the highest bound. */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(
    readonly labels: Record<string, string>,
    bounds: readonly number[],
  ) {
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  /** Adds what was observed since the last flush to the histogram's series for these labels. */
  flush(histogram: PromClient.Histogram<string>): void {
    if (this.#count === 0) return;
    const state = histogram as unknown as { hashMap: Record<string, HistogramEntry> };
    const matches = (entry: HistogramEntry): boolean =>
      Object.keys(this.labels).every((name) => entry.labels[name] === this.labels[name]);
    let entry = Object.values(state.hashMap).find(matches);
    if (entry === undefined) {
      histogram.zero(this.labels);
      entry = Object.values(state.hashMap).find(matches)!;
    }
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) entry.bucketValues[bounds[i]!]! += this.#counts[i]!;
    entry.sum += this.#sum;
    entry.count += this.#count;
    this.#counts.fill(0);
    this.#sum = 0;
    this.#count = 0;
  }
}

/**
 * The status a request counts with when its client leaves before any answer, as nginx logs it: a 4xx
 * (not an error, the app did nothing wrong that we know of), timed to the moment the client gave
 * up, so a canary slow enough to make clients leave shows in its latency.
 */
export const CLIENT_CLOSED_REQUEST = 499;

/** The index of a status in `LocalSeries.requests`: its hundreds digit, 0 (`error`) for no answer. */
export function codeClassOf(status: number): number {
  return status >= 100 && status < 600 ? (status / 100) | 0 : 0;
}

/** Series for requests this router hands to its own app: indexed by `codeClassOf(status)`. */
export interface LocalSeries {
  readonly requests: readonly Inc[];
  readonly mirrored: readonly Inc[];
  readonly duration: Observe;
}

export interface RouterMetrics {
  readonly local: LocalSeries;
  /** Decision counters for a compiled table, indexed like `routes.decision(...).slot`. */
  bindDecisions(routes: CompiledRoutes): readonly Inc[];
  upstreamError(track: string, kind: UpstreamErrorKind): void;
  mirrorDropped(track: string, why: 'body' | 'no_hop_token' | 'error'): void;
  tableLoaded(generation: number, loadedAtMs: number): void;
  controlConnected(connected: boolean): void;
}

export function createRouterMetrics(
  registry: Registry,
  service: string,
  track: string,
  nowMs: () => number,
): RouterMetrics {
  const registers = [registry];
  const requestTallies = CODE_CLASSES.map(
    (codeClass) => new Tally({ service, track, code_class: codeClass }),
  );
  const mirroredTallies = CODE_CLASSES.map(
    (codeClass) => new Tally({ service, track, code_class: codeClass }),
  );
  const decisionTallies: Tally[] = [];
  const requests = new Counter({
    name: 'switchyard_requests_total',
    help: 'Requests handed to the app by the router in front of it, by response status class',
    labelNames: ['service', 'track', 'code_class'],
    registers,
    collect() {
      flush(this, requestTallies);
    },
  });
  new Counter({
    name: 'switchyard_mirrored_requests_total',
    help: 'Mirrored copies served by the app (also included in switchyard_requests_total)',
    labelNames: ['service', 'track', 'code_class'],
    registers,
    collect() {
      flush(this, mirroredTallies);
    },
  });
  const durationTally = new HistogramTally({ service, track }, DURATION_BUCKETS);
  new Histogram({
    name: 'switchyard_request_duration_seconds',
    help: 'Time from request received to response finished, for requests handed to the app',
    labelNames: ['service', 'track'],
    buckets: DURATION_BUCKETS,
    registers,
    collect() {
      durationTally.flush(this);
    },
  });
  new Counter({
    name: 'switchyard_routing_decisions_total',
    help: 'Routing decisions by chosen track and reason',
    labelNames: ['service', 'track', 'reason'],
    registers,
    collect() {
      flush(this, decisionTallies);
    },
  });
  const errors = new Counter({
    name: 'switchyard_upstream_errors_total',
    help: 'Upstream failures (no response) by track and kind',
    labelNames: ['service', 'track', 'kind'],
    registers,
  });
  const mirrorDropped = new Counter({
    name: 'switchyard_mirror_dropped_total',
    help: 'Requests chosen for mirroring but not copied (body over the mirror budget, no hop token, upload or copy failed)',
    labelNames: ['service', 'track', 'reason'],
    registers,
  });
  const generation = new Gauge({
    name: 'switchyard_route_generation',
    help: 'Generation of the active route table (-1 before the first table)',
    registers,
  });
  let loadedAt: number | null = null;
  new Gauge({
    name: 'switchyard_route_age_seconds',
    help: 'Seconds since the active route table was loaded',
    registers,
    collect() {
      if (loadedAt !== null) this.set((nowMs() - loadedAt) / 1000);
    },
  });
  const connected = new Gauge({
    name: 'switchyard_control_connected',
    help: '1 while the long-poll to control succeeds, 0 otherwise',
    registers,
  });
  const buildInfo = new Gauge({
    name: 'switchyard_build_info',
    help: 'Always 1; the version label says which build runs',
    labelNames: ['version'],
    registers,
  });
  buildInfo.labels(VERSION).set(1);
  generation.set(-1);

  // Start the DESIGN.md classes at 0 so rates exist before the first error; 1xx stays lazy.
  for (const tally of requestTallies) if (tally.labels.code_class !== '1xx') requests.inc(tally.labels, 0);
  const local: LocalSeries = {
    requests: requestTallies,
    mirrored: mirroredTallies,
    duration: durationTally,
  };
  const boundDecisions = new Map<string, Tally>();

  return {
    local,
    bindDecisions(routes) {
      const bound: Inc[] = [];
      for (const reason of REASONS) {
        for (const name of routes.tracks) {
          const key = `${name}\u0000${reason}`;
          let series = boundDecisions.get(key);
          if (series === undefined) {
            series = new Tally({ service, track: name, reason });
            boundDecisions.set(key, series);
            decisionTallies.push(series);
          }
          bound.push(series);
        }
      }
      return bound;
    },
    upstreamError(name, kind) {
      errors.labels(service, name, kind).inc();
    },
    mirrorDropped(name, why) {
      mirrorDropped.labels(service, name, why).inc();
    },
    tableLoaded(value, loadedAtMs) {
      generation.set(value);
      loadedAt = loadedAtMs;
    },
    controlConnected(value) {
      connected.set(value ? 1 : 0);
    },
  };
}
