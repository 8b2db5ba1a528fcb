// The real CLI as the kubelet runs it: `node bin/switchyard.js router ...`, then SIGTERM while a
// request is in flight — the request completes, new connections are refused, the process exits 0.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, REPO_ROOT } from '../../support/build.js';
import { freePort } from '../../support/free-port.js';
import { equalTo, waitFor, waitUntil } from '../../support/wait-for.js';
import { type App, startApp, tableJson } from './helpers.js';

let app: App;
let release: (() => void) | null = null;
let child: ChildProcess | null = null;
const dir = mkdtempSync(join(tmpdir(), 'switchyard-drain-'));

beforeAll(async () => {
  ensureBuilt('cli/router.js');
  app = await startApp('stable', (req, res) => {
    if (req.url === '/slow') {
      req.resume();
      release = () => res.end('finished after SIGTERM');
      return true;
    }
    return false;
  });
});
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('graceful shutdown', () => {
  it('SIGTERM: stops accepting, finishes the in-flight request, exits 0', async () => {
    const routes = join(dir, 'routes.json');
    writeFileSync(routes, tableJson({ tracks: { stable: app.url }, weights: { stable: 100 } }));
    const port = await freePort();
    const admin = await freePort();
    child = spawn(
      process.execPath,
      [
        join(REPO_ROOT, 'bin', 'switchyard.js'),
        'router',
        '--service',
        'shop',
        '--track',
        'stable',
        '--local',
        app.url,
      ],
      {
        env: {
          ...process.env,
          SWITCHYARD_LISTEN: `127.0.0.1:${port}`,
          SWITCHYARD_ADMIN: `127.0.0.1:${admin}`,
          SWITCHYARD_ROUTES_FILE: routes,
          SWITCHYARD_DRAIN_TIMEOUT: '10s',
          SWITCHYARD_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout?.on('data', (data) => {
      output += data;
    });
    child.stderr?.on('data', (data) => {
      output += data;
    });
    const exited = new Promise<number | null>((done) => child!.once('exit', (code) => done(code)));
    await waitFor(
      `router ready on :${admin}`,
      async () => (await fetch(`http://127.0.0.1:${admin}/readyz`)).status,
      equalTo(200),
      { timeoutMs: 15_000, seen: () => ({ output }) },
    );

    const inFlight = fetch(`http://127.0.0.1:${port}/slow`).then(async (res) => ({
      status: res.status,
      body: await res.text(),
    }));
    await waitUntil('the slow request to reach the app', () => release !== null);
    child.kill('SIGTERM');
    await waitFor(
      'the listener to refuse new connections',
      async () => {
        try {
          await fetch(`http://127.0.0.1:${port}/`);
          return 'still accepting';
        } catch {
          return 'refused';
        }
      },
      equalTo('refused'),
    );
    release!();
    expect(await inFlight).toEqual({ status: 200, body: 'finished after SIGTERM' });
    expect(await exited).toBe(0);
  });
});
