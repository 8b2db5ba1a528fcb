// The operator CLI as a user runs it (the built bin/switchyard.js): Ctrl-C stops a command that is
// waiting on a control plane that does not answer.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, REPO_ROOT as ROOT } from '../../support/build.js';

beforeAll(() => ensureBuilt('cli/operate.js'), 120_000);

describe('operator CLI and Ctrl-C', () => {
  // Accepts connections and never answers: a control plane that hangs.
  const sockets: Socket[] = [];
  let hung: Server;
  let url: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    hung = createServer((socket) => sockets.push(socket));
    hung.listen(0, '127.0.0.1');
    await once(hung, 'listening');
    url = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const socket of sockets) socket.destroy();
    hung.close();
  });

  it.each([['status'], ['abort', 'shop']])(
    'SIGINT stops `switchyard %s` waiting on control',
    async (...args) => {
      const connected = once(hung, 'connection');
      const child = spawn(process.execPath, [join(ROOT, 'bin/switchyard.js'), ...args, '--control', url], {
        cwd: ROOT,
        stdio: 'ignore',
      });
      children.push(child);
      await connected;
      child.kill('SIGINT');
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      // Interrupted, not finished later by the 10 s request timeout (exit 1, "Headers Timeout").
      expect({ code, signal }).toEqual({ code: null, signal: 'SIGINT' });
    },
  );
});
