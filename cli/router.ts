// `switchyard router`: parses flags/env into the router config, starts it, drains on SIGTERM/SIGINT.

import { setFlagsFromString } from 'node:v8';
import { parseRouterConfig, routerUsage } from '../router/config.js';
import { jsonLogger } from '../router/log.js';
import { Registry } from '../router/metrics.js';
import { startRouter } from '../router/start.js';
import { untilSignal } from './signals.js';

export async function main(argv: string[]): Promise<number> {
  const config = parseRouterConfig(argv, process.env);
  if (config === 'help') {
    process.stdout.write(routerUsage());
    return 0;
  }
  // With the sidecar's small young generation (router/node-options.ts) scavenges are short; a V8
  // helper thread for them costs more in hand-off than it saves on a small node: CPU per 1k requests
  // at 1000 req/s 0.095 vs 0.107-0.113 s (`make bench` with 1 MB semi-spaces, router/README.md).
  setFlagsFromString('--no-parallel-scavenge');
  const logger = jsonLogger(config.logLevel, { pid: process.pid });
  const router = await startRouter(config, { logger, registry: new Registry() });
  await untilSignal(logger, 'draining');
  await router.close();
  return 0;
}
