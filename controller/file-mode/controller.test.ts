// File-mode controller with the real transition and state store, a manual clock and scheduler and
// scripted verdicts: config-announced rollouts, config reloads, abort, restart mid-rollout.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CheckOutcome, Verdict } from '../../api/canary.js';
import { waitFor } from '../../test/support/wait-for.js';
import { RouteStore } from '../route-server.js';
import { transition } from '../transition.js';
import { loadConfig } from './config.js';
import { FileModeController, type Scheduler } from './controller.js';
import { type AnalysisWindow, revisionOf, type WindowAnalyzer } from './runtime.js';
import { StateStore } from './state-store.js';

/** Log lines of the controller under test, parsed. */
let logs: Record<string, unknown>[];
const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });

function config(canary: string | null, steps = '10,50'): string {
  return `unsafeShortIntervals: true
services:
  - name: shop
    tracks:
      stable: { upstream: "http://127.0.0.1:1001", admin: ["http://127.0.0.1:2001"] }
${canary === null ? '' : `      canary: { upstream: "${canary}", admin: ["http://127.0.0.1:2002"] }\n`}    rollout: { steps: "${steps}", interval: 2s }
`;
}

function verdict(outcome: CheckOutcome, at: Date): Verdict {
  const stats = { requests: 100, errors: 0, successRate: 1, p50Seconds: 0.01, p99Seconds: 0.02 };
  return {
    at: at.toISOString(),
    step: 0,
    weight: 0,
    outcome,
    fastFail: false,
    checks: [],
    canary: stats,
    stable: stats,
  };
}

/** A promise and the function that resolves it, for holding an async step until a test says so. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

class ScriptedAnalyzer implements WindowAnalyzer {
  outcome: CheckOutcome = 'pass';
  readonly begun: string[] = [];
  /** When set, analyse() resolves `entered` and waits for `release` before it answers. */
  hold: { entered: () => void; release: Promise<void> } | null = null;
  async begin(window: AnalysisWindow): Promise<void> {
    this.begun.push(window.since);
  }
  async analyse(_window: AnalysisWindow, now: Date): Promise<Verdict> {
    if (this.hold) {
      this.hold.entered();
      await this.hold.release;
    }
    return verdict(this.outcome, now);
  }
}

const manualScheduler: Scheduler = { every: () => ({ stop: () => undefined }) };

/** A state store that dies after `crashAfter(n)` more writes: every later one fails, as in a crash. */
class CrashingStore extends StateStore {
  #left = Number.POSITIVE_INFINITY;
  crashAfter(saves: number): void {
    this.#left = saves;
  }
  override async save(...args: Parameters<StateStore['save']>): Promise<void> {
    if (this.#left <= 0) throw new Error('crashed');
    this.#left--;
    await super.save(...args);
  }
}

describe('file-mode controller', () => {
  let dir: string;
  let configPath: string;
  let clock: number;
  let routes: RouteStore;
  let analyzer: ScriptedAnalyzer;
  let controllers: FileModeController[];

  async function start(
    scheduler = manualScheduler,
    readConfig = () => loadConfig(configPath),
    store = new StateStore(join(dir, 'state')),
  ): Promise<FileModeController> {
    const controller = new FileModeController({
      config: await loadConfig(configPath),
      configPath,
      readConfig,
      store,
      routes,
      transition,
      analyzer,
      now: () => new Date(clock),
      scheduler,
      logger,
    });
    await new StateStore(join(dir, 'state')).init();
    await controller.run();
    controllers.push(controller);
    return controller;
  }

  async function advance(controller: FileModeController, ms: number): Promise<void> {
    clock += ms;
    await controller.tickAll();
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swy-fm-'));
    configPath = join(dir, 'switchyard.yaml');
    clock = Date.parse('2026-01-01T00:00:00Z');
    routes = new RouteStore();
    analyzer = new ScriptedAnalyzer();
    controllers = [];
    logs = [];
  });
  afterEach(async () => {
    for (const controller of controllers) await controller.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes a stable-only table at start, then runs a config-announced canary to Succeeded', async () => {
    await writeFile(configPath, config(null));
    const controller = await start();
    expect(routes.get('default', 'shop')).toMatchObject({ generation: 1, weights: { stable: 100 } });

    await writeFile(configPath, config('http://127.0.0.1:1002'));
    await controller.reload();
    const rollout = await controller.get('default', 'shop');
    expect(rollout).toMatchObject({ phase: 'Progressing', weight: 10, step: 0 });
    expect(routes.get('default', 'shop')?.weights).toEqual({ stable: 90, canary: 10 });
    expect(analyzer.begun).toHaveLength(1);

    await advance(controller, 2000);
    expect((await controller.get('default', 'shop')).weight).toBe(50);
    await advance(controller, 2000);
    const done = await controller.get('default', 'shop');
    expect(done.phase).toBe('Succeeded');
    expect(done.tracks).toEqual({ stable: 'http://127.0.0.1:1002' });
    expect(routes.get('default', 'shop')?.tracks).toEqual({ stable: { upstream: 'http://127.0.0.1:1002' } });

    // An unchanged config does not start the same canary again.
    await controller.reload();
    await advance(controller, 2000);
    expect((await controller.get('default', 'shop')).phase).toBe('Succeeded');
    const reasons = (await controller.events('default', 'shop')).map((event) => event.reason);
    expect(reasons.filter((reason) => reason === 'RolloutStarted')).toHaveLength(1);
    expect(reasons).toContain('Succeeded');
  });

  it('abort publishes 0 % before it returns and ends Failed; the revision does not restart by itself', async () => {
    await writeFile(configPath, config('http://127.0.0.1:1002'));
    const controller = await start();
    const generation = routes.get('default', 'shop')!.generation;
    const outcome = await controller.command('default', 'shop', { type: 'abort' });
    expect(outcome.accepted).toBe(true);
    const table = routes.get('default', 'shop')!;
    expect(table.generation).toBeGreaterThan(generation);
    expect(table.weights).toEqual({ stable: 100 });
    expect((await controller.get('default', 'shop')).phase).toBe('Failed');
    await advance(controller, 2000);
    expect((await controller.get('default', 'shop')).phase).toBe('Failed');
    const again = await controller.start('default', 'shop', {
      canaryUpstream: 'http://127.0.0.1:1002',
      canaryAdmin: [],
    });
    expect(again).toMatchObject({
      accepted: false,
      reason: expect.stringContaining('switchyard retry reruns it'),
    });
    const retried = await controller.command('default', 'shop', { type: 'retry' });
    expect(retried.accepted && retried.rollout.phase).toBe('Progressing');
  });

  it('holds a failed canary announced again, after another failure or a success; retry reruns that one', async () => {
    await writeFile(configPath, config(null));
    const controller = await start();
    const announce = (upstream: string) =>
      controller.start('default', 'shop', { canaryUpstream: upstream, canaryAdmin: [] });
    const broken = 'http://127.0.0.1:1002';
    const held = {
      accepted: false,
      reason: `revision ${revisionOf({ upstream: broken, admin: [] })} (${broken}) failed before: held back, not started; switchyard retry reruns it`,
    };
    const retryRuns = async (upstream: string): Promise<void> => {
      const retried = await controller.command('default', 'shop', { type: 'retry' });
      expect(retried.accepted && retried.rollout).toMatchObject({
        phase: 'Progressing',
        canaryRevision: revisionOf({ upstream, admin: [] }),
      });
      expect(routes.get('default', 'shop')?.tracks.canary?.upstream).toBe(upstream);
    };
    expect((await announce(broken)).accepted).toBe(true);
    await controller.command('default', 'shop', { type: 'abort' });

    // Another canary fails after it: the one announced last is what retry reruns.
    expect((await announce('http://127.0.0.1:1003')).accepted).toBe(true);
    await controller.command('default', 'shop', { type: 'abort' });
    expect(await announce(broken)).toMatchObject(held);
    expect(await controller.get('default', 'shop')).toMatchObject({ phase: 'Failed', weight: 0 });
    await retryRuns(broken);
    await controller.command('default', 'shop', { type: 'abort' });

    // Another canary succeeds after it: announced again, it is held, and retry reruns it.
    expect((await announce('http://127.0.0.1:1004')).accepted).toBe(true);
    await controller.command('default', 'shop', { type: 'promote', full: true });
    expect(await announce(broken)).toMatchObject(held);
    expect(await controller.get('default', 'shop')).toMatchObject({
      phase: 'Succeeded',
      canaryRevision: revisionOf({ upstream: broken, admin: [] }),
      tracks: { stable: 'http://127.0.0.1:1004' },
    });
    expect(routes.get('default', 'shop')?.tracks).toEqual({ stable: { upstream: 'http://127.0.0.1:1004' } });
    await retryRuns(broken);
  });

  it('refuses a failed canary announced during another rollout, which goes on; held once it is over', async () => {
    // On Kubernetes the Deployment no longer holds the running template, so the rollout is
    // cancelled; in file mode announcing changes nothing running, and a typo must not end it.
    await writeFile(configPath, config(null));
    const controller = await start();
    const announce = (upstream: string) =>
      controller.start('default', 'shop', { canaryUpstream: upstream, canaryAdmin: [] });
    const broken = 'http://127.0.0.1:1002';
    const running = 'http://127.0.0.1:1003';
    await announce(broken);
    await controller.command('default', 'shop', { type: 'abort' });
    expect((await announce(running)).accepted).toBe(true);
    const before = await controller.get('default', 'shop');
    expect(before.phase).toBe('Progressing');
    const table = routes.get('default', 'shop');

    const revision = (upstream: string) => revisionOf({ upstream, admin: [] });
    expect(await announce(broken)).toMatchObject({
      accepted: false,
      reason: `revision ${revision(broken)} (${broken}) failed before: not taken while revision ${revision(running)} rolls out (phase Progressing), which goes on; abort that rollout first, or announce this one again once it is over (it is then held for switchyard retry)`,
    });
    expect(await controller.get('default', 'shop')).toEqual(before);
    expect(routes.get('default', 'shop')).toBe(table);

    // Outside a rollout it is held for retry, as before.
    await controller.command('default', 'shop', { type: 'abort' });
    expect(await announce(broken)).toMatchObject({
      accepted: false,
      reason: `revision ${revision(broken)} (${broken}) failed before: held back, not started; switchyard retry reruns it`,
    });
    const retried = await controller.command('default', 'shop', { type: 'retry' });
    expect(retried.accepted && retried.rollout.tracks).toEqual({
      stable: 'http://127.0.0.1:1001',
      canary: broken,
    });
  });

  it('a config edit naming a failed canary during another rollout waits until it is over, then is held', async () => {
    await writeFile(configPath, config(null));
    const controller = await start();
    const broken = 'http://127.0.0.1:1002';
    const running = 'http://127.0.0.1:1003';
    await controller.start('default', 'shop', { canaryUpstream: broken, canaryAdmin: [] });
    await controller.command('default', 'shop', { type: 'abort' });
    await controller.start('default', 'shop', { canaryUpstream: running, canaryAdmin: [] });

    await writeFile(configPath, config(broken));
    await controller.reload();
    await advance(controller, 0);
    expect(await controller.get('default', 'shop')).toMatchObject({
      phase: 'Progressing',
      canaryRevision: revisionOf({ upstream: running, admin: [] }),
      weight: 10,
    });
    await controller.command('default', 'shop', { type: 'abort' });
    await advance(controller, 0);
    expect(await controller.get('default', 'shop')).toMatchObject({
      phase: 'Failed',
      canaryRevision: revisionOf({ upstream: broken, admin: [] }),
    });
    const retried = await controller.command('default', 'shop', { type: 'retry' });
    expect(retried.accepted && retried.rollout.tracks).toMatchObject({ canary: broken });
  });

  // The last step passes; then the state is written as Promoting (1), with the tracks swapped by
  // promote-stable (2), as Succeeded (3). A crash after any of them is finished by a restart.
  it.each([0, 1, 2, 3])('completes a promotion after a crash %i state writes into it', async (saves) => {
    await writeFile(configPath, config('http://127.0.0.1:1002'));
    const store = new CrashingStore(join(dir, 'state'));
    const first = await start(manualScheduler, undefined, store);
    await advance(first, 2000);
    expect(await first.get('default', 'shop')).toMatchObject({ phase: 'Progressing', weight: 50 });
    store.crashAfter(saves);
    await advance(first, 2000);
    await first.close();

    routes = new RouteStore();
    const second = await start();
    await advance(second, 2000);
    const promoted = 'http://127.0.0.1:1002';
    expect(await second.get('default', 'shop')).toMatchObject({
      phase: 'Succeeded',
      weight: 0,
      stableRevision: revisionOf({ upstream: promoted, admin: [] }),
      canaryRevision: null,
      tracks: { stable: promoted },
    });
    expect(routes.get('default', 'shop')?.tracks).toEqual({ stable: { upstream: promoted } });
    const reasons = (await second.events('default', 'shop')).map((event) => event.reason);
    expect(reasons.filter((reason) => reason === 'Succeeded')).toHaveLength(1);
  });

  it('rejects a command the phase does not allow, with the reason', async () => {
    await writeFile(configPath, config(null));
    const controller = await start();
    const outcome = await controller.command('default', 'shop', { type: 'promote', full: false });
    expect(outcome).toEqual({
      accepted: false,
      reason: expect.stringContaining('promote rejected in phase Idle'),
    });
  });

  it('resumes after a restart at the same step with the route generation still increasing', async () => {
    await writeFile(configPath, config('http://127.0.0.1:1002', '10,30,50'));
    const first = await start();
    await advance(first, 2000);
    const before = await first.get('default', 'shop');
    expect(before).toMatchObject({ phase: 'Progressing', step: 1, weight: 30 });
    const generation = routes.get('default', 'shop')!.generation;
    await first.close();

    routes = new RouteStore();
    const second = await start();
    const after = await second.get('default', 'shop');
    expect(after).toMatchObject({ phase: 'Progressing', step: 1, weight: 30 });
    expect(after.status.stepSince).toBe(before.status.stepSince);
    expect(routes.get('default', 'shop')).toMatchObject({ generation, weights: { stable: 70, canary: 30 } });
    await advance(second, 2000);
    expect(await second.get('default', 'shop')).toMatchObject({ step: 2, weight: 50 });
    expect(routes.get('default', 'shop')!.generation).toBe(generation + 1);
    const steps = (await second.events('default', 'shop'))
      .filter((event) => event.reason === 'StepStarted')
      .map((event) => /step (\d+)\//.exec(event.message)?.[1]);
    expect(steps).toEqual(['1', '2', '3']);
  });

  it('notices a config edit on its own and starts the announced canary', async () => {
    await writeFile(configPath, config(null));
    const controller = await start();
    await writeFile(configPath, config('http://127.0.0.1:1003'));
    // The watch polls the file once a second; wait for the published table, not for a timer.
    const deadline = Date.now() + 8000;
    while (routes.get('default', 'shop')?.tracks.canary === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(routes.get('default', 'shop')?.tracks.canary, 'canary track after editing tracks.canary').toEqual({
      upstream: 'http://127.0.0.1:1003',
    });
    expect((await controller.get('default', 'shop')).phase).toBe('Progressing');
  });

  it('republishes as a new generation when the stable track or a table setting is edited', async () => {
    await writeFile(configPath, config(null));
    const controller = await start();
    const first = routes.get('default', 'shop')!;
    await writeFile(configPath, config(null).replace('127.0.0.1:1001', '127.0.0.1:1009'));
    await controller.reload();
    const second = routes.get('default', 'shop')!;
    expect(second.generation).toBe(first.generation + 1);
    expect(second.tracks.stable?.upstream).toBe('http://127.0.0.1:1009');
    await writeFile(
      configPath,
      config(null)
        .replace('127.0.0.1:1001', '127.0.0.1:1009')
        .replace('interval: 2s', 'interval: 2s, sticky: cookie'),
    );
    await controller.reload();
    expect(routes.get('default', 'shop')).toMatchObject({
      generation: second.generation + 1,
      sticky: { cookie: 'switchyard-track' },
    });
    // Reloading the same file changes nothing.
    await controller.reload();
    expect(routes.get('default', 'shop')?.generation).toBe(second.generation + 1);
  });

  it('manual promotion waits at the last step until promote', async () => {
    await writeFile(
      configPath,
      config('http://127.0.0.1:1002').replace('interval: 2s', 'interval: 2s, promotion: manual'),
    );
    const controller = await start();
    await advance(controller, 2000);
    await advance(controller, 2000);
    expect(await controller.get('default', 'shop')).toMatchObject({
      phase: 'WaitingForPromotion',
      weight: 50,
    });
    await advance(controller, 10_000);
    expect((await controller.get('default', 'shop')).phase).toBe('WaitingForPromotion');
    const promoted = await controller.command('default', 'shop', { type: 'promote', full: false });
    expect(promoted.accepted && promoted.rollout.phase).toBe('Succeeded');
    expect(routes.get('default', 'shop')?.tracks).toEqual({ stable: { upstream: 'http://127.0.0.1:1002' } });
  });

  it('strategy ab routes the match rules to the canary with no weighted traffic', async () => {
    const ab = config('http://127.0.0.1:1002').replace(
      'interval: 2s',
      `interval: 2s, strategy: ab, match: '[{"header":{"name":"x-user-group","exact":"beta"}}]'`,
    );
    await writeFile(configPath, ab);
    await start();
    expect(routes.get('default', 'shop')).toMatchObject({
      weights: { stable: 100, canary: 0 },
      rules: [{ match: { header: { name: 'x-user-group', exact: 'beta' } }, track: 'canary' }],
    });
  });

  it('applies an edited tickInterval to the running loop', async () => {
    await writeFile(configPath, config(null));
    const loops: { ms: number; stopped: boolean }[] = [];
    const recording: Scheduler = {
      every: (ms) => {
        const loop = { ms, stopped: false };
        loops.push(loop);
        return {
          stop: () => {
            loop.stopped = true;
          },
        };
      },
    };
    const controller = await start(recording);
    expect(loops).toEqual([{ ms: 1000, stopped: false }]);

    await writeFile(configPath, `tickInterval: 200ms\n${config(null)}`);
    await controller.reload();
    expect(loops).toEqual([
      { ms: 1000, stopped: true },
      { ms: 200, stopped: false },
    ]);
    // An unchanged interval keeps the loop it has.
    await controller.reload();
    expect(loops).toHaveLength(2);
  });

  it('runs one reload at a time; those asked for meanwhile share one more, with the newest file', async () => {
    await writeFile(configPath, config(null));
    // The first reload holds what it read (stale by the time it applies) until released.
    let reads = 0;
    const firstRead = signal();
    const release = signal();
    const controller = await start(manualScheduler, async () => {
      const first = ++reads === 1;
      const read = await loadConfig(configPath);
      if (first) {
        firstRead.resolve();
        await release.promise;
      }
      return read;
    });

    await writeFile(configPath, config(null).replace('127.0.0.1:1001', '127.0.0.1:1009'));
    const first = controller.reload();
    await firstRead.promise;
    await writeFile(configPath, config(null).replace('127.0.0.1:1001', '127.0.0.1:1010'));
    const meanwhile = [controller.reload(), controller.reload(), controller.reload()];
    expect(reads, 'config reads while the first reload runs').toBe(1);

    release.resolve();
    await Promise.all([first, ...meanwhile]);
    expect(reads, 'one more reload for the three requested meanwhile').toBe(2);
    // The newest edit is what runs, not the stale one the first reload read.
    expect(routes.get('default', 'shop')?.tracks.stable?.upstream).toBe('http://127.0.0.1:1010');
  });

  it('keeps the running config when an edit is invalid, logging the file and the field', async () => {
    await writeFile(configPath, config(null));
    const controller = await start();
    await writeFile(configPath, config(null, '50,10'));
    await controller.reload();
    expect((await controller.list()).map((rollout) => rollout.name)).toEqual(['shop']);
    expect(logs).toContainEqual(
      expect.objectContaining({
        msg: 'config reload rejected; keeping the running config',
        path: configPath,
        field: 'services[0].rollout.steps',
      }),
    );
  });

  it('reads routerAuth at start only: an edit applies without its secret file, and says to restart', async () => {
    const withAuth = (secretFile: string, extra = '') =>
      `routerAuth: { secretFile: ${secretFile} }\n${config(null)}${extra}`;
    await writeFile(join(dir, 'router-token'), '0123456789abcdef-router\n');
    await writeFile(configPath, withAuth('router-token'));
    const controller = await start();
    // The secret file going away (rotated, unmounted) must not block every later edit.
    await rm(join(dir, 'router-token'));
    const cart = `  - name: cart
    tracks:
      stable: { upstream: "http://127.0.0.1:1011", admin: ["http://127.0.0.1:2011"] }
`;
    await writeFile(configPath, withAuth('router-token', cart));
    await controller.reload();
    expect((await controller.list()).map((rollout) => rollout.name).sort()).toEqual(['cart', 'shop']);
    expect(logs.map((line) => line.msg)).not.toContain('config reload rejected; keeping the running config');

    await writeFile(configPath, withAuth('other-token', cart));
    await controller.reload();
    expect(logs).toContainEqual(
      expect.objectContaining({
        msg: 'config: routerAuth changed; restart control to apply it (the rest of the edit is applied)',
        field: 'routerAuth',
      }),
    );
  });

  it('applies nothing of an edit that fails partway, and all of it once it can be applied', async () => {
    await writeFile(configPath, config(null));
    const controller = await start();
    const before = routes.get('default', 'shop');
    // Two new services; the second has a state file control cannot resume from.
    const cartState = join(dir, 'state', 'default_cart.json');
    await writeFile(cartState, '{"version":1}\n');
    const edit = `${config(null).replace('127.0.0.1:1001', '127.0.0.1:1009')}  - name: blog
    tracks:
      stable: { upstream: "http://127.0.0.1:1021" }
  - name: cart
    tracks:
      stable: { upstream: "http://127.0.0.1:1031" }
`;
    await writeFile(configPath, edit);
    await controller.reload();
    expect((await controller.list()).map((rollout) => rollout.name)).toEqual(['shop']);
    expect(routes.get('default', 'shop'), 'shop keeps its table').toEqual(before);
    expect(routes.get('default', 'blog'), 'blog is not started').toBeUndefined();
    expect(logs).toContainEqual(
      expect.objectContaining({
        msg: 'config reload rejected; keeping the running config',
        path: configPath,
        field: cartState,
      }),
    );

    await rm(cartState);
    await controller.reload();
    expect((await controller.list()).map((rollout) => rollout.name)).toEqual(['shop', 'blog', 'cart']);
    expect(routes.get('default', 'shop')?.tracks.stable?.upstream).toBe('http://127.0.0.1:1009');
  });

  it('stops a service removed from the config: its last tick ends, its routes go, its state stays', async () => {
    const withBlog = `${config(null)}  - name: blog
    tracks:
      stable: { upstream: "http://127.0.0.1:1021", admin: ["http://127.0.0.1:2021"] }
      canary: { upstream: "http://127.0.0.1:1022", admin: ["http://127.0.0.1:2022"] }
    rollout: { steps: "10,50", interval: 2s }
`;
    await writeFile(configPath, withBlog);
    const controller = await start();
    const table = routes.get('default', 'blog')!;
    expect(table.weights).toEqual({ stable: 90, canary: 10 });
    const routerPoll = routes.waitNewer('default', 'blog', table.generation, 60_000);

    // blog's tick is analysing (its step is due) when the edit that removes it is applied. The
    // verdict is inconclusive: recorded in the state, no new table (which would answer the poll).
    const entered = signal();
    const release = signal();
    analyzer.outcome = 'inconclusive';
    analyzer.hold = { entered: entered.resolve, release: release.promise };
    clock += 2000;
    const tick = controller.tickAll();
    await entered.promise;
    analyzer.hold = null;
    await writeFile(configPath, config(null));
    let reloaded = false;
    const reload = controller.reload().then(() => {
      reloaded = true;
    });
    await waitFor(
      'blog no longer listed',
      () => controller.list(),
      (rollouts) => !rollouts.some((rollout) => rollout.name === 'blog'),
    );
    // Everything already decided runs before setImmediate: the removal must wait for blog's tick.
    await new Promise(setImmediate);
    expect(reloaded, 'reload finished while the removed service was still ticking').toBe(false);
    release.resolve();
    await Promise.all([tick, reload]);

    expect((await controller.list()).map((rollout) => rollout.name)).toEqual(['shop']);
    expect(routes.get('default', 'blog'), 'route table of the removed service').toBeUndefined();
    expect(routes.waiting(), 'router polls still held').toBe(0);
    await expect(routerPoll, 'the held poll is answered: no table').resolves.toBeNull();
    expect(logs).toContainEqual(
      expect.objectContaining({ service: 'blog', msg: expect.stringContaining('removed from config') }),
    );
    // The state file keeps what the last tick decided, and nothing writes it any more.
    const stateFile = join(dir, 'state', 'default_blog.json');
    const saved = await readFile(stateFile, 'utf8');
    const resumed = { phase: 'Progressing', step: 0, weight: 10, inconclusiveChecks: 1 };
    expect(JSON.parse(saved).status).toMatchObject(resumed);
    await advance(controller, 2000);
    expect(await readFile(stateFile, 'utf8')).toBe(saved);

    // Listed again, it resumes from that state, as after a restart.
    await writeFile(configPath, withBlog);
    await controller.reload();
    expect((await controller.get('default', 'blog')).status).toMatchObject(resumed);
    expect(routes.get('default', 'blog')).toEqual(table);
  });
});
