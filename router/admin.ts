// The admin port: /metrics for Prometheus and control's builtin analysis, /healthz, /readyz (a table is
// loaded and the local app answers) and /routes (the active table as JSON).

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { DataPlane } from './proxy.js';
import { request } from './undici.js';

// Not `import`: node:http's ESM facade costs ~7 MB on node 22+ (see router/start.ts).
const { createServer } = process.getBuiltinModule('node:http');

const READY_PROBE_TIMEOUT_MS = 2000;

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function localAnswers(proxy: DataPlane): Promise<string | null> {
  try {
    const response = await request(proxy.probePool, {
      path: '/',
      method: 'GET',
      // The same deadline whichever client carries the probe (router/h2c-upstream.ts for h2c).
      signal: AbortSignal.timeout(READY_PROBE_TIMEOUT_MS),
    });
    await response.body.dump();
    return null;
  } catch (error) {
    return `local app does not answer: ${(error as Error).message}`;
  }
}

export function createAdminServer(proxy: DataPlane, registry: Registry): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'application/json', '{"error":"method_not_allowed"}');
      return;
    }
    switch (path) {
      case '/metrics':
        registry.metrics().then(
          (text) => send(res, 200, registry.contentType, text),
          (error: unknown) => send(res, 500, 'text/plain', String(error)),
        );
        return;
      case '/healthz':
        send(res, 200, 'text/plain', 'ok\n');
        return;
      case '/readyz': {
        if (proxy.draining) {
          send(res, 503, 'application/json', '{"ready":false,"reason":"draining"}');
          return;
        }
        if (proxy.state === null) {
          send(res, 503, 'application/json', '{"ready":false,"reason":"no route table loaded yet"}');
          return;
        }
        void localAnswers(proxy).then((reason) =>
          reason === null
            ? send(res, 200, 'application/json', '{"ready":true}')
            : send(res, 503, 'application/json', JSON.stringify({ ready: false, reason })),
        );
        return;
      }
      case '/routes':
        if (proxy.state === null) send(res, 404, 'application/json', '{"error":"no_route_table"}');
        else send(res, 200, 'application/json', JSON.stringify(proxy.state.routes.table));
        return;
      default:
        send(
          res,
          404,
          'application/json',
          '{"error":"not_found","paths":["/metrics","/healthz","/readyz","/routes"]}',
        );
    }
  });
}
