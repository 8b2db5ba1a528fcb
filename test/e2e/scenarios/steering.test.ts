// Scenario 6 of issue 6 on one install, one namespace each: an A/B test by header rule, a
// blue-green switch, a blue-green judged on mirrored POSTs alone, a manual promotion that waits for
// `switchyard promote`, and `switchyard abort` in the middle of a rollout.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../support/wait-for.js';
import {
  FAST,
  deployShopV1,
  cliStatus,
  type FakeCluster,
  failureReport,
  installSwitchyard,
  jsonpath,
  kubectlOk,
  sample,
  startCluster,
  switchyardOk,
  Traffic,
  waitCanaryPhase,
  waitRolledOut,
  WeightTimeline,
  waitCanaryDeploymentGone,
} from './harness.js';

let cluster: FakeCluster;

beforeAll(async () => {
  cluster = await startCluster();
  await installSwitchyard(cluster);
});

afterAll(async () => {
  await cluster?.close();
});

async function setImage(namespace: string, image: string): Promise<void> {
  await kubectlOk(cluster, ['-n', namespace, 'set', 'image', 'deployment/shop', `shop=${image}`]);
}

/** The first moment (traffic clock) a sample was answered by `version`. */
function firstAnswer(traffic: Traffic, version: string): number | undefined {
  return traffic.samples.find((entry) => entry.version === version)?.at;
}

describe('scenario 6: steering a rollout', () => {
  it('A/B: requests matching the header rule reach v2 for the whole analysis, the rest stay on v1', async () => {
    const namespace = 'ab';
    const url = await deployShopV1(cluster, namespace, {
      ...FAST,
      strategy: 'ab',
      match: '[{"header":{"name":"x-user-group","exact":"beta"}}]',
    });
    const everyone = new Traffic(url, { concurrency: 1 }).start();
    const beta = new Traffic(url, { concurrency: 1, headers: { 'x-user-group': 'beta' } }).start();
    const timeline = new WeightTimeline(cluster, namespace, 'shop', () => everyone.now()).start();
    try {
      await setImage(namespace, 'shop:v2');
      await waitCanaryPhase(cluster, namespace, 'shop', 'Succeeded', 150_000);
    } finally {
      await timeline.stop();
      await beta.stop();
      await everyone.stop();
    }
    const betaFirst = firstAnswer(beta, 'v2');
    expect(betaFirst, JSON.stringify(beta.tally())).toBeDefined();
    // kubectl saw the promotion start at this moment; the routers switched shortly before.
    const promotingSeen = timeline.points.find((point) =>
      ['Promoting', 'Succeeded'].includes(point.phase),
    )?.at;
    expect(promotingSeen, JSON.stringify(timeline.points)).toBeDefined();
    const promotingAt = promotingSeen! - 2500;
    // While the test ran (the canary routable, not yet promoting): beta only v2, everyone else only v1.
    const during = {
      beta: beta.tally(betaFirst! + 1000, promotingAt),
      everyone: everyone.tally(0, promotingAt),
    };
    expect(during.beta.total).toBeGreaterThan(20);
    expect(during.beta.byVersion, JSON.stringify(during)).toEqual({ v2: during.beta.total });
    expect(during.everyone.byVersion, JSON.stringify(during)).toEqual({ v1: during.everyone.total });
    // No weighted split ever happened: the weight went from 0 straight to the promotion.
    expect(timeline.points.filter((point) => point.weight > 0 && point.weight < 100)).toEqual([]);
    expect(beta.tally().failed + everyone.tally().failed).toBe(0);
    await waitCanaryDeploymentGone(cluster, namespace);
    expect((await sample(url, 10)).byVersion).toEqual({ v2: 10 });
  });

  it('blue-green: v2 gets no live traffic, testers reach it with X-Canary, then all traffic switches at once', async () => {
    const namespace = 'bluegreen';
    const url = await deployShopV1(cluster, namespace, { ...FAST, strategy: 'bluegreen' });
    const everyone = new Traffic(url, { concurrency: 1 }).start();
    const tester = new Traffic(url, { concurrency: 1, headers: { 'x-canary': 'always' } }).start();
    const timeline = new WeightTimeline(cluster, namespace, 'shop', () => everyone.now()).start();
    try {
      await setImage(namespace, 'shop:v2');
      await waitCanaryPhase(cluster, namespace, 'shop', 'Succeeded', 120_000);
      await waitUntil(
        '20 client requests from 3 s after the switch on',
        () =>
          everyone.tally((firstAnswer(everyone, 'v2') ?? Number.POSITIVE_INFINITY) + 3000).total >= 20 ||
          undefined,
        { timeoutMs: 20_000, intervalMs: 100, seen: () => everyone.tally() },
      );
    } finally {
      await timeline.stop();
      await tester.stop();
      await everyone.stop();
    }
    const testerFirst = firstAnswer(tester, 'v2');
    const everyoneFirst = firstAnswer(everyone, 'v2');
    const seen = `tester first v2 ${testerFirst}ms, everyone first v2 ${everyoneFirst}ms, timeline ${JSON.stringify(timeline.points)}`;
    expect(testerFirst, JSON.stringify(tester.tally())).toBeDefined();
    expect(everyoneFirst, JSON.stringify(everyone.tally())).toBeDefined();
    // Testers reached v2 well before anyone else did.
    expect(testerFirst!, seen).toBeLessThan(everyoneFirst!);
    const beforeSwitch = tester.tally(testerFirst! + 1000, everyoneFirst!);
    expect(beforeSwitch.total, seen).toBeGreaterThan(20);
    expect(beforeSwitch.byVersion).toEqual({ v2: beforeSwitch.total });
    // The switch: weights seen by kubectl were only 0 and 100, never in between.
    const weights = [...new Set(timeline.points.map((point) => point.weight))];
    expect(
      weights.every((weight) => weight === 0 || weight === 100),
      JSON.stringify(timeline.points),
    ).toBe(true);
    expect(weights).toContain(100);
    // ...and as clients saw it: after the first v2 answer, everyone is on v2 within a few seconds.
    const settled = everyone.tally(everyoneFirst! + 3000);
    expect(settled.byVersion, JSON.stringify(settled)).toEqual({ v2: settled.total });
    expect(tester.tally().failed + everyone.tally().failed).toBe(0);
  });

  it('blue-green on mirrored POSTs: a failing v2 is judged on copies of live writes, clients never see it', async () => {
    const namespace = 'bluegreen-mirror';
    const url = await deployShopV1(cluster, namespace, { ...FAST, strategy: 'bluegreen', mirror: '100' });
    // Only POSTs, no testers: the canary's only traffic is the copies of these requests.
    const checkout = new Traffic(`${url}/checkout`, { body: '{"items":["tea"]}' }).start();
    try {
      await setImage(namespace, 'shop:v2-errors20');
      // Under the progress deadline (10 intervals = 100 s): a rollout that saw no copies would
      // still be waiting, inconclusive, when this gives up.
      await waitCanaryPhase(cluster, namespace, 'shop', 'Failed', 60_000);
    } finally {
      await checkout.stop();
    }
    const canary = JSON.parse(
      await kubectlOk(cluster, ['-n', namespace, 'get', 'canary', 'shop', '-o', 'json']),
    ) as { status: { verdicts: { outcome: string }[] } };
    expect(
      canary.status.verdicts.some((verdict) => verdict.outcome === 'fail'),
      JSON.stringify(canary.status.verdicts),
    ).toBe(true);
    const seen = checkout.tally();
    expect(seen.byVersion, JSON.stringify(seen)).toEqual({ v1: seen.total });
    expect(seen.failed, await failureReport(cluster, seen)).toBe(0);
  });

  it('manual promotion waits at the last step until `switchyard promote`', async () => {
    const namespace = 'manual';
    const url = await deployShopV1(cluster, namespace, { ...FAST, steps: '50', promotion: 'manual' });
    const traffic = new Traffic(url).start();
    try {
      await setImage(namespace, 'shop:v2');
      await waitCanaryPhase(cluster, namespace, 'shop', 'WaitingForPromotion', 90_000);
      // Waiting: the Deployment is still paused with the canary beside it, and the CLI says so.
      expect(await cliStatus(cluster, namespace, 'shop')).toMatchObject({ phase: 'WaitingForPromotion' });
      expect(await jsonpath(cluster, namespace, 'deployment', 'shop', '{.spec.paused}')).toBe('true');
      expect(await jsonpath(cluster, namespace, 'deployment', 'shop-canary', '{.status.readyReplicas}')).toBe(
        '1',
      );
      const out = await switchyardOk(cluster, ['promote', '-n', namespace, 'shop']);
      expect(out).toContain('shop');
      await waitCanaryPhase(cluster, namespace, 'shop', 'Succeeded', 90_000);
    } finally {
      await traffic.stop();
    }
    await waitCanaryDeploymentGone(cluster, namespace);
    expect(
      await jsonpath(cluster, namespace, 'deployment', 'shop', '{.spec.template.spec.containers[0].image}'),
    ).toBe('shop:v2');
    await waitRolledOut(cluster, namespace, 'shop');
    expect((await sample(url, 10)).byVersion).toEqual({ v2: 10 });
    const all = traffic.tally();
    console.log(`manual promotion: ${all.total} client requests, ${all.failed} failed`);
    expect(all.failed, await failureReport(cluster, all)).toBe(0);
  });

  it('`switchyard abort` mid-rollout takes v2 out of traffic at once and leaves v1 serving', async () => {
    const namespace = 'abort';
    // Long steps: the rollout would sit at 25 % for minutes without the abort.
    const url = await deployShopV1(cluster, namespace, { ...FAST, steps: '25,50', interval: '5m' });
    const traffic = new Traffic(url).start();
    let abortedAt = 0;
    try {
      await setImage(namespace, 'shop:v2');
      await waitCanaryPhase(cluster, namespace, 'shop', 'Progressing');
      await waitUntil(
        'v2 answering some clients',
        () => (traffic.tally().byVersion.v2 ?? 0) > 5 || undefined,
        { timeoutMs: 20_000, intervalMs: 100, seen: () => traffic.tally() },
      );
      await switchyardOk(cluster, ['abort', '-n', namespace, 'shop']);
      abortedAt = traffic.now();
      await waitCanaryPhase(cluster, namespace, 'shop', 'Failed', 30_000);
      await waitCanaryDeploymentGone(cluster, namespace);
    } finally {
      await traffic.stop();
    }
    const status = await cliStatus(cluster, namespace, 'shop');
    expect(status).toMatchObject({ phase: 'Failed', weight: 0 });
    expect(status.message).toContain('aborted');
    expect(await jsonpath(cluster, namespace, 'deployment', 'shop', '{.spec.paused}')).toBe('true');
    // After the abort took effect no client was answered by v2.
    const lastV2 = [...traffic.samples].reverse().find((entry) => entry.version === 'v2')?.at ?? 0;
    expect(lastV2 - abortedAt, 'ms from `switchyard abort` returning to the last v2 answer').toBeLessThan(
      10_000,
    );
    expect((await sample(url, 10)).byVersion).toEqual({ v1: 10 });
    expect(traffic.tally().failed, await failureReport(cluster, traffic.tally())).toBe(0);
  });
});
