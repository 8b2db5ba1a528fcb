// Real HTTP endpoints that expose switchyard router metrics (the router's own metric definitions
// on a fresh Registry).

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

export async function metricsEndpoint(service: string, track: string): Promise<MetricsEndpoint> {
  let registry = new Registry();
  const fresh = () => createRouterMetrics(registry, service, track, () => Date.now());
  const endpoint = {
    url: '',
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
    close: async () => {},
  };
  const server: Server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: Error) => response.writeHead(500).end(error.message),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  endpoint.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return endpoint;
}
