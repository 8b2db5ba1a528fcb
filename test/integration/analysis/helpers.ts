// Real HTTP endpoints that expose switchyard router metrics: the router's own metric definitions
// on a fresh Registry, or fixed exposition text standing in for a router of another version.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { createRouterMetrics, type RouterMetrics } from '../../../router/metrics.js';

export interface MetricsEndpoint {
  readonly url: string;
  metrics: RouterMetrics;
  /** Serve `count` requests with this status and duration. */
  serve(count: number, status: number, seconds: number): void;
  /** A router restart: every counter starts again from zero. */
  restart(): void;
  close(): Promise<void>;
}

/** Serves `body()` at /metrics on a free loopback port. */
export async function serveMetrics(
  body: () => Promise<string>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    body().then(
      (text) => response.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE }).end(text),
      (error: Error) => response.writeHead(500).end(error.message),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function metricsEndpoint(service: string, track: string): Promise<MetricsEndpoint> {
  let registry = new Registry();
  const fresh = () => createRouterMetrics(registry, service, track, () => Date.now());
  const { url, close } = await serveMetrics(() => registry.metrics());
  const endpoint = {
    url,
    metrics: fresh(),
    serve(count: number, status: number, seconds: number) {
      const series = endpoint.metrics.local.requests[status === 0 ? 0 : Math.floor(status / 100)];
      for (let i = 0; i < count; i++) {
        series?.inc();
        endpoint.metrics.local.duration.observe(seconds);
      }
    },
    restart() {
      registry = new Registry();
      endpoint.metrics = fresh();
    },
    close,
  };
  return endpoint;
}

/**
 * A router of another version whose latency histogram has the bounds `les` (+Inf added): serves
 * 2xx requests of the given durations and exposes them as that version would.
 */
export async function otherLayoutEndpoint(
  service: string,
  track: string,
  les: readonly number[],
): Promise<{ url: string; serve(count: number, seconds: number): void; close(): Promise<void> }> {
  const observed: number[] = [];
  const labels = `service="${service}",track="${track}"`;
  const text = (): string =>
    [
      `switchyard_requests_total{${labels},code_class="2xx"} ${observed.length}`,
      ...[...les, Number.POSITIVE_INFINITY].map(
        (le) =>
          `switchyard_request_duration_seconds_bucket{${labels},le="${le === Number.POSITIVE_INFINITY ? '+Inf' : le}"} ${observed.filter((s) => s <= le).length}`,
      ),
      `switchyard_request_duration_seconds_count{${labels}} ${observed.length}`,
      '',
    ].join('\n');
  const { url, close } = await serveMetrics(async () => text());
  return {
    url,
    serve: (count, seconds) => observed.push(...Array.from({ length: count }, () => seconds)),
    close,
  };
}
