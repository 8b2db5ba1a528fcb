// Scenario 7 of issue 6: control goes away in the middle of a rollout — all of it (scaled to zero and
// back) or only the leading replica (its pod deleted while the other keeps running). Routers keep
// serving their last table meanwhile; the rollout resumes from the Canary status, never repeating
// or skipping a step. And pods going away outside a rollout (a scale-down) under pooled clients.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, waitUntil } from '../../support/wait-for.js';
import {
  FAST,
  deployShopV1,
  failureReport,
  CONTROL_NAMESPACE,
  type FakeCluster,
  installSwitchyard,
  jsonpath,
  kubectl,
  kubectlOk,
  sample,
  startCluster,
  Traffic,
  waitCanaryPhase,
  waitForControl,
  waitForLeader,
  WeightTimeline,
  scaleControl,
} from './harness.js';

let cluster: FakeCluster;

/** 15 ms per request in both versions: see SAME_SPEED in rollout.test.ts. */
const V1_IMAGE = 'shop:v1-slow15';

beforeAll(async () => {
  cluster = await startCluster();
  await installSwitchyard(cluster);
});

afterAll(async () => {
  await cluster?.close();
});

async function weightIs(namespace: string, weight: number): Promise<void> {
  await waitFor(
    `Canary ${namespace}/shop at weight ${weight}`,
    () => jsonpath(cluster, namespace, 'canary', 'shop', '{.status.phase} {.status.weight}'),
    (phaseAndWeight) => phaseAndWeight === `Progressing ${weight}`,
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}

/** Weight steps in the order kubectl saw them, each counted once per appearance. */
function shifts(timeline: WeightTimeline): number[] {
  const weights = timeline.points.filter((point) => point.phase !== 'Succeeded').map((point) => point.weight);
  return weights.filter((weight, index) => weight !== weights[index - 1] && weight > 0);
}

/** Each step's verdicts, in order: a repeated step would show up as a step index going back. */
async function verdictSteps(namespace: string): Promise<number[]> {
  const out = await kubectlOk(cluster, [
    '-n',
    namespace,
    'get',
    'canary',
    'shop',
    '-o',
    'jsonpath={.status.verdicts[*].step}',
  ]);
  return out.trim().split(/\s+/).filter(Boolean).map(Number);
}

describe('scenario 7: control killed mid-rollout', () => {
  it('all of control scaled to zero and back: routers keep the split, the rollout resumes where it was', async () => {
    const namespace = 'restart';
    const url = await deployShopV1(cluster, namespace, { ...FAST, steps: '5,25,50' }, V1_IMAGE);
    const traffic = new Traffic(url).start();
    const timeline = new WeightTimeline(cluster, namespace, 'shop', () => traffic.now()).start();
    let down = { from: 0, to: 0 };
    try {
      await kubectlOk(cluster, ['-n', namespace, 'set', 'image', 'deployment/shop', 'shop=shop:v2-slow15']);
      await weightIs(namespace, 25);
      await scaleControl(cluster, 0);
      await waitUntil(
        'every switchyard-control pod gone',
        async () =>
          (await kubectlOk(cluster, ['-n', CONTROL_NAMESPACE, 'get', 'pods', '-o', 'name'])).trim() === '' ||
          undefined,
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      down = { from: traffic.now(), to: 0 };
      // With no control at all, clients keep getting the 25 % split from the routers' last table.
      await waitUntil(
        '200 client requests while control is down',
        () => traffic.tally(down.from).total >= 200 || undefined,
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      down.to = traffic.now();
      expect(await jsonpath(cluster, namespace, 'canary', 'shop', '{.status.weight}')).toBe('25');
      await scaleControl(cluster, 2);
      await waitForControl(cluster);
      await waitCanaryPhase(cluster, namespace, 'shop', 'Succeeded', 150_000);
    } finally {
      await timeline.stop();
      await traffic.stop();
    }
    const whileDown = traffic.tally(down.from, down.to);
    const share = (whileDown.byVersion.v2 ?? 0) / whileDown.total;
    expect(share, JSON.stringify(whileDown)).toBeGreaterThan(0.1);
    expect(share, JSON.stringify(whileDown)).toBeLessThan(0.4);
    expect(whileDown.failed, await failureReport(cluster, whileDown)).toBe(0);
    expect(shifts(timeline), JSON.stringify(timeline.points)).toEqual([5, 25, 50, 100]);
    const steps = await verdictSteps(namespace);
    expect(steps, 'verdict steps in order').toEqual([...steps].sort((a, b) => a - b));
    expect(traffic.tally().failed, await failureReport(cluster, traffic.tally())).toBe(0);
    expect((await sample(url, 10)).byVersion).toEqual({ v2: 10 });
  });

  it('the leading replica deleted: another takes the Lease over and finishes the rollout', async () => {
    const namespace = 'failover';
    const url = await deployShopV1(cluster, namespace, { ...FAST, steps: '5,25,50' }, V1_IMAGE);
    const traffic = new Traffic(url).start();
    const timeline = new WeightTimeline(cluster, namespace, 'shop', () => traffic.now()).start();
    try {
      const { leader, pods } = await waitForControl(cluster);
      await kubectlOk(cluster, ['-n', namespace, 'set', 'image', 'deployment/shop', 'shop=shop:v2-slow15']);
      await weightIs(namespace, 25);
      await kubectlOk(cluster, ['-n', CONTROL_NAMESPACE, 'delete', 'pod', leader, '--wait=false']);
      // The surviving replica (or the replacement pod, whichever gets the Lease) leads next.
      const next = await waitForLeader(cluster);
      expect(next).not.toBe(leader);
      expect(pods).toHaveLength(2);
      await waitCanaryPhase(cluster, namespace, 'shop', 'Succeeded', 150_000);
    } finally {
      await timeline.stop();
      await traffic.stop();
    }
    expect(shifts(timeline), JSON.stringify(timeline.points)).toEqual([5, 25, 50, 100]);
    const steps = await verdictSteps(namespace);
    expect(steps, 'verdict steps in order').toEqual([...steps].sort((a, b) => a - b));
    expect(traffic.tally().failed, await failureReport(cluster, traffic.tally())).toBe(0);
    expect((await sample(url, 10)).byVersion).toEqual({ v2: 10 });
    const phase = await kubectl(cluster, ['-n', namespace, 'get', 'canary', 'shop']);
    expect(phase.stdout).toContain('Succeeded');
  });
});

describe('pods of an opted-in Deployment going away under pooled clients', () => {
  it('scaled from 3 to 1 replica: clients holding connections to the removed pods see no failed request', async () => {
    const namespace = 'scaledown';
    const url = await deployShopV1(cluster, namespace, FAST, V1_IMAGE);
    await kubectlOk(cluster, ['-n', namespace, 'scale', 'deployment/shop', '--replicas=3']);
    await waitFor(
      'three Ready shop pods',
      () => jsonpath(cluster, namespace, 'deployment', 'shop', '{.status.readyReplicas}'),
      (ready) => ready === '3',
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    // Keep-alive connections, spread by kube-proxy over the three pods' routers.
    const pooled = new Traffic(url, { keepAlive: true, concurrency: 6, pauseMs: 5 }).start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await kubectlOk(cluster, ['-n', namespace, 'scale', 'deployment/shop', '--replicas=1']);
      await waitFor(
        'one shop pod left',
        async () =>
          (await kubectlOk(cluster, ['-n', namespace, 'get', 'pods', '-o', 'name'])).trim().split('\n'),
        (pods) => pods.length === 1,
        { timeoutMs: 60_000, intervalMs: 300 },
      );
      await new Promise((resolve) => setTimeout(resolve, 1500));
    } finally {
      await pooled.stop();
    }
    const seen = pooled.tally();
    console.log(`scale-down: ${seen.total} pooled requests, ${seen.failed} failed`);
    expect(seen.total).toBeGreaterThan(100);
    expect(seen.failed, await failureReport(cluster, seen)).toBe(0);
  });
});
