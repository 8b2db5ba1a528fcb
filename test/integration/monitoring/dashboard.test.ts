// The Grafana dashboard (deploy/grafana/switchyard-dashboard.json) against a real Prometheus that
// scrapes, every 1 s, the router's and control's own metric definitions, labelled as the PodMonitors
// in deploy/monitoring/ label them: every panel's query, with a namespace and service chosen as a
// user would, returns series, and each carries the labels its legend names.

import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRouteTable } from '../../../api/routes.js';
import type { RolloutBackend, RolloutSummary } from '../../../controller/api.js';
import { registerControlMetrics } from '../../../controller/control-metrics.js';
import type { RouteStore } from '../../../controller/route-server.js';
import { compileRoutes } from '../../../router/decide.js';
import { startPrometheus, type TestPrometheus } from '../../support/prometheus.js';
import { waitFor } from '../../support/wait-for.js';
import { type MetricsEndpoint, metricsEndpoint, serveMetrics } from '../analysis/helpers.js';

interface Target {
  readonly expr: string;
  readonly legendFormat: string;
}
interface Dashboard {
  readonly panels: readonly { readonly title: string; readonly targets?: readonly Target[] }[];
}

const dashboard = JSON.parse(
  readFileSync(new URL('../../../deploy/grafana/switchyard-dashboard.json', import.meta.url), 'utf8'),
) as Dashboard;

const queries = dashboard.panels.flatMap((panel) =>
  (panel.targets ?? []).map((target) => ({ title: panel.title, ...target })),
);

let prometheus: TestPrometheus | undefined;
let routers: MetricsEndpoint[] = [];
let control: { url: string; close(): Promise<void> } | undefined;
let traffic: NodeJS.Timeout | undefined;

beforeAll(async () => {
  routers = await Promise.all([metricsEndpoint('shop', 'stable'), metricsEndpoint('shop', 'canary')]);
  const routes = compileRoutes(
    parseRouteTable({
      service: 'shop',
      generation: 3,
      tracks: { stable: { upstream: 'http://shop-stable' }, canary: { upstream: 'http://shop-canary' } },
      weights: { stable: 90, canary: 10 },
    }),
  );
  const decisions = routers.map((router) => {
    router.metrics.tableLoaded(3, Date.now());
    router.metrics.controlConnected(true);
    router.metrics.upstreamError('canary', 'connect');
    router.metrics.mirrorDropped('canary', 'body');
    return router.metrics.bindDecisions(routes);
  });
  // Steady traffic on both routers, so every rate() has samples to work on.
  traffic = setInterval(() => {
    for (const router of routers) router.serve(5, 200, 0.02);
    routers[1]?.serve(1, 500, 0.05);
    for (const counters of decisions) for (const counter of counters) counter.inc();
  }, 100);

  const registry = new Registry();
  const rollout = { namespace: 'shop', name: 'shop', phase: 'Progressing', weight: 10, warnings: [] };
  registerControlMetrics(
    registry,
    { list: async () => [rollout as unknown as RolloutSummary] } as unknown as RolloutBackend,
    { waiting: () => 0 } as unknown as RouteStore,
  );
  control = await serveMetrics(() => registry.metrics());

  // As deploy/monitoring/podmonitor.yaml: routers get their pod's namespace and name; control's own
  // namespace/name labels (the rollout's) are kept (honorLabels).
  const host = (url: string) => JSON.stringify(new URL(url).host);
  const routerJobs = routers
    .map(
      (router, index) =>
        `  - job_name: router-${index}\n    static_configs:\n      - targets: [${host(router.url)}]\n        labels: {namespace: shop, pod: shop-${index}}\n`,
    )
    .join('');
  prometheus = await startPrometheus(
    `${routerJobs}  - job_name: control\n    honor_labels: true\n    static_configs:\n      - targets: [${host(control.url)}]\n        labels: {namespace: switchyard-system, pod: control-0}\n`,
  );
});

afterAll(async () => {
  clearInterval(traffic);
  await prometheus?.close();
  await Promise.all([...routers.map((router) => router.close()), control?.close()]);
});

interface Series {
  readonly metric: Readonly<Record<string, string>>;
}

async function instant(promql: string): Promise<readonly Series[]> {
  const res = await request(`${prometheus!.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.body.json()) as { status: string; error?: string; data?: { result: Series[] } };
  if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
  return body.data!.result;
}

describe('the Grafana dashboard', () => {
  it('has queries to check', () => {
    expect(queries.length).toBeGreaterThan(10);
  });

  it.each(queries)('$title: $expr', async ({ expr, legendFormat }) => {
    // The user picks namespace shop and service shop.
    const promql = expr.replaceAll('$namespace', 'shop').replaceAll('$service', 'shop');
    const legendLabels = [...legendFormat.matchAll(/\{\{(\w+)\}\}/g)].map((match) => match[1]!);
    const result = await waitFor(
      `series for ${promql}`,
      () => instant(promql),
      (series) => series.length > 0,
      { timeoutMs: 20_000, intervalMs: 500, seen: () => prometheus?.logs() },
    );
    for (const series of result) {
      for (const label of legendLabels) expect(series.metric, `legend {{${label}}}`).toHaveProperty(label);
    }
  });
});
