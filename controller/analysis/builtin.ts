// Provider `builtin`: scrapes every router's /metrics with undici and sums per track, no
// Prometheus needed. A window is the difference between the first scrape of the window and now.

import { type Dispatcher, request } from 'undici';
import { CANARY_TRACK, STABLE_TRACK } from '../../api/annotations.js';
import { ErrorCode, errorMessage, SwitchyardError } from '../../api/errors.js';
import { parseExposition } from './exposition.js';
import type { Measurement } from './judge.js';
import type { MetricsProvider, WindowQuery } from './provider.js';
import { countsFromSamples, EMPTY_COUNTS, type TrackSnapshot, windowBetween } from './window.js';

export interface BuiltinOptions {
  /** Per-scrape timeout. Default 2 s: analysis runs every few seconds. */
  readonly scrapeTimeoutMs?: number;
  readonly dispatcher?: Dispatcher;
}

/** Per-target snapshots of one service, keyed by admin URL. */
export type Scrape = Map<string, TrackSnapshot>;

export interface ScrapeResult {
  readonly snapshots: Scrape;
  /** Targets that did not answer, with why. */
  readonly failures: ReadonlyMap<string, string>;
}

/** Fetches `<target>/metrics` of every target in parallel; failures are reported, not thrown. */
export async function scrapeTargets(
  targets: readonly string[],
  service: string,
  options: BuiltinOptions = {},
): Promise<ScrapeResult> {
  const timeout = options.scrapeTimeoutMs ?? 2000;
  const snapshots: Scrape = new Map();
  const failures = new Map<string, string>();
  await Promise.all(
    targets.map(async (target) => {
      try {
        const response = await request(new URL('/metrics', target), {
          method: 'GET',
          headersTimeout: timeout,
          bodyTimeout: timeout,
          ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
        });
        const text = await response.body.text();
        if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`);
        snapshots.set(target, countsFromSamples(parseExposition(text), service));
      } catch (error) {
        failures.set(target, errorMessage(error));
      }
    }),
  );
  return { snapshots, failures };
}

interface Baseline {
  readonly since: number;
  readonly perTarget: Scrape;
}

export class BuiltinProvider implements MetricsProvider {
  readonly name = 'builtin' as const;
  readonly #options: BuiltinOptions;
  /** One open window per workload: the first scrape of each router seen in it. */
  readonly #baselines = new Map<string, Baseline>();

  constructor(options: BuiltinOptions = {}) {
    this.#options = options;
  }

  async measure(query: WindowQuery): Promise<Measurement> {
    const key = `${query.namespace}/${query.service}`;
    const { snapshots, failures } = await scrapeTargets(query.targets, query.service, this.#options);
    if (snapshots.size === 0 && query.targets.length > 0) {
      const why = [...failures].map(([target, reason]) => `${target}: ${reason}`).join('; ');
      throw new SwitchyardError(ErrorCode.Unavailable, `no router /metrics answered (${why})`);
    }
    let baseline = this.#baselines.get(key);
    if (baseline === undefined || baseline.since !== query.since.getTime()) {
      baseline = { since: query.since.getTime(), perTarget: new Map() };
      this.#baselines.set(key, baseline);
    }
    // A router first seen in this window (or the first scrape of it) is its own baseline: old
    // traffic from before the window must never count.
    for (const [target, snapshot] of snapshots) {
      if (!baseline.perTarget.has(target)) baseline.perTarget.set(target, snapshot);
    }
    const window = windowBetween(baseline.perTarget, snapshots);
    const custom = query.checks.map((check) => ({
      check,
      value: null,
      error: 'custom checks need the prometheus provider',
    }));
    return {
      canary: window[CANARY_TRACK] ?? EMPTY_COUNTS,
      stable: window[STABLE_TRACK] ?? EMPTY_COUNTS,
      custom,
    };
  }

  forget(namespace: string, service: string): void {
    this.#baselines.delete(`${namespace}/${service}`);
  }
}
