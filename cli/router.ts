// `switchyard router`: parses flags/env into the router config, starts it, drains on SIGTERM/SIGINT.

import { pino } from 'pino';
import { Registry } from 'prom-client';
import { parseRouterConfig, routerUsage } from '../router/config.js';
import { startRouter } from '../router/start.js';

export async function main(argv: string[]): Promise<number> {
  const config = parseRouterConfig(argv, process.env);
  if (config === 'help') {
    process.stdout.write(routerUsage());
    return 0;
  }
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
