// Leader election between two control replicas, operator commands through the Canary annotation,
// and conflicting writers: the rollout converges whoever else writes the Canary.

import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANARY_GROUP, CANARY_PLURAL, CANARY_VERSION } from '../../../api/canary.js';
import { ErrorCode } from '../../../api/errors.js';
import { statusOf } from '../../../controller/kube/canary-object.js';
import { KubeRollouts } from '../../../controller/kube/commands.js';
import type { KubeController } from '../../../controller/kube/controller.js';
import {
  appDeployment,
  type Harness,
  NAMESPACE,
  readCanary,
  releaseNewImage,
  ScriptedAnalyzer,
  startHarness,
  waitFor,
} from './harness.js';

let harness: Harness;
let leader: KubeController;
let rollouts: KubeRollouts;
const analyzer = new ScriptedAnalyzer();

beforeAll(async () => {
  harness = await startHarness();
  rollouts = new KubeRollouts({
    custom: harness.custom,
    core: harness.core,
    now: () => new Date(),
    pollMs: 25,
  });
});

afterAll(async () => {
  await harness?.close();
});

async function status(name: string) {
  return statusOf((await readCanary(harness.custom, name)) ?? undefined);
}

describe('leader election', () => {
  it('only the Lease holder reconciles; both serve routes; the other takes over when it stops', async () => {
    const first = await harness.startController('control-1', analyzer);
    await waitFor('control-1 to lead', async () => (first.controller.isLeader ? true : undefined));
    const second = await harness.startController('control-2', analyzer);
    await harness.apps.createNamespacedDeployment({
      namespace: NAMESPACE,
      body: appDeployment('cart', 'shop:v1'),
    });
    await waitFor('Canary cart', async () => ((await status('cart')) ? true : undefined));
    await waitFor('both replicas to serve the cart table', async () =>
      first.routes.get(NAMESPACE, 'cart') && second.routes.get(NAMESPACE, 'cart') ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(second.controller.isLeader).toBe(false);
    expect(second.controller.reconciles).toBe(0);
    expect(first.controller.reconciles).toBeGreaterThan(0);

    await first.controller.stop();
    await waitFor('control-2 to take over', async () => (second.controller.isLeader ? true : undefined));
    leader = second.controller;
    analyzer.outcome = 'inconclusive';
    await releaseNewImage(harness.apps, 'cart', 'shop:v2');
    await waitFor('the new leader to start the rollout', async (see) => {
      const current = await status('cart');
      see(current?.phase);
      return current?.phase === 'Progressing' ? true : undefined;
    });
    expect(second.controller.reconciles).toBeGreaterThan(0);
    expect(second.routes.get(NAMESPACE, 'cart')?.weights).toEqual({ stable: 80, canary: 20 });
  });
});

describe('operator commands through the Canary', () => {
  it('pause and set-weight are taken by the leader and answered in the status; invalid ones are rejected', async () => {
    const paused = await rollouts.command(NAMESPACE, 'cart', { type: 'set-weight', weight: 40 });
    expect(paused).toMatchObject({ phase: 'Paused', weight: 40 });
    const annotations = (await readCanary(harness.custom, 'cart'))?.metadata.annotations ?? {};
    expect(annotations['switchyard.io/command']).toBeUndefined();
    await expect(rollouts.command(NAMESPACE, 'cart', { type: 'pause' })).rejects.toMatchObject({
      code: ErrorCode.CommandRejected,
      message: expect.stringContaining('already paused'),
    });
    await expect(rollouts.command(NAMESPACE, 'nope', { type: 'abort' })).rejects.toMatchObject({
      code: ErrorCode.NotFound,
    });
  });

  it('abort takes the canary out of traffic and fails the rollout; retry is then the only way back', async () => {
    const aborted = await rollouts.command(NAMESPACE, 'cart', { type: 'abort' });
    expect(aborted.weight).toBe(0);
    await waitFor('cart Failed', async () => ((await status('cart'))?.phase === 'Failed' ? true : undefined));
    await expect(rollouts.command(NAMESPACE, 'cart', { type: 'pause' })).rejects.toMatchObject({
      code: ErrorCode.CommandRejected,
    });
    const listed = await rollouts.list(NAMESPACE);
    expect(listed.map((item) => `${item.name}:${item.phase}`)).toEqual(['cart:Failed']);
    const events = await rollouts.events(NAMESPACE, 'cart');
    expect(events.map((event) => event.reason)).toContain('RolledBack');
  });

  it('a rollout converges while another writer keeps changing the Canary (409 conflicts retried)', async () => {
    analyzer.outcome = 'pass';
    const custom = harness.kubeConfig.makeApiClient(CustomObjectsApi);
    let writes = 0;
    let stop = false;
    const noisy = (async () => {
      while (!stop) {
        await custom
          .patchNamespacedCustomObject(
            {
              group: CANARY_GROUP,
              version: CANARY_VERSION,
              plural: CANARY_PLURAL,
              namespace: NAMESPACE,
              name: 'cart',
              body: { metadata: { labels: { noise: String(writes++) } } },
            },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          )
          .catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    })();
    await rollouts.command(NAMESPACE, 'cart', { type: 'retry' });
    await waitFor(
      'cart Succeeded despite concurrent writes',
      async (see) => {
        const current = await status('cart');
        see(current && { phase: current.phase, weight: current.weight });
        return current?.phase === 'Succeeded' ? true : undefined;
      },
      20_000,
    );
    stop = true;
    await noisy;
    expect(writes).toBeGreaterThan(10);
    expect(leader.conflicts).toBeGreaterThan(0);
  });
});
