import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../../api/annotations.js';
import { BuiltinProvider } from '../../../controller/analysis/builtin.js';
import { analyse, type WindowQuery } from '../../../controller/analysis/provider.js';
import { histogramQuantile } from '../../../controller/analysis/histogram.js';
import { type MetricsEndpoint, metricsEndpoint, otherLayoutEndpoint } from './helpers.js';

// The builtin provider against real HTTP /metrics endpoints written by the router's own metrics code.
describe('builtin provider', () => {
  let stableA: MetricsEndpoint;
  let stableB: MetricsEndpoint;
  let canary: MetricsEndpoint;

  beforeAll(async () => {
    [stableA, stableB, canary] = await Promise.all([
      metricsEndpoint('shop', 'stable'),
      metricsEndpoint('shop', 'stable'),
      metricsEndpoint('shop', 'canary'),
    ]);
  });
  afterAll(async () => {
    await Promise.all([stableA, stableB, canary].map((endpoint) => endpoint?.close()));
  });

  const query = (since: Date, targets: readonly string[]): WindowQuery => ({
    namespace: 'default',
    service: 'shop',
    since,
    now: new Date(),
    targets,
    checks: [],
  });

  it('sums per track across routers, counting only what happened in the window', async () => {
    // Traffic before the window must not count.
    stableA.serve(1000, 200, 0.01);
    canary.serve(50, 500, 0.01);
    const provider = new BuiltinProvider();
    const targets = [stableA.url, stableB.url, canary.url];
    const since = new Date();
    const first = await provider.measure(query(since, targets));
    expect(first.canary.requests).toBe(0);
    expect(first.stable.requests).toBe(0);

    stableA.serve(300, 200, 0.02);
    stableB.serve(100, 200, 0.02);
    stableB.serve(2, 503, 0.02);
    canary.serve(90, 200, 0.3);
    canary.serve(10, 0, 0.3); // no response at all: code_class "error"
    const window = await provider.measure(query(since, targets));
    expect(window.stable).toMatchObject({ requests: 402, errors: 2 });
    expect(window.canary).toMatchObject({ requests: 100, errors: 10 });
    const p99 = histogramQuantile(0.99, window.canary.buckets);
    expect(p99).toBeGreaterThan(0.25);
    expect(p99).toBeLessThanOrEqual(0.5);

    // A new window starts from zero again.
    const next = await provider.measure(query(new Date(since.getTime() + 1), targets));
    expect(next.canary.requests).toBe(0);
  });

  it('survives a router restart (counter reset) and a router that stops answering', async () => {
    const provider = new BuiltinProvider({ scrapeTimeoutMs: 1000 });
    const since = new Date();
    const targets = [stableA.url, canary.url, 'http://127.0.0.1:9'];
    await provider.measure(query(since, targets));
    canary.serve(40, 200, 0.01);
    canary.restart();
    canary.serve(7, 200, 0.01);
    stableA.serve(20, 200, 0.01);
    const window = await provider.measure(query(since, targets));
    // After the restart only the 7 requests since it are known (as PromQL increase would say).
    expect(window.canary.requests).toBe(7);
    expect(window.stable.requests).toBe(20);
  });

  it('reports metrics unavailable as an inconclusive verdict when no router answers', async () => {
    const provider = new BuiltinProvider({ scrapeTimeoutMs: 500 });
    const verdict = await analyse(provider, query(new Date(), ['http://127.0.0.1:9']), DEFAULT_SETTINGS, {
      at: new Date(),
      step: 0,
      weight: 5,
    });
    expect(verdict.outcome).toBe('inconclusive');
    expect(verdict.checks[0]?.message).toMatch(/builtin metrics unavailable: no router \/metrics answered/);
  });

  it('judges latency when routers of different versions bucket it differently', async () => {
    // A stable router of another version, beside one of this version: fewer buckets, and one
    // bound (0.3) this version does not have.
    const older = await otherLayoutEndpoint('shop', 'stable', [0.005, 0.05, 0.3, 5]);
    try {
      const targets = [stableA.url, older.url, canary.url];
      const latency = async (canarySeconds: number) => {
        const provider = new BuiltinProvider();
        const since = new Date();
        await provider.measure(query(since, targets));
        stableA.serve(300, 200, 0.01);
        older.serve(300, 0.01);
        canary.serve(100, 200, canarySeconds);
        const verdict = await analyse(provider, query(since, targets), DEFAULT_SETTINGS, {
          at: new Date(),
          step: 0,
          weight: 5,
        });
        // Both stable routers' requests, on the bounds both have.
        expect(verdict.stable.requests).toBe(600);
        return verdict.checks.find((check) => check.name === 'latency-mann-whitney');
      };
      const slow = await latency(0.3);
      expect(slow?.outcome).toBe('fail');
      expect(slow?.message).toContain('on the 4 bucket bounds canary and stable share');
      expect((await latency(0.01))?.outcome).toBe('pass');
    } finally {
      await older.close();
    }
  });

  it('a canary answering 5xx is judged a fast fail on the real scrape', async () => {
    const provider = new BuiltinProvider();
    const since = new Date();
    const targets = [stableA.url, canary.url];
    await provider.measure(query(since, targets));
    stableA.serve(500, 200, 0.01);
    canary.serve(30, 500, 0.01);
    const verdict = await analyse(provider, query(since, targets), DEFAULT_SETTINGS, {
      at: new Date(),
      step: 0,
      weight: 5,
    });
    expect(verdict).toMatchObject({ outcome: 'fail', fastFail: true });
    expect(verdict.canary).toMatchObject({ requests: 30, errors: 30, successRate: 0 });
  });
});
