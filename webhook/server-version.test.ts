import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { supportsNativeSidecars } from './config.js';
import { trackServerVersion } from './server-version.js';
import type { KubeVersion } from './types.js';

describe('trackServerVersion', () => {
  it('uses the fallback until a read succeeds, follows upgrades and keeps the last good value on errors', async () => {
    const answers: (KubeVersion | Error)[] = [
      new Error('down'),
      { major: 1, minor: 28 },
      { major: 1, minor: 30 },
      new Error('down'),
    ];
    const tracker = await trackServerVersion({
      fetch: async () => {
        const next = answers.shift()!;
        if (next instanceof Error) throw next;
        return next;
      },
      fallback: { major: 1, minor: 29 },
      logger: pino({ level: 'silent' }),
    });
    try {
      expect(tracker.current()).toEqual({ major: 1, minor: 29 });
      await tracker.refresh();
      expect(supportsNativeSidecars(tracker.current())).toBe(false);
      await tracker.refresh();
      expect(supportsNativeSidecars(tracker.current())).toBe(true);
      await tracker.refresh();
      expect(tracker.current()).toEqual({ major: 1, minor: 30 });
    } finally {
      tracker.stop();
    }
  });
});
