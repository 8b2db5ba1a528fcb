// Watches one file for content changes, including atomic replacement (rename over it) and the
// Kubernetes `..data` symlink swap used for mounted Secrets/ConfigMaps, by watching its directory.

import type { FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Log } from './log.js';

// Not `import`: node:fs's ESM facade loads ~30 more modules on node 22+ (see router/start.ts).
const { watch } = process.getBuiltinModule('node:fs');

export interface FileWatch {
  close(): void;
}

/**
 * Calls `onContent` with the file's text once at start and again whenever it changes; with null while
 * the file is missing. Reads are serialised; unchanged content is not reported twice.
 */
export function watchFileContent(
  path: string,
  onContent: (text: string | null) => void,
  logger: Log,
  pollMs = 2000,
): FileWatch {
  let last: string | null | undefined;
  let reading = false;
  let again = false;
  let closed = false;
  const read = async (): Promise<void> => {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    do {
      again = false;
      let text: string | null;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') logger.warn({ path, err: error }, 'cannot read watched file');
        text = null;
      }
      if (!closed && text !== last) {
        last = text;
        onContent(text);
      }
    } while (again && !closed);
    reading = false;
  };
  let watcher: FSWatcher | null = null;
  try {
    const name = basename(path);
    watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
      if (changed === null || changed === name || changed.startsWith('..')) void read();
    });
    watcher.on('error', (error) => logger.warn({ path, err: error }, 'file watch failed'));
  } catch (error) {
    logger.warn({ path, err: (error as Error).message }, 'cannot watch directory; polling every few seconds');
  }
  // A slow poll as well: fs.watch misses events on some mounts and cannot watch a directory that
  // does not exist yet (an optional Secret volume before its first sync).
  const poll = setInterval(() => void read(), pollMs);
  poll.unref();
  void read();
  return {
    close() {
      closed = true;
      clearInterval(poll);
      watcher?.close();
    },
  };
}
