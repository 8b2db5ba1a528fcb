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
  if (llhttpStaysOnLiftoff()) setFlagsFromString('--liftoff-only');
  const logger = jsonLogger(config.logLevel, { pid: process.pid });
  const router = await startRouter(config, { logger, registry: new Registry() });
  await untilSignal(logger, 'draining');
  await router.close();
  return 0;
}

/**
 * Whether this runtime keeps undici's llhttp (WebAssembly) on V8's baseline compiler, Liftoff. On
 * node 20 and 22 its optimizing tier-up builds ~35 MB of compiler zones on V8's background thread:
 * the router's peak RSS was 95 and 89 MB against 62 and 75 MB on Liftoff, and on node 20 glibc's
 * malloc sometimes kept 2-7 MB of it for good. Liftoff's llhttp takes ~1 µs more per response
 * (~2 % of the router's CPU at saturation). Node 24 peaked the same either way, so it optimizes.
 */
export function llhttpStaysOnLiftoff(): boolean {
  return Number(process.versions.node.split('.')[0]) < 24;
}
