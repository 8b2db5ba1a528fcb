// The HTTP(S) server of `switchyard control`: route server for routers, operator API, health, and
// a seam where the webhook (`POST /mutate`) and the dashboard register their routes.

import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type RolloutBackend, registerApi, type TokenCheck } from './api.js';
import { registerControlMetrics } from './control-metrics.js';
import { registerDashboard } from './dashboard.js';
import { RouteStore, registerRouteServer } from './route-server.js';
import type { RouterAuthenticator } from './router-auth.js';

export interface ControlServerOptions {
  readonly host: string;
  readonly port: number;
  /** PEM cert and key; plain HTTP when absent (file mode on a trusted network or loopback). */
  readonly tls: { readonly cert: string; readonly key: string } | null;
  readonly logger: Logger;
  readonly routes: RouteStore;
  readonly routerAuth: RouterAuthenticator;
  readonly backend: RolloutBackend;
  readonly checkApiToken: TokenCheck | null;
  /**
   * Served at `GET /metrics` with the rollout gauges added; the webhook registers its metrics on
   * the same registry. Absent = no /metrics.
   */
  readonly registry?: Registry;
  /** Long-poll hold time of the route server. Default 30 s. */
  readonly holdMs?: number;
  /**
   * Extra routes on the same server: the webhook's `POST /mutate` (Kubernetes mode) and the
   * dashboard register here, so control keeps one listener.
   */
  readonly extend?: (app: FastifyInstance) => void | Promise<void>;
}

export interface ControlServer {
  readonly app: FastifyInstance;
  /** `http(s)://host:port` actually bound (port 0 resolved). */
  readonly url: string;
  close(): Promise<void>;
}

export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  // One app type for HTTP and HTTPS, with pino as its logger; the route modules need only the base shape.
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'http' }),
    // No log line per request: routers poll constantly.
    logController: new LogController({ disableRequestLogging: true }),
    // Held polls stay open up to holdMs; never cut them with a shorter socket timeout.
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
  }) as unknown as FastifyInstance;
  app.get('/healthz', async () => ({ ok: true }));
  registerRouteServer(app, {
    store: options.routes,
    authenticator: options.routerAuth,
    ...(options.holdMs === undefined ? {} : { holdMs: options.holdMs }),
  });
  registerApi(app, { backend: options.backend, checkToken: options.checkApiToken });
  registerDashboard(app);
  const registry = options.registry;
  if (registry) {
    registerControlMetrics(registry, options.backend, options.routes);
    app.get('/metrics', async (_request, reply) =>
      reply.type(registry.contentType).send(await registry.metrics()),
    );
  }
  if (options.extend) await options.extend(app);
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${options.tls ? 'https' : 'http'}://${host}:${address.port}`;
  return {
    app,
    url,
    close: async () => {
      // Held polls would keep close() waiting for their full hold; end them now.
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

export { RouteStore };
