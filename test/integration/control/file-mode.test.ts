// File mode end to end over real sockets: sample apps, real routers long-polling control, control
// in file mode with the builtin analysis. A healthy canary is promoted, a failing one rolled back,
// a restart mid-rollout resumes at the same step, `status` shows it all, `abort` takes the canary
// out of the table before the command returns.

import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteTable } from '../../../api/routes.js';
import { operate } from '../../../cli/operate.js';
import type { RolloutSummary } from '../../../controller/api.js';
import { createProvider } from '../../../controller/analysis/provider.js';
import { ProviderAnalyzer } from '../../../controller/file-mode/analyzer.js';
import type { TransitionFn } from '../../../controller/file-mode/runtime.js';
import { type FileModeControl, startFileModeControl } from '../../../controller/file-mode/start.js';
import { transition } from '../../../controller/transition.js';
import { parseRouterConfig, type RouterConfig } from '../../../router/config.js';
import { type RunningRouter, startRouter } from '../../../router/start.js';
import { freePort } from '../../support/free-port.js';
import { waitFor } from '../../support/wait-for.js';

const logger = pino({ level: 'silent' });

/** A sample app: answers its version; `failEvery: 2` answers 500 to every second request. */
async function startApp(version: string, failEvery = 0): Promise<{ server: Server; url: string }> {
  let count = 0;
  const server = createServer((req, res) => {
    count++;
    req.resume();
    const fail = failEvery > 0 && count % failEvery === 0;
    res.writeHead(fail ? 500 : 200, { 'content-type': 'text/plain' }).end(fail ? 'boom' : version);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

interface RouterPorts {
  readonly listen: number;
  readonly admin: number;
}

const url = (port: number): string => `http://127.0.0.1:${port}`;

describe('file mode with real routers', () => {
  let dir: string;
  let configPath: string;
  let stateDir: string;
  let tokenFile: string;
  let routerTokenFile: string;
  let controlPort: number;
  let control: FileModeControl | null = null;
  const apps: Server[] = [];
  const routers: RunningRouter[] = [];
  const ports: Record<string, RouterPorts> = {};
  const appUrls: Record<string, string> = {};
  let traffic: AbortController;
  const trafficDone: Promise<void>[] = [];

  async function startControl(transition?: TransitionFn): Promise<FileModeControl> {
    return startFileModeControl({
      ...(transition === undefined ? {} : { transition }),
      configPath,
      stateDir,
      host: '127.0.0.1',
      port: controlPort,
      tls: null,
      routerToken: null,
      apiToken: 'api-token-0123456789',
      prometheusUrl: null,
      logger,
      analyzer: () => new ProviderAnalyzer(createProvider('builtin', { scrapeTimeoutMs: 1000 })),
      holdMs: 5000,
      watchConfig: false,
      registry: new Registry(),
    });
  }

  async function cli(command: Parameters<typeof operate>[0], ...args: string[]): Promise<string> {
    let out = '';
    const code = await operate(command, [...args, '--control', url(controlPort), '--token-file', tokenFile], {
      stdout: { write: (text: string) => (out += text) },
      stderr: { write: () => true },
      env: {},
      now: () => Date.now(),
    });
    expect(code).toBe(0);
    return out;
  }

  async function rollout(name: string): Promise<RolloutSummary> {
    return JSON.parse(await cli('status', name, '--output', 'json')) as RolloutSummary;
  }

  /** The route server gets a table just after the status that decided it is saved. */
  async function publishedTable(name: string, settled: (table: RouteTable) => boolean): Promise<RouteTable> {
    const table = await waitFor(
      `${name} route table published`,
      async () => control!.routes.get('default', name),
      (current) => current !== undefined && settled(current),
      { timeoutMs: 5000, intervalMs: 50 },
    );
    return table!;
  }

  /** Runs `status --watch` not on a terminal and stops it after its first output, which it returns. */
  async function watchFirstOutput(...args: string[]): Promise<string> {
    const stop = new AbortController();
    let out = '';
    const code = await operate(
      'status',
      [...args, '--control', url(controlPort), '--token-file', tokenFile],
      {
        stdout: {
          isTTY: false,
          write: (text: string) => {
            out += text;
            stop.abort();
          },
        },
        stderr: { write: () => true },
        env: {},
        now: () => Date.now(),
        signal: stop.signal,
      },
    );
    expect(code).toBe(0);
    return out;
  }

  async function startTrafficTo(port: number): Promise<void> {
    // ~50 req/s per service: enough for min-requests at 20 % within a short interval, light on CPU.
    while (!traffic.signal.aborted) {
      try {
        const response = await request(url(port), { headersTimeout: 5000, bodyTimeout: 5000 });
        await response.body.dump();
      } catch {
        // A router restarting or a 502 is part of the traffic; keep going.
      }
      await sleep(20);
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swy-file-mode-'));
    configPath = join(dir, 'switchyard.yaml');
    stateDir = join(dir, 'state');
    tokenFile = join(dir, 'api-token');
    routerTokenFile = join(dir, 'router-token');
    const hopFile = join(dir, 'hop-secret');
    await writeFile(tokenFile, 'api-token-0123456789\n');
    await writeFile(routerTokenFile, 'router-secret-0123456789\n');
    await writeFile(hopFile, 'hop-secret-0123456789\n');

    for (const [name, version, failEvery] of [
      ['shop-v1', 'shop v1', 0],
      ['shop-v2', 'shop v2', 0],
      ['cart-v1', 'cart v1', 0],
      ['cart-v2', 'cart v2 (broken)', 2],
      ['blog-v1', 'blog v1', 0],
      ['blog-v2', 'blog v2', 0],
    ] as const) {
      const app = await startApp(version, failEvery);
      apps.push(app.server);
      appUrls[name] = app.url;
    }
    controlPort = await freePort();

    // Routers first (port 0): they retry until control is up on its reserved port.
    // Clients enter through an edge router (its --track is in no table, so it serves nothing
    // itself); each version sits behind its own track router, which measures it.
    const routerSpecs: [string, string, string, string][] = [
      ['shop-edge', 'shop', 'edge', appUrls['shop-v1']!],
      ['cart-edge', 'cart', 'edge', appUrls['cart-v1']!],
      ['shop-stable', 'shop', 'stable', appUrls['shop-v1']!],
      ['shop-canary', 'shop', 'canary', appUrls['shop-v2']!],
      ['cart-stable', 'cart', 'stable', appUrls['cart-v1']!],
      ['cart-canary', 'cart', 'canary', appUrls['cart-v2']!],
      ['blog-stable', 'blog', 'stable', appUrls['blog-v1']!],
    ];
    for (const [key, service, track, local] of routerSpecs) {
      const config = parseRouterConfig(
        [
          '--listen',
          '127.0.0.1:0',
          '--admin',
          '127.0.0.1:0',
          '--service',
          service,
          '--track',
          track,
          '--local',
          local,
          '--control',
          url(controlPort),
          '--control-token-file',
          routerTokenFile,
          '--hop-secret-file',
          hopFile,
          '--log-level',
          'silent',
        ],
        {},
      ) as RouterConfig;
      const router = await startRouter(config, { logger, registry: new Registry() });
      routers.push(router);
      ports[key] = { listen: router.listenAddress.port, admin: router.adminAddress.port };
    }
    await writeFile(
      configPath,
      `# integration test: short intervals are for tests and demos only
unsafeShortIntervals: true
tickInterval: 250ms
routerAuth:
  secretFile: router-token
services:
  - name: shop
    tracks:
      stable: { upstream: "${url(ports['shop-stable']!.listen)}", admin: ["${url(ports['shop-stable']!.admin)}"] }
    rollout: { steps: "20,40,60", interval: 2s, min-requests: 10 }
  - name: cart
    tracks:
      stable: { upstream: "${url(ports['cart-stable']!.listen)}", admin: ["${url(ports['cart-stable']!.admin)}"] }
    rollout: { steps: "20,50", interval: 2s, min-requests: 10 }
  - name: blog
    tracks:
      stable: { upstream: "${url(ports['blog-stable']!.listen)}", admin: ["${url(ports['blog-stable']!.admin)}"] }
    rollout: { steps: "20,50", interval: 2s }
`,
    );
    control = await startControl();

    for (const key of Object.keys(ports)) {
      await waitFor(
        `router ${key} ready`,
        async () => (await request(`${url(ports[key]!.admin)}/readyz`)).statusCode,
        (code) => code === 200,
        { timeoutMs: 10_000, intervalMs: 50 },
      );
    }
    traffic = new AbortController();
    trafficDone.push(startTrafficTo(ports['shop-edge']!.listen), startTrafficTo(ports['cart-edge']!.listen));
  });

  afterAll(async () => {
    traffic?.abort();
    await Promise.all(trafficDone);
    for (const router of routers) await router.close();
    await control?.close();
    for (const app of apps) await new Promise((resolve) => app.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('promotes a healthy canary, resuming at the same step after a control restart', async () => {
    const started = await cli(
      'rollout',
      'start',
      'shop',
      '--canary-upstream',
      url(ports['shop-canary']!.listen),
      '--canary-admin',
      url(ports['shop-canary']!.admin),
    );
    expect(started).toContain('default/shop:');

    // Restart control while step 2 of 3 is being analysed (live at 40%).
    const before = await waitFor(
      'shop at step 2',
      () => rollout('shop'),
      (r) => r.phase === 'Progressing' && r.step === 1 && r.weight === 40,
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    await control!.close();
    control = await startControl();
    const after = await rollout('shop');
    expect(after.phase).toBe('Progressing');
    expect(after.step).toBe(before.step);
    expect(after.status.stepSince).toBe(before.status.stepSince);
    expect(after.status.routeGeneration).toBe(before.status.routeGeneration);

    const done = await waitFor(
      'shop finished',
      () => rollout('shop'),
      (r) => r.phase === 'Succeeded' || r.phase === 'Failed',
      { timeoutMs: 40_000, intervalMs: 50 },
    );
    expect(done.phase, done.message).toBe('Succeeded');
    expect(done.tracks?.stable).toBe(url(ports['shop-canary']!.listen));

    // Every step started exactly once, in order: nothing repeated or skipped across the restart.
    const events =
      (JSON.parse(await cli('status', 'shop', '--output', 'json')) as RolloutSummary) &&
      (await control!.controller.events('default', 'shop'));
    const steps = events
      .filter((event) => event.reason === 'StepStarted')
      .map((event) => /step (\d+)\//.exec(event.message)?.[1]);
    expect(steps).toEqual(['1', '2', '3']);
    const table = await publishedTable(
      'shop',
      (t) => t.tracks.stable?.upstream === url(ports['shop-canary']!.listen),
    );
    expect(table.weights).toEqual({ stable: 100 });
    // Clients now get the new version.
    await waitFor(
      'shop v2 served through the edge router',
      async () => (await request(url(ports['shop-edge']!.listen))).body.text(),
      (body) => body === 'shop v2',
      { timeoutMs: 5000, intervalMs: 50 },
    );
  });

  it('rolls back a canary that fails half its requests', async () => {
    await cli(
      'rollout',
      'start',
      'cart',
      '--canary-upstream',
      url(ports['cart-canary']!.listen),
      '--canary-admin',
      url(ports['cart-canary']!.admin),
    );
    const done = await waitFor(
      'cart finished',
      () => rollout('cart'),
      (r) => r.phase === 'Failed' || r.phase === 'Succeeded',
      { timeoutMs: 40_000, intervalMs: 50 },
    );
    expect(done.phase).toBe('Failed');
    expect(done.weight).toBe(0);
    const verdict = done.lastVerdicts[done.lastVerdicts.length - 1];
    expect(verdict?.outcome).toBe('fail');
    expect(verdict?.canary.errors).toBeGreaterThan(0);
    await publishedTable('cart', (t) => Object.keys(t.tracks).join() === 'stable');
    // The routers got the table without the canary.
    const routes = (await (
      await request(`${url(ports['cart-stable']!.admin)}/routes`)
    ).body.json()) as RouteTable;
    expect(routes.weights).toEqual({ stable: 100 });
    expect(await (await request(url(ports['cart-edge']!.listen))).body.text()).toBe('cart v1');
  });

  it('status prints phase, weight, step, last verdict with numbers and age', async () => {
    const out = await cli('status');
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME\s+PHASE\s+WEIGHT\s+STEP\s+LAST VERDICT\s+AGE$/);
    const cart = lines.find((line) => /\bcart\b/.test(line));
    expect(cart).toMatch(/default\s+cart\s+Failed\s+0%\s+\d\/2\s+fail/);
    expect(cart).toMatch(/canary \d+\.\d% of \d+/);
    expect(cart).toMatch(/\d+s$/);
    expect(lines.find((line) => /\bshop\b/.test(line))).toMatch(/Succeeded\s+0%\s+3\/3/);
  });

  it('status --watch prints a timestamped line per rollout when not on a terminal', async () => {
    const out = await watchFirstOutput('--watch');
    expect(out).not.toContain('\x1b[');
    expect(out.trimEnd().split('\n')[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z {2}default {2}shop {2}Succeeded/);
  });

  it('status --watch --output json prints one JSON rollout per line when not on a terminal', async () => {
    const out = await watchFirstOutput('--watch', '-o', 'json');
    const lines = out.trimEnd().split('\n');
    const rollouts = lines.map(
      (line) => JSON.parse(line) as { namespace: string; name: string; phase: string },
    );
    expect(rollouts.find((rollout) => rollout.name === 'shop')).toMatchObject({
      namespace: 'default',
      phase: 'Succeeded',
    });
  });

  it('abort takes the canary out of the published table before the command returns', async () => {
    await cli('rollout', 'start', 'blog', '--canary-upstream', appUrls['blog-v2']!);
    await waitFor(
      'blog at 20%',
      () => rollout('blog'),
      (r) => r.phase === 'Progressing' && r.weight === 20,
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    await waitFor(
      'blog router at 20%',
      async () =>
        ((await (await request(`${url(ports['blog-stable']!.admin)}/routes`)).body.json()) as RouteTable)
          .weights,
      (weights) => weights.canary === 20,
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    const out = await cli('abort', 'blog');
    expect(out).toMatch(/default\/blog: (RollingBack|Failed), canary 0%/);
    // Synchronous: the route server already serves the 0 % table when abort returns.
    const served = await request(`${url(controlPort)}/v1/routes/default/blog`, {
      headers: { authorization: 'Bearer router-secret-0123456789' },
    });
    expect(((await served.body.json()) as RouteTable).weights).toEqual({ stable: 100 });
    // The router, long-polling, has it within the 2 s budget.
    await waitFor(
      'blog router back at 0% canary',
      async () =>
        ((await (await request(`${url(ports['blog-stable']!.admin)}/routes`)).body.json()) as RouteTable)
          .weights,
      (weights) => weights.canary === undefined,
      { timeoutMs: 2000, intervalMs: 50 },
    );
  });

  it('exports rollout gauges on /metrics', async () => {
    const text = await (await request(`${url(controlPort)}/metrics`)).body.text();
    expect(text).toMatch(/switchyard_canary_weight\{namespace="default",name="cart"\} 0/);
    expect(text).toMatch(/switchyard_canary_phase\{namespace="default",name="cart",phase="Failed"\} 1/);
    expect(text).toMatch(/switchyard_canary_phase\{namespace="default",name="shop",phase="Succeeded"\} 1/);
    expect(text).toMatch(/switchyard_route_polls_waiting \d+/);
  });

  it('rejects a command that is not valid in the phase with the reason', async () => {
    await expect(
      operate('resume', ['shop', '--control', url(controlPort), '--token-file', tokenFile], {
        stdout: { write: () => true },
        stderr: { write: () => true },
        env: {},
        now: () => Date.now(),
      }),
    ).rejects.toThrow(/resume rejected in phase Succeeded/);
  });

  it('API: 401 without the token, 400 for a bad weight, 404 for an unknown rollout', async () => {
    const base = `${url(controlPort)}/v1/rollouts`;
    const auth = { authorization: 'Bearer api-token-0123456789', 'content-type': 'application/json' };
    const anonymous = await request(base);
    expect(anonymous.statusCode).toBe(401);
    await anonymous.body.dump();
    const badWeight = await request(`${base}/default/shop/set-weight`, {
      method: 'POST',
      headers: auth,
      body: '{"weight":101}',
    });
    expect(badWeight.statusCode).toBe(400);
    expect(await badWeight.body.json()).toMatchObject({ field: 'weight' });
    const unknown = await request(`${base}/default/nope`, { headers: auth });
    expect(unknown.statusCode).toBe(404);
    expect(await unknown.body.json()).toMatchObject({ code: 'SWY_NOT_FOUND' });
    const rejected = await request(`${base}/default/shop/pause`, {
      method: 'POST',
      headers: auth,
      body: '{}',
    });
    expect(rejected.statusCode).toBe(409);
    expect(await rejected.body.json()).toMatchObject({ code: 'SWY_COMMAND_REJECTED' });
  });

  it('finishes a promotion cut off after the track swap was saved, once control is restarted', async () => {
    // blog failed (aborted above): rerun it and promote it with a control that dies right after
    // promote-stable saved the swapped tracks, before the Succeeded status is saved.
    await control!.close();
    control = await startControl((state, observation, now, settings) => {
      if (observation.type === 'promotion-complete') throw new Error('control killed');
      return transition(state, observation, now, settings);
    });
    await cli('retry', 'blog');
    await expect(
      control.controller.command('default', 'blog', { type: 'promote', full: true }),
    ).rejects.toThrow('control killed');
    expect(await rollout('blog')).toMatchObject({ phase: 'Promoting' });
    await control.close();

    control = await startControl();
    const done = await waitFor(
      'blog promotion finished after the restart',
      () => rollout('blog'),
      (r) => r.phase !== 'Promoting',
      { timeoutMs: 5000, intervalMs: 50 },
    );
    expect(done).toMatchObject({ phase: 'Succeeded', weight: 0, tracks: { stable: appUrls['blog-v2'] } });
    await waitFor(
      'blog router on the promoted table',
      async () =>
        ((await (await request(`${url(ports['blog-stable']!.admin)}/routes`)).body.json()) as RouteTable)
          .tracks,
      (tracks) => tracks.stable?.upstream === appUrls['blog-v2'] && tracks.canary === undefined,
      { timeoutMs: 5000, intervalMs: 50 },
    );
  });
});

describe('file mode config warnings', () => {
  it('control logs the warning for custom checks under the builtin provider at start and at every reload', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-file-warnings-'));
    const configPath = join(dir, 'switchyard.yaml');
    await writeFile(
      configPath,
      [
        'services:',
        '  - name: shop',
        '    tracks:',
        '      stable: { upstream: "http://127.0.0.1:9", admin: "http://127.0.0.1:9" }',
        '      canary: { upstream: "http://127.0.0.1:9", admin: "http://127.0.0.1:9" }',
        '    rollout:',
        '      check.errors: "sum(rate(errors_total[1m])) < 5"',
        '',
      ].join('\n'),
    );
    const lines: { level: number; msg: string }[] = [];
    const captured = pino(
      { level: 'warn' },
      { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) },
    );
    const warnings = () => lines.filter((line) => line.level === 40 && line.msg.includes('check.errors'));
    const control = await startFileModeControl({
      configPath,
      stateDir: join(dir, 'state'),
      host: '127.0.0.1',
      port: 0,
      tls: null,
      routerToken: null,
      apiToken: null,
      prometheusUrl: null,
      logger: captured,
      analyzer: () => new ProviderAnalyzer(createProvider('builtin', { scrapeTimeoutMs: 1000 })),
      registry: new Registry(),
    });
    try {
      expect(warnings().map((line) => line.msg)).toEqual([
        'config: services[0].rollout.check.errors: custom checks need analysis.provider prometheus; with builtin they stay inconclusive and every rollout of shop fails at its progress deadline',
      ]);
      await control.controller.reload();
      expect(warnings()).toHaveLength(2);
    } finally {
      await control.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
