// `switchyard router`: parses flags/env into the router config, starts it, drains on SIGTERM/SIGINT.

import { setFlagsFromString } from 'node:v8';
import { pino } from 'pino';
import { parseRouterConfig, routerUsage } from '../router/config.js';
import { Registry } from '../router/metrics.js';
import { startRouter } from '../router/start.js';

export async function main(argv: string[]): Promise<number> {
  const config = parseRouterConfig(argv, process.env);
  if (config === 'help') {
    process.stdout.write(routerUsage());
    return 0;
  }
  // undici parses HTTP with llhttp compiled to WebAssembly; optimising it with TurboFan costs every pod
  // ~10 MB of RSS. Liftoff-only keeps the sidecar small (measured in `make bench`). Must run before
  // the first upstream connection compiles the module.
  if (process.env.SWITCHYARD_WASM_TIER_UP !== '1') setFlagsFromString('--liftoff-only');
  const logger = pino({ level: config.logLevel, base: { pid: process.pid } });
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
