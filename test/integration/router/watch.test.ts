// The file watcher behind --routes-file and --hop-secret-file, on a real filesystem.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { watchFileContent } from '../../../router/watch.js';
import { equalTo, waitFor } from '../../support/wait-for.js';

const root = mkdtempSync(join(tmpdir(), 'switchyard-watch-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('watchFileContent', () => {
  it('reports content, atomic replacements and deletion, once per change', async () => {
    const path = join(root, 'routes.json');
    writeFileSync(path, 'one');
    const seen: (string | null)[] = [];
    const watch = watchFileContent(path, (text) => seen.push(text), pino({ level: 'silent' }), 100);
    try {
      await waitFor('initial content', () => seen, equalTo(['one']));
      writeFileSync(`${path}.tmp`, 'two');
      renameSync(`${path}.tmp`, path);
      await waitFor('replacement', () => seen, equalTo(['one', 'two']));
      rmSync(path);
      await waitFor('deletion', () => seen, equalTo(['one', 'two', null]));
    } finally {
      watch.close();
    }
  });

  it('picks up a file whose directory appears only later (optional Secret volume)', async () => {
    const dir = join(root, 'later');
    const seen: (string | null)[] = [];
    const watch = watchFileContent(
      join(dir, 'token'),
      (text) => seen.push(text),
      pino({ level: 'silent' }),
      50,
    );
    try {
      await waitFor('missing at first', () => seen, equalTo([null]));
      mkdirSync(dir);
      writeFileSync(join(dir, 'token'), 'hop');
      await waitFor('the token once it exists', () => seen, equalTo([null, 'hop']));
      expect(seen).toEqual([null, 'hop']);
    } finally {
      watch.close();
    }
  });
});
