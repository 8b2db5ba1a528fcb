// Provider `prometheus` (`--prometheus-url`): the same per-track counts as builtin, as PromQL over
// the pinned metric names for the window, plus `switchyard.io/check.<name>` custom queries.

import { type Dispatcher, request } from 'undici';
import { CANARY_TRACK, type CustomCheck, STABLE_TRACK } from '../../api/annotations.js';
import { ErrorCode, errorMessage, SwitchyardError } from '../../api/errors.js';
import { sumHistograms } from './histogram.js';
import type { CustomValue, Measurement } from './judge.js';
import type { MetricsProvider, WindowQuery } from './provider.js';
import {
  type Bucket,
  DURATION_METRIC,
  ERROR_CODE_CLASSES,
  REQUESTS_METRIC,
  type TrackCounts,
} from './window.js';

export interface PrometheusOptions {
  readonly prometheusUrl: string;
  readonly queryTimeoutMs?: number;
  readonly dispatcher?: Dispatcher;
  /** Also match `namespace="<ns>"` (series scraped by a PodMonitor carry it; file mode's do not). */
  readonly matchNamespace?: boolean;
}

export interface VectorSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: readonly [number, string];
}

/** `"a\"b"` — a PromQL string literal. */
function literal(value: string): string {
  return JSON.stringify(value);
}

/** The window as a PromQL range, whole seconds, at least 1 s. */
export function rangeOf(since: Date, now: Date): string {
  return `${Math.max(1, Math.ceil((now.getTime() - since.getTime()) / 1000))}s`;
}

export function requestsQuery(selector: string, range: string): string {
  return `sum by (track, code_class) (increase(${REQUESTS_METRIC}{${selector}}[${range}]))`;
}

/**
 * Per router, not `sum by (track, le)`: routers of different versions may bucket differently, and
 * such a sum would hold only some routers' requests at a bound the others lack.
 */
export function bucketsQuery(selector: string, range: string): string {
  return `increase(${DURATION_METRIC}_bucket{${selector}}[${range}])`;
}

/** Custom check queries may say `$window` for the analysis window, e.g. `rate(x[$window])`. */
export function customQuery(check: CustomCheck, range: string): string {
  return check.query.replaceAll('$window', range);
}

function numberOf(text: string): number {
  return text === '+Inf'
    ? Number.POSITIVE_INFINITY
    : text === '-Inf'
      ? Number.NEGATIVE_INFINITY
      : Number(text);
}

/**
 * One track's counts from the answers to requestsQuery and bucketsQuery: each router's buckets
 * (its series differ from each other only in `le`) made monotonic, then added on shared bounds.
 */
export function trackCounts(
  track: string,
  requests: readonly VectorSample[],
  buckets: readonly VectorSample[],
): TrackCounts {
  let total = 0;
  let errors = 0;
  for (const sample of requests) {
    if (sample.metric.track !== track) continue;
    const value = numberOf(sample.value[1]);
    if (!Number.isFinite(value)) continue;
    total += value;
    if (ERROR_CODE_CLASSES.includes(sample.metric.code_class ?? '')) errors += value;
  }
  const perRouter = new Map<string, Bucket[]>();
  for (const sample of buckets) {
    const { le, ...series } = sample.metric;
    if (series.track !== track || le === undefined) continue;
    const count = numberOf(sample.value[1]);
    if (!Number.isFinite(count)) continue;
    const key = JSON.stringify(Object.entries(series).sort(([a], [b]) => (a < b ? -1 : 1)));
    const histogram = perRouter.get(key) ?? [];
    histogram.push({ le: numberOf(le), count });
    perRouter.set(key, histogram);
  }
  const histograms = [...perRouter.values()].map((histogram) => {
    histogram.sort((a, b) => a.le - b.le);
    // increase() extrapolates each bucket on its own; keep the cumulative counts monotonic.
    let running = 0;
    return histogram.map((bucket) => {
      running = Math.max(running, bucket.count);
      return { le: bucket.le, count: running };
    });
  });
  return { requests: total, errors, buckets: sumHistograms(histograms) };
}

export class PrometheusProvider implements MetricsProvider {
  readonly name = 'prometheus' as const;
  readonly #options: PrometheusOptions;

  constructor(options: PrometheusOptions) {
    this.#options = options;
  }

  /** Runs an instant query at `time`; resolves to the samples of a vector or scalar result. */
  async query(promql: string, time: Date): Promise<VectorSample[]> {
    const url = new URL('/api/v1/query', this.#options.prometheusUrl);
    url.searchParams.set('query', promql);
    url.searchParams.set('time', String(time.getTime() / 1000));
    const timeout = this.#options.queryTimeoutMs ?? 5000;
    let status: number;
    let body: unknown;
    try {
      const response = await request(url, {
        method: 'GET',
        headersTimeout: timeout,
        bodyTimeout: timeout,
        ...(this.#options.dispatcher ? { dispatcher: this.#options.dispatcher } : {}),
      });
      status = response.statusCode;
      body = await response.body.json();
    } catch (error) {
      throw new SwitchyardError(
        ErrorCode.Unavailable,
        `prometheus ${this.#options.prometheusUrl}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
    const answer = body as {
      status?: string;
      error?: string;
      data?: { resultType?: string; result?: unknown };
    };
    if (status !== 200 || answer.status !== 'success' || answer.data === undefined) {
      throw new SwitchyardError(
        ErrorCode.MetricsInvalid,
        `prometheus query ${promql}: HTTP ${status}${answer.error ? ` (${answer.error})` : ''}`,
      );
    }
    const { resultType, result } = answer.data;
    if (resultType === 'scalar') return [{ metric: {}, value: result as [number, string] }];
    if (resultType === 'vector' && Array.isArray(result)) return result as VectorSample[];
    throw new SwitchyardError(
      ErrorCode.MetricsInvalid,
      `prometheus query ${promql}: result type ${String(resultType)}; expected a vector or scalar`,
    );
  }

  async measure(query: WindowQuery): Promise<Measurement> {
    const range = rangeOf(query.since, query.now);
    const matchers = [`service=${literal(query.service)}`];
    if (this.#options.matchNamespace) matchers.push(`namespace=${literal(query.namespace)}`);
    const selector = matchers.join(',');
    const [requests, buckets, custom] = await Promise.all([
      this.query(requestsQuery(selector, range), query.now),
      this.query(bucketsQuery(selector, range), query.now),
      Promise.all(query.checks.map((check) => this.#custom(check, range, query.now))),
    ]);
    return {
      canary: trackCounts(CANARY_TRACK, requests, buckets),
      stable: trackCounts(STABLE_TRACK, requests, buckets),
      custom,
    };
  }

  forget(): void {}

  async #custom(check: CustomCheck, range: string, now: Date): Promise<CustomValue> {
    try {
      const samples = await this.query(customQuery(check, range), now);
      if (samples.length !== 1) {
        return { check, value: null, error: `query returned ${samples.length} series; expected exactly one` };
      }
      const value = numberOf((samples[0] as VectorSample).value[1]);
      return Number.isNaN(value) ? { check, value: null, error: 'query returned NaN' } : { check, value };
    } catch (error) {
      return { check, value: null, error: errorMessage(error) };
    }
  }
}
