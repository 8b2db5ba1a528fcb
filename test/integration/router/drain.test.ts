// The real CLI as the kubelet runs it: `node bin/switchyard.js router ...`, then SIGTERM while a
// request is in flight — the request completes, new connections are refused, the process exits 0.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { equalTo, waitFor, waitUntil } from '../../support/wait-for.js';
import { type App, startApp, tableJson } from './helpers.js';

const root = resolve(import.meta.dirname, '..', '..', '..');
let app: App;
let release: (() => void) | null = null;
let child: ChildProcess | null = null;
const dir = mkdtempSync(join(tmpdir(), 'switchyard-drain-'));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

beforeAll(async () => {
  if (!existsSync(join(root, 'dist', 'router', 'start.js'))) {
    execFileSync(
      process.execPath,
      [
        join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        'tsconfig.build.json',
        '--noEmitOnError',
        'false',
      ],
      {
        cwd: root,
        stdio: 'ignore',
      },
    );
  }
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
        join(root, 'bin', 'switchyard.js'),
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
