// The real CLI as the kubelet runs it: `node bin/switchyard.js router ...`, then SIGTERM while a
// request is in flight — the request completes, new connections are refused, the process exits 0.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { equalTo, waitFor, waitUntil } from '../../support/wait-for.js';
import { type App, type RouterCli, spawnRouterCli, startApp, tableJson } from './helpers.js';

let app: App;
let release: (() => void) | null = null;
let router: RouterCli | null = null;
const dir = mkdtempSync(join(tmpdir(), 'switchyard-drain-'));

beforeAll(async () => {
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
  if (router && router.child.exitCode === null) router.child.kill('SIGKILL');
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('graceful shutdown', () => {
  it('SIGTERM: stops accepting, finishes the in-flight request, exits 0', async () => {
    const routes = join(dir, 'routes.json');
    writeFileSync(routes, tableJson({ tracks: { stable: app.url }, weights: { stable: 100 } }));
    router = await spawnRouterCli({
      local: app.url,
      env: { SWITCHYARD_ROUTES_FILE: routes, SWITCHYARD_DRAIN_TIMEOUT: '10s' },
    });
    const { port } = router;

    const inFlight = fetch(`http://127.0.0.1:${port}/slow`).then(async (res) => ({
      status: res.status,
      body: await res.text(),
    }));
    await waitUntil('the slow request to reach the app', () => release !== null);
    router.child.kill('SIGTERM');
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
    expect(await router.exited).toBe(0);
  });
});
