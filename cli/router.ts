// `switchyard router`: parses flags/env into the router config, starts it, drains on SIGTERM/SIGINT.

import { setFlagsFromString } from 'node:v8';
import { parseRouterConfig, routerUsage } from '../router/config.js';
import { jsonLogger } from '../router/log.js';
import { Registry } from '../router/metrics.js';
import { startRouter } from '../router/start.js';

export async function main(argv: string[]): Promise<number> {
  const config = parseRouterConfig(argv, process.env);
  if (config === 'help') {
    process.stdout.write(routerUsage());
    return 0;
  }
  // V8 settings for a sidecar that runs in every pod, measured with `make bench` (router/README.md):
  // - undici parses HTTP with llhttp compiled to WebAssembly; Liftoff-only, because TurboFan for it
  //   costs ~1.5 MB of RSS and its compile CPU, for a parser that is ~1 % of the router's time;
  // - scavenges on the main thread only: with a 1 MB young generation (router/node-options.ts) a
  //   helper thread costs more in hand-off than it saves, ~12 % of the CPU per request at 1000 req/s.
  // Must run before the first upstream connection compiles llhttp.
  if (process.env.SWITCHYARD_WASM_TIER_UP !== '1') setFlagsFromString('--liftoff-only');
  setFlagsFromString('--no-parallel-scavenge');
  const logger = jsonLogger(config.logLevel, { pid: process.pid });
  const router = await startRouter(config, { logger, registry: new Registry() });
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'draining');
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await router.close();
  return 0;
}
