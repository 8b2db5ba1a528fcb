// Scenarios 3, 5 and 4 of issue 6 on one install, one namespace each: a healthy v2 promoted step by
// step, a tester reaching v2 with `X-Canary: always`, and a failing v2 rolled back — driven with
// `kubectl set image` and checked with kubectl, the switchyard CLI and the clients' own answers.
// Then WebSocket connections through the injected routers while a rollout runs.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { waitUntil } from '../../support/wait-for.js';
import {
  FAST,
  deployShopV1,
  cliStatus,
  type FakeCluster,
  getOnce,
  installSwitchyard,
  jsonpath,
  kubectlOk,
  failureReport,
  routerTables,
  sample,
  startCluster,
  Traffic,
  waitCanaryPhase,
  waitRolledOut,
  WeightTimeline,
  waitCanaryDeploymentGone,
} from './harness.js';

let cluster: FakeCluster;

/**
 * App latency for healthy promotions. With a ~1 ms app the routers' own sub-millisecond overhead
 * (the router of the smaller track proxies most of its requests onward) makes the built-in
 * latency-mann-whitney check fail a healthy v2 (canary p50 0.9–1.35 ms vs stable 0.7–0.8 ms); a
 * shop with a realistic 15 ms per request keeps both tracks in one histogram bucket.
 */
const SAME_SPEED = 'slow15';

beforeAll(async () => {
  cluster = await startCluster();
  await installSwitchyard(cluster);
});

afterAll(async () => {
  await cluster?.close();
});

describe('scenario 3: a healthy v2 is promoted', () => {
  it('pauses the Deployment, runs shop-canary through 5→25→50→100 and ends on v2 with no failed request', async () => {
    const namespace = 'promote';
    // A shop that takes 15 ms per request in both versions (see SAME_SPEED).
    const url = await deployShopV1(
      cluster,
      namespace,
      { ...FAST, steps: '5,25,50' },
      `shop:v1-${SAME_SPEED}`,
    );
    const traffic = new Traffic(url).start();
    // Clients with a connection pool, like an ingress controller: each keeps its connection to one
    // pod's router while that pod's app is replaced.
    const pooled = new Traffic(url, { keepAlive: true }).start();
    const timeline = new WeightTimeline(cluster, namespace, 'shop', () => traffic.now()).start();
    try {
      await kubectlOk(cluster, [
        '-n',
        namespace,
        'set',
        'image',
        'deployment/shop',
        `shop=shop:v2-${SAME_SPEED}`,
      ]);
      await waitUntil(
        'Deployment shop paused and Deployment shop-canary created',
        async () =>
          (await jsonpath(cluster, namespace, 'deployment', 'shop', '{.spec.paused}')) === 'true' &&
          (await jsonpath(
            cluster,
            namespace,
            'deployment',
            'shop-canary',
            '{.spec.template.spec.containers[0].image}',
          )) === `shop:v2-${SAME_SPEED}`
            ? true
            : undefined,
        { timeoutMs: 20_000, intervalMs: 300 },
      );
      const progressing = await waitCanaryPhase(cluster, namespace, 'shop', [
        'Progressing',
        'Promoting',
        'Succeeded',
      ]);
      expect(progressing).not.toBe('Failed');
      // The CLI shows the same rollout as kubectl.
      const status = await cliStatus(cluster, namespace, 'shop');
      expect(['Progressing', 'Promoting', 'Succeeded']).toContain(status.phase);

      await waitCanaryPhase(cluster, namespace, 'shop', ['Succeeded', 'Failed'], 150_000);
      const verdicts = await kubectlOk(cluster, [
        '-n',
        namespace,
        'get',
        'canary',
        'shop',
        '-o',
        'jsonpath={range .status.verdicts[*]}{.step} {.weight} {.outcome} {.canary.requests} {.canary.p50Seconds} {.canary.p99Seconds} / {.stable.requests} {.stable.p50Seconds} {.stable.p99Seconds}{"\\n"}{end}',
      ]);
      console.log(`scenario 3 verdicts:\n${verdicts}`);
      await waitCanaryPhase(cluster, namespace, 'shop', 'Succeeded', 1000);
      await waitCanaryDeploymentGone(cluster, namespace);
    } finally {
      await timeline.stop();
      await traffic.stop();
      await pooled.stop();
    }

    // The Deployment itself now runs v2, unpaused, fully rolled out.
    expect(
      await jsonpath(cluster, namespace, 'deployment', 'shop', '{.spec.template.spec.containers[0].image}'),
    ).toBe(`shop:v2-${SAME_SPEED}`);
    expect(await jsonpath(cluster, namespace, 'deployment', 'shop', '{.spec.paused}')).not.toBe('true');
    await waitRolledOut(cluster, namespace, 'shop');
    expect((await sample(url, 20)).byVersion.v2).toBe(20);
    expect((await cliStatus(cluster, namespace, 'shop')).phase).toBe('Succeeded');

    // Weights as kubectl showed them, in order.
    const weights = timeline.points
      .filter((point) => point.phase !== 'Succeeded')
      .map((point) => point.weight);
    const shifts = weights.filter((weight, index) => weight !== weights[index - 1] && weight > 0);
    expect(shifts.slice(0, 4), JSON.stringify(timeline.points)).toEqual([5, 25, 50, 100]);

    // ...and as the clients felt them: v2's share of the answers during each step.
    const all = traffic.tally();
    const steps = [5, 25, 50].map((weight) => {
      const [period] = timeline.periods(weight);
      // Routers pick a new table up within a long-poll round trip; skip the first second.
      const counts = traffic.tally((period?.from ?? 0) + 1000, period?.to ?? 0);
      return { weight, total: counts.total, share: (counts.byVersion.v2 ?? 0) / Math.max(1, counts.total) };
    });
    const shown = steps.map(
      (step) => `${step.weight}%: v2 ${(step.share * 100).toFixed(1)}% of ${step.total}`,
    );
    console.log(
      `scenario 3: ${all.total} client requests (${JSON.stringify(all.byVersion)}), ${all.failed} failed; by step ${shown.join(', ')}; failures ${all.failures.join(' | ')}`,
    );
    for (const step of steps) {
      expect(step.total, shown.join(', ')).toBeGreaterThan(50);
      expect(step.share, shown.join(', ')).toBeGreaterThan(step.weight === 5 ? 0 : step.weight / 100 - 0.12);
      expect(step.share, shown.join(', ')).toBeLessThan(step.weight / 100 + 0.12);
    }
    expect(all.failed, await failureReport(cluster, all)).toBe(0);
    // Clients keeping their connections (a pool per loop) through the same promotion.
    const kept = pooled.tally();
    console.log(`scenario 3 pooled: ${kept.total} requests, ${kept.failed} failed`);
    expect(kept.failed, await failureReport(cluster, kept)).toBe(0);
    expect(kept.byVersion.v2, JSON.stringify(kept)).toBeGreaterThan(0);
  });
});

describe('scenario 5: X-Canary: always', () => {
  it('reaches v2 as soon as the canary is routable while plain clients stay on v1 at weight 0', async () => {
    const namespace = 'tester';
    // One long step: the split stays at its first weight for the whole check.
    const url = await deployShopV1(cluster, namespace, { ...FAST, steps: '5', interval: '5m' });
    const plain = new Traffic(url, { concurrency: 1 }).start();
    const tester = new Traffic(url, { concurrency: 1, headers: { 'x-canary': 'always' } }).start();
    const timeline = new WeightTimeline(cluster, namespace, 'shop', () => plain.now()).start();
    try {
      await kubectlOk(cluster, ['-n', namespace, 'set', 'image', 'deployment/shop', 'shop=shop:v2']);
      await waitUntil(
        'a request with X-Canary: always answered by v2',
        () => (tester.tally().byVersion.v2 ?? 0) > 0 || undefined,
        { timeoutMs: 60_000, intervalMs: 200, seen: () => tester.tally() },
      );
      const firstV2 = tester.samples.find((entry) => entry.version === 'v2')?.at ?? 0;
      // From then on every tester request reaches v2.
      await waitUntil(
        '20 more tester requests',
        () => tester.tally(firstV2 + 1000).total >= 20 || undefined,
        { timeoutMs: 20_000, intervalMs: 100, seen: () => tester.tally(firstV2) },
      );
      const after = tester.tally(firstV2 + 1000);
      const tables = await routerTables(cluster, namespace);
      expect(after.byVersion, `${JSON.stringify(after)}; routers: ${tables.join(' | ')}`).toEqual({
        v2: after.total,
      });
    } finally {
      await timeline.stop();
      await tester.stop();
      await plain.stop();
    }
    // Before the first weight shift, plain clients saw only v1.
    // kubectl sees the shift up to a poll (~0.5 s) plus a kubectl run after the routers do.
    const firstShift = timeline.points.find((point) => point.weight > 0)?.at ?? Number.POSITIVE_INFINITY;
    const before = plain.tally(0, firstShift - 2000);
    expect(before.total).toBeGreaterThan(0);
    expect(before.byVersion, JSON.stringify(timeline.points)).toEqual({ v1: before.total });
    expect(plain.tally().failed + tester.tally().failed).toBe(0);
    await kubectlOk(cluster, ['delete', 'namespace', namespace, '--wait=false']);
  });
});

describe('scenario 4: a failing v2 is rolled back', () => {
  it('goes back to 0 % within 10 s of the first failing analysis, phase Failed, Event with numbers, v1 serves', async () => {
    const namespace = 'rollback';
    const url = await deployShopV1(cluster, namespace, { ...FAST, steps: '5,25,50' });
    // Enough traffic that the second failing analysis (max-failed-checks 2) has its min-requests of
    // canary answers at 5 % within seconds: the 10 s bound is about the controller, not sampling.
    const traffic = new Traffic(url, { concurrency: 3, pauseMs: 15 }).start();
    const timeline = new WeightTimeline(cluster, namespace, 'shop', () => traffic.now()).start();
    let setImageAt = 0;
    try {
      setImageAt = traffic.now();
      await kubectlOk(cluster, ['-n', namespace, 'set', 'image', 'deployment/shop', 'shop=shop:v2-errors20']);
      await waitCanaryPhase(cluster, namespace, 'shop', 'Failed', 120_000);
      await waitUntil(
        'the weight timeline to show the drop to 0',
        () => timeline.points.some((point) => point.phase === 'Failed') || undefined,
        { timeoutMs: 5000, intervalMs: 100, seen: () => timeline.points },
      );
    } finally {
      await timeline.stop();
      await traffic.stop();
    }
    const canary = JSON.parse(
      await kubectlOk(cluster, ['-n', namespace, 'get', 'canary', 'shop', '-o', 'json']),
    ) as {
      status: { weight: number; verdicts: { at: string; outcome: string }[]; message: string };
    };
    expect(canary.status.weight).toBe(0);
    const firstFail = canary.status.verdicts.find((verdict) => verdict.outcome === 'fail');
    expect(firstFail, JSON.stringify(canary.status.verdicts)).toBeDefined();

    // Weight 0 within 10 s of the first failing analysis (on the controller's clock)...
    const zeroAt = timeline.points.find(
      (point, index) => index > 0 && point.weight === 0 && timeline.points[index - 1]!.weight > 0,
    );
    expect(zeroAt, JSON.stringify(timeline.points)).toBeDefined();
    // ...and as clients felt it: no plain request reached v2 later than 10 s after that verdict.
    const lastV2 = [...traffic.samples]
      .reverse()
      .find((entry) => entry.version !== null && entry.version !== 'v1');
    const failAtMs = Date.parse(firstFail!.at) - (Date.now() - traffic.now());
    expect(lastV2, 'v2 served some requests before the rollback').toBeDefined();
    expect(
      lastV2!.at - failAtMs,
      `last v2 answer ${lastV2!.at}ms, first failing verdict ${failAtMs}ms`,
    ).toBeLessThan(10_000);

    // An Event a user finds with kubectl, with the numbers.
    const events = await kubectlOk(cluster, ['-n', namespace, 'get', 'events', '-o', 'json']);
    const rolledBack = (
      JSON.parse(events) as { items: { reason: string; message: string; type: string }[] }
    ).items.find((event) => event.reason === 'RolledBack');
    expect(rolledBack, events.slice(0, 2000)).toBeDefined();
    expect(rolledBack?.type).toBe('Warning');
    expect(rolledBack?.message).toMatch(/\d+ req/);

    // The Deployment is still paused and serving v1; the canary is gone.
    expect(await jsonpath(cluster, namespace, 'deployment', 'shop', '{.spec.paused}')).toBe('true');
    await waitCanaryDeploymentGone(cluster, namespace);
    const after = await sample(url, 20);
    expect(after.byVersion).toEqual({ v1: 20 });
    expect((await getOnce(url, { 'x-canary': 'always' })).version).toBe('v1');
    expect(await cliStatus(cluster, namespace, 'shop')).toMatchObject({ phase: 'Failed', weight: 0 });

    const all = traffic.tally();
    const sinceRollout = traffic.tally(setImageAt);
    console.log(
      `scenario 4 failures: ${all.failures.join(' | ')}; timeline ${JSON.stringify(timeline.points)}`,
    );
    console.log(
      `scenario 4: ${all.total} client requests, ${all.failed} failed (${sinceRollout.failed} of ${sinceRollout.total} since set image; v2 answered ${all.byVersion.v2 ?? 0}); first failing verdict at ${failAtMs}ms, last v2 answer at ${lastV2!.at}ms`,
    );
    // Errors are bounded by what v2 answered: at most its share of the traffic, never stable's.
    expect(all.failed).toBeLessThanOrEqual(all.byVersion.v2 ?? 0);
  });
});

/** A WebSocket client of the chat fixture (test/e2e/cluster/fixtures/chat.mjs). */
class Chat {
  readonly #socket: WebSocket;
  /** Takes the answer to the message in flight (one at a time). */
  #onAnswer: (answer: string) => void = () => {};
  readonly opened: Promise<void>;
  closed = false;

  constructor(url: string, headers: Readonly<Record<string, string>> = {}) {
    this.#socket = new WebSocket(url.replace(/^http/, 'ws'), { headers });
    this.#socket.on('message', (data) => this.#onAnswer(String(data)));
    this.#socket.on('close', () => {
      this.closed = true;
    });
    this.opened = new Promise((resolve, reject) => {
      this.#socket.once('open', resolve);
      this.#socket.once('error', reject);
      this.#socket.once('unexpected-response', (_req, res) =>
        reject(new Error(`handshake answered HTTP ${res.statusCode}`)),
      );
    });
  }

  /** Sends `text`; resolves with the version and pod that answered it on this connection. */
  async ask(text: string): Promise<{ version: string; pod: string; echo: string }> {
    await this.opened;
    const answer = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer to ${JSON.stringify(text)} within 5 s`)),
        5000,
      );
      this.#onAnswer = (received) => {
        clearTimeout(timer);
        resolve(received);
      };
      this.#socket.send(text);
    });
    return JSON.parse(answer) as { version: string; pod: string; echo: string };
  }

  close(): void {
    this.#socket.close();
  }
}

/** Opens a connection, asks once, closes: who answers a new WebSocket with these headers. */
async function askOnce(url: string, headers: Readonly<Record<string, string>> = {}) {
  const chat = new Chat(url, headers);
  try {
    return await chat.ask('hello');
  } finally {
    chat.close();
  }
}

describe('WebSocket connections through the injected routers', () => {
  it('a tunnel opened before the rollout stays on v1; X-Canary steers new handshakes to v2 and back', async () => {
    const namespace = 'websocket';
    // One long step: the split stays at its first weight for the whole check.
    const url = await deployShopV1(cluster, namespace, { ...FAST, steps: '5', interval: '5m' }, 'chat:v1');
    const early = new Chat(url);
    expect(await early.ask('before')).toMatchObject({ version: 'v1', echo: 'before' });
    try {
      await kubectlOk(cluster, ['-n', namespace, 'set', 'image', 'deployment/shop', 'shop=chat:v2']);
      await waitUntil(
        'a WebSocket with X-Canary: always answered by v2',
        async () => ((await askOnce(url, { 'x-canary': 'always' })).version === 'v2' ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      // Kube-proxy spreads connections over both pods: each handshake reaches v2 or v1 as its
      // header says, whichever pod's router it lands on (hopping to the other track's router).
      const testers = await Promise.all(
        Array.from({ length: 8 }, () => askOnce(url, { 'x-canary': 'always' })),
      );
      const plain = await Promise.all(Array.from({ length: 8 }, () => askOnce(url, { 'x-canary': 'never' })));
      expect(testers.map((answer) => answer.version)).toEqual(Array(8).fill('v2'));
      expect(plain.map((answer) => answer.version)).toEqual(Array(8).fill('v1'));
      // The tunnel opened before the rollout is still the same connection to the same v1 app.
      const before = await early.ask('during');
      expect(before).toMatchObject({ version: 'v1', echo: 'during' });
      expect(early.closed).toBe(false);
      // Messages go both ways many times on one tunnel, in order.
      const tester = new Chat(url, { 'x-canary': 'always' });
      for (let index = 0; index < 20; index++)
        expect(await tester.ask(`message ${index}`)).toMatchObject({
          version: 'v2',
          echo: `message ${index}`,
        });
      tester.close();
    } finally {
      early.close();
    }
    await kubectlOk(cluster, ['delete', 'namespace', namespace, '--wait=false']);
  });
});
