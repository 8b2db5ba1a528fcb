// Keeps the API server version the injector decides native sidecars on: read at start, refreshed
// on a timer (clusters get upgraded under a running control), last good value kept on errors.

import type { Logger } from 'pino';
import type { KubeVersion } from './types.js';

export interface ServerVersionTracker {
  current(): KubeVersion;
  /** Re-reads now; on failure keeps the previous value and logs. */
  refresh(): Promise<void>;
  stop(): void;
}

export async function trackServerVersion(options: {
  fetch: () => Promise<KubeVersion>;
  /** Used until the first successful read (and if it never succeeds). */
  fallback: KubeVersion;
  logger: Logger;
  /** Default 10 minutes. */
  intervalMs?: number;
}): Promise<ServerVersionTracker> {
  const log = options.logger.child({ component: 'webhook' });
  let version = options.fallback;
  const refresh = async (): Promise<void> => {
    try {
      const next = await options.fetch();
      if (next.major !== version.major || next.minor !== version.minor) {
        log.info({ version: `${next.major}.${next.minor}` }, 'API server version');
      }
      version = next;
    } catch (error) {
      log.warn(
        { err: error, using: `${version.major}.${version.minor}` },
        'cannot read the API server version',
      );
    }
  };
  await refresh();
  const timer = setInterval(() => void refresh(), options.intervalMs ?? 600_000);
  timer.unref();
  return { current: () => version, refresh, stop: () => clearInterval(timer) };
}
