// The admin port as Prometheus, kubelet and control see it: metric names/labels/buckets from
// DESIGN.md, /healthz, /readyz (table loaded and local app answering), /routes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { equalTo, waitFor } from '../../support/wait-for.js';
import { type App, deadUrl, startApp, startTestRouter, type TestRouter } from './helpers.js';

let app: App;
let router: TestRouter;
const table = {
  tracks: { stable: 'http://127.0.0.1:1', canary: 'http://127.0.0.1:2' },
  weights: { stable: 100, canary: 0 },
};

beforeAll(async () => {
  app = await startApp('stable', (req, res) => {
    if (req.url === '/boom') {
      res.writeHead(503).end('down');
      return true;
    }
    return false;
  });
  router = await startTestRouter({ local: app.url, random: () => 0.5, table });
});
afterAll(async () => {
  await router.close();
  await app.close();
});

describe('admin port', () => {
  it('/metrics exposes the DESIGN.md metrics with bounded labels and 1 ms–10 s buckets', async () => {
    for (let i = 0; i < 3; i++) await (await fetch(`${router.url}/ok`)).arrayBuffer();
    await (await fetch(`${router.url}/boom`)).arrayBuffer();
    const res = await fetch(`${router.admin}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('switchyard_requests_total{service="shop",track="stable",code_class="2xx"} 3');
    expect(text).toContain('switchyard_requests_total{service="shop",track="stable",code_class="5xx"} 1');
    expect(text).toContain('switchyard_request_duration_seconds_count{service="shop",track="stable"} 4');
    expect(text).toContain(
      'switchyard_request_duration_seconds_bucket{le="0.001",service="shop",track="stable"}',
    );
    expect(text).toContain(
      'switchyard_request_duration_seconds_bucket{le="10",service="shop",track="stable"}',
    );
    expect(text).toContain(
      'switchyard_routing_decisions_total{service="shop",track="stable",reason="weight"} 4',
    );
    expect(text).toMatch(/^switchyard_route_generation 1$/m);
    expect(text).toMatch(/^switchyard_route_age_seconds \d/m);
    expect(text).toMatch(/^switchyard_control_connected 0$/m);
    expect(text).toMatch(/^switchyard_build_info\{version="\d+\.\d+\.\d+"\} 1$/m);
    expect(text).toContain('# TYPE switchyard_upstream_errors_total counter');
  });

  it('/healthz, /routes and /readyz answer', async () => {
    expect((await fetch(`${router.admin}/healthz`)).status).toBe(200);
    const routes = (await (await fetch(`${router.admin}/routes`)).json()) as Record<string, unknown>;
    expect(routes).toMatchObject({ service: 'shop', generation: 1, weights: { stable: 100, canary: 0 } });
    expect(await (await fetch(`${router.admin}/readyz`)).json()).toEqual({ ready: true });
    expect((await fetch(`${router.admin}/nope`)).status).toBe(404);
  });

  it('/readyz is not ready before a table is loaded, nor while the local app does not answer', async () => {
    const noTable = await startTestRouter({ local: app.url });
    const noApp = await startTestRouter({ local: await deadUrl(), table });
    try {
      const first = await fetch(`${noTable.admin}/readyz`);
      expect(first.status).toBe(503);
      expect(await first.json()).toMatchObject({ ready: false, reason: 'no route table loaded yet' });
      const proxied = await fetch(noTable.url);
      expect(proxied.status).toBe(503);
      noTable.writeTable(table);
      await waitFor(
        'ready once the table appears',
        async () => (await fetch(`${noTable.admin}/readyz`)).status,
        equalTo(200),
      );

      const down = await fetch(`${noApp.admin}/readyz`);
      expect(down.status).toBe(503);
      expect(((await down.json()) as { reason: string }).reason).toContain('local app does not answer');
    } finally {
      await noTable.close();
      await noApp.close();
    }
  });
});
