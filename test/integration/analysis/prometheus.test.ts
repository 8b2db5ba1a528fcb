import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../../api/annotations.js';
import { histogramQuantile } from '../../../controller/analysis/histogram.js';
import { judge } from '../../../controller/analysis/judge.js';
import { PrometheusProvider } from '../../../controller/analysis/prometheus.js';
import { startPrometheus, type TestPrometheus } from '../../support/prometheus.js';
import { waitFor } from '../../support/wait-for.js';
import { type MetricsEndpoint, metricsEndpoint, otherLayoutEndpoint } from './helpers.js';

// The prometheus provider against a real Prometheus (test/support/prometheus.ts) scraping real HTTP
// endpoints that expose the router's metrics every 1 s.

describe('prometheus provider against a real Prometheus', () => {
  let stable: MetricsEndpoint;
  let canary: MetricsEndpoint;
  /** A stable router of another version: other bucket bounds, one (0.3) this version lacks. */
  let older: Awaited<ReturnType<typeof otherLayoutEndpoint>>;
  let prometheus: TestPrometheus | undefined;
  let url = '';

  beforeAll(async () => {
    [stable, canary, older] = await Promise.all([
      metricsEndpoint('shop', 'stable'),
      metricsEndpoint('shop', 'canary'),
      otherLayoutEndpoint('shop', 'stable', [0.005, 0.01, 0.025, 0.1, 0.25, 0.3]),
    ]);
    const targets = [stable.url, canary.url, older.url].map((u) => JSON.stringify(new URL(u).host));
    prometheus = await startPrometheus(
      `  - job_name: routers\n    static_configs:\n      - targets: [${targets.join(', ')}]\n`,
    );
    url = prometheus.url;
  });

  afterAll(async () => {
    await prometheus?.close();
    await Promise.all([stable?.close(), canary?.close(), older?.close()]);
  });

  async function instant(provider: PrometheusProvider, promql: string): Promise<number[]> {
    const samples = await provider.query(promql, new Date());
    return samples.map((sample) => Number(sample.value[1]));
  }

  /** Waits until Prometheus has scraped every endpoint after `after` (ms). */
  async function scrapedAfter(provider: PrometheusProvider, after: number): Promise<void> {
    await waitFor(
      `a scrape of every target after ${new Date(after).toISOString()}`,
      () => instant(provider, 'timestamp(up{job="routers"})'),
      (stamps) => stamps.length === 3 && stamps.every((stamp) => stamp * 1000 > after),
      { timeoutMs: 15_000, intervalMs: 100 },
    );
  }

  it('measures per-track requests, errors and latency buckets over the window, and custom checks', async () => {
    const provider = new PrometheusProvider({ prometheusUrl: url });
    // Histogram series only exist after a first observation; increase() needs a sample before the
    // window's traffic, as it would have in a running service.
    stable.serve(1, 200, 0.02);
    older.serve(1, 0.02);
    canary.serve(1, 200, 0.2);
    await scrapedAfter(provider, Date.now());
    const since = Date.now();
    await scrapedAfter(provider, since);
    stable.serve(400, 200, 0.02);
    older.serve(400, 0.02);
    canary.serve(50, 200, 0.2);
    canary.serve(50, 503, 0.2);
    const served = Date.now();
    await scrapedAfter(provider, served);
    await scrapedAfter(provider, Date.now());

    const checks = [
      {
        name: 'canary-5xx',
        query: 'sum(increase(switchyard_requests_total{track="canary",code_class="5xx"}[$window]))',
        operator: '>' as const,
        threshold: 10,
      },
      { name: 'empty', query: 'sum(no_such_metric_anywhere)', operator: '<' as const, threshold: 1 },
      { name: 'nan', query: 'vector(0) / vector(0)', operator: '<' as const, threshold: 1 },
      { name: 'broken', query: 'sum(', operator: '<' as const, threshold: 1 },
    ];
    const measurement = await provider.measure({
      namespace: 'default',
      service: 'shop',
      since: new Date(since),
      now: new Date(),
      targets: [],
      checks,
    });
    // increase() extrapolates to the window edges, so counts are approximate; ratios are not.
    expect(measurement.canary.requests).toBeGreaterThanOrEqual(95);
    expect(measurement.canary.requests).toBeLessThan(250);
    expect(measurement.canary.errors / measurement.canary.requests).toBeCloseTo(0.5, 2);
    expect(measurement.stable.requests).toBeGreaterThanOrEqual(760);
    expect(measurement.stable.errors).toBe(0);
    // Both stable routers' latency, added on the bounds both versions have.
    expect(measurement.stable.buckets.map((bucket) => bucket.le)).toEqual([
      0.005,
      0.01,
      0.025,
      0.1,
      0.25,
      Number.POSITIVE_INFINITY,
    ]);
    expect(measurement.stable.buckets.at(-1)?.count).toBeGreaterThanOrEqual(760);
    const canaryP99 = histogramQuantile(0.99, measurement.canary.buckets);
    const stableP99 = histogramQuantile(0.99, measurement.stable.buckets);
    expect(canaryP99).toBeGreaterThan(0.1);
    expect(canaryP99).toBeLessThanOrEqual(0.25);
    expect(stableP99).toBeGreaterThan(0.01);
    expect(stableP99).toBeLessThanOrEqual(0.025);

    const [fivexx, empty, nan, broken] = measurement.custom;
    expect(fivexx?.value).toBeGreaterThanOrEqual(45);
    expect(empty).toMatchObject({ value: null, error: 'query returned 0 series; expected exactly one' });
    expect(nan).toMatchObject({ value: null, error: 'query returned NaN' });
    expect(broken?.value).toBeNull();
    expect(broken?.error).toMatch(/HTTP 400/);

    const verdict = judge(
      measurement,
      { ...DEFAULT_SETTINGS, checks },
      { at: new Date(), step: 0, weight: 5 },
    );
    expect(verdict).toMatchObject({ outcome: 'fail', fastFail: true });
    const outcomes = Object.fromEntries(verdict.checks.map((check) => [check.name, check.outcome]));
    expect(outcomes).toMatchObject({
      'check.canary-5xx': 'pass',
      'check.empty': 'inconclusive',
      'check.nan': 'inconclusive',
      'check.broken': 'inconclusive',
      'latency-mann-whitney': 'fail',
    });
  });

  it('an unreachable Prometheus is an error naming the URL', async () => {
    const provider = new PrometheusProvider({ prometheusUrl: 'http://127.0.0.1:9', queryTimeoutMs: 1000 });
    await expect(
      provider.measure({
        namespace: 'd',
        service: 'shop',
        since: new Date(0),
        now: new Date(),
        targets: [],
        checks: [],
      }),
    ).rejects.toThrow(/prometheus http:\/\/127\.0\.0\.1:9/);
  });
});
