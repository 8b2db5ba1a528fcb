// Waiting for the end of a long-running subcommand (router, control): the first SIGTERM or SIGINT.

import type { Log } from '../router/log.js';

/** Resolves on the first SIGTERM or SIGINT, logged as `message`, so the caller can close in order. */
export function untilSignal(logger: Pick<Log, 'info'>, message: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, message);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
