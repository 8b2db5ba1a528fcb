// The Kubernetes adapter end to end against the fake API server with the real client-node: Canary
// creation, canary workload and Services, weights, promotion, rollback, restart, 409 retries and
// patch-service.

import { isDeepStrictEqual } from 'node:util';
import { ApiException, PatchStrategy, setHeaderOptions, type V1Deployment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CA_CONFIGMAP,
  HOP_SECRET,
  Label,
  OwnedAnnotation,
  PATCH_SERVICE_ANNOTATION,
  podTemplateHash,
} from '../../../api/annotations.js';
import { ErrorCode } from '../../../api/errors.js';
import { type CanaryStatus, statusOf } from '../../../controller/kube/canary-object.js';
import { KubeRollouts } from '../../../controller/kube/commands.js';
import type { KubeController } from '../../../controller/kube/controller.js';
import { REVISION_ANNOTATION } from '../../../controller/kube/names.js';
import { ApiError } from '../../e2e/cluster/objects.js';
import { transition } from '../../../controller/transition.js';
import type { RouteStore } from '../../../controller/route-server.js';
import { waitFor, waitUntil } from '../../support/wait-for.js';
import {
  appDeployment,
  type Harness,
  NAMESPACE,
  readCanary,
  readyAdminUrls,
  releaseNewImage,
  ScriptedAnalyzer,
  startHarness,
  KUBE_WAIT,
} from './harness.js';

let harness: Harness;
const analyzer = new ScriptedAnalyzer();
let controller: KubeController;
let routes: RouteStore;

beforeAll(async () => {
  harness = await startHarness();
  ({ controller, routes } = await harness.startController('control-a', analyzer, { caBundle: () => 'PEM' }));
});

afterAll(async () => {
  await harness?.close();
});

async function waitPhase(name: string, phase: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    `${name} in phase ${phase}`,
    async () => {
      const status = statusOf((await readCanary(harness.custom, name)) ?? undefined);
      return status && { phase: status.phase, weight: status.weight, message: status.message };
    },
    (status) => status?.phase === phase,
    { timeoutMs, intervalMs: 50 },
  );
}

/** What `switchyard promote|abort|retry…` uses on Kubernetes: a command annotation, answered in status. */
function operator(): KubeRollouts {
  return new KubeRollouts({ custom: harness.custom, core: harness.core, now: () => new Date(), pollMs: 25 });
}

async function canaryWorkload(name: string): Promise<V1Deployment | null> {
  return harness.apps
    .readNamespacedDeployment({ name: `${name}-canary`, namespace: NAMESPACE })
    .catch(() => null);
}

/** The Deployment once it is released: not paused, no revision pending. */
async function released(name: string): Promise<V1Deployment> {
  return waitUntil(
    `${name} unpaused without a pending revision`,
    async () => {
      const deployment = await harness.apps.readNamespacedDeployment({ name, namespace: NAMESPACE });
      const pending = deployment.metadata?.annotations?.[OwnedAnnotation.pendingRevision];
      return deployment.spec?.paused !== true && pending === undefined ? deployment : undefined;
    },
    KUBE_WAIT,
  );
}

/** The canary Deployment once it runs `revision`. */
async function canaryOf(name: string, revision: string | null): Promise<V1Deployment> {
  return waitUntil(
    `${name}-canary of revision ${revision}`,
    async () => {
      const workload = await canaryWorkload(name);
      const running = workload?.metadata?.annotations?.[REVISION_ANNOTATION];
      return revision !== null && running === revision ? workload! : undefined;
    },
    KUBE_WAIT,
  );
}

/**
 * What the release gate does on a template change (new image, paused, pending hash), written into
 * the fake API server's store at once, without a request: for a user's apply that must land at an
 * exact point of a reconcile.
 */
function holdNewImageNow(name: string, image: string): string {
  const store = harness.cluster.api.store;
  const deployment = store.get('apps/deployments', NAMESPACE, name) as unknown as V1Deployment;
  deployment.spec!.template.spec!.containers[0]!.image = image;
  const revision = podTemplateHash(deployment.spec!.template);
  deployment.spec!.paused = true;
  deployment.metadata!.annotations = {
    ...deployment.metadata!.annotations,
    [OwnedAnnotation.pendingRevision]: revision,
  };
  deployment.metadata!.generation = (deployment.metadata!.generation ?? 1) + 1;
  store.put('apps/deployments', deployment as never);
  return revision;
}

/** Runs a read-modify-replace again when another writer got in between (409), as kubectl does. */
async function retryOnConflict(write: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 409) || attempt > 20) throw error;
    }
  }
}

/** An opted-in Deployment `name` at app:v1, once its Canary has a status (Idle). */
async function createIdle(
  name: string,
  annotations: Record<string, string> = {},
): Promise<NonNullable<Awaited<ReturnType<typeof readCanary>>>> {
  await harness.apps.createNamespacedDeployment({
    namespace: NAMESPACE,
    body: appDeployment(name, 'app:v1', annotations),
  });
  return waitUntil(
    `Canary ${name} with status`,
    async () => {
      const object = await readCanary(harness.custom, name);
      return statusOf(object ?? undefined) ? object! : undefined;
    },
    KUBE_WAIT,
  );
}

type IdleCanary = Awaited<ReturnType<typeof createIdle>>;

/** Writes `idle`'s Canary status with `fields` changed, as a controller that stopped mid-step left it. */
async function leaveStatus(idle: IdleCanary, fields: Partial<CanaryStatus>): Promise<void> {
  await harness.custom.replaceNamespacedCustomObjectStatus({
    group: 'switchyard.io',
    version: 'v1alpha1',
    plural: 'canaries',
    namespace: NAMESPACE,
    name: idle.metadata!.name!,
    body: { ...idle, status: { ...statusOf(idle)!, phaseSince: harness.now().toISOString(), ...fields } },
  });
}

/** The status an operator's promote writes: 100 % to the canary, `revision` about to become stable. */
function promoting(revision: string): Partial<CanaryStatus> {
  return {
    phase: 'Promoting',
    canaryRevision: revision,
    step: 2,
    weight: 100,
    message: `promoted by operator: 100% to canary, promoting ${revision} to stable`,
  };
}

describe('Kubernetes adapter', () => {
  it('creates a Canary owned by an opted-in Deployment and serves a stable-only route table', async () => {
    const created = await harness.apps.createNamespacedDeployment({
      namespace: NAMESPACE,
      body: appDeployment('shop', 'app:v1'),
    });
    const canary = await waitUntil(
      'Canary shop with status',
      async () => {
        const object = await readCanary(harness.custom, 'shop');
        return statusOf(object ?? undefined) ? object! : undefined;
      },
      KUBE_WAIT,
    );
    expect(canary.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Deployment', name: 'shop', uid: created.metadata!.uid }),
    ]);
    expect(statusOf(canary)).toMatchObject({ phase: 'Idle', weight: 0, steps: [20, 50], strategy: 'canary' });
    const table = routes.get(NAMESPACE, 'shop');
    expect(table?.tracks).toEqual({ stable: { upstream: 'http://shop-stable.default.svc' } });
    expect(table?.weights).toEqual({ stable: 100 });
    // Not opted in: nothing happens to it.
    await harness.apps.createNamespacedDeployment({
      namespace: NAMESPACE,
      body: { ...appDeployment('plain', 'app:v1'), metadata: { name: 'plain', namespace: NAMESPACE } },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await readCanary(harness.custom, 'plain')).toBeNull();
  });

  it('releases a pending revision as a canary, steps its weight and promotes it', async () => {
    analyzer.outcome = 'pass';
    const revision = await releaseNewImage(harness.apps, 'shop', 'app:v2');
    const canary = await waitUntil(
      'shop-canary Deployment',
      async () => (await canaryWorkload('shop')) ?? undefined,
      KUBE_WAIT,
    );
    expect(canary.spec?.template.spec?.containers[0]?.image).toBe('app:v2');
    expect(canary.spec?.template.metadata?.labels?.[Label.track]).toBe('canary');
    expect(canary.spec?.selector.matchLabels).toEqual({ app: 'shop', [Label.track]: 'canary' });
    expect(canary.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'Canary',
      name: 'shop',
      controller: true,
    });
    const services = await Promise.all(
      ['stable', 'canary'].map((track) =>
        harness.core.readNamespacedService({ name: `shop-${track}`, namespace: NAMESPACE }),
      ),
    );
    expect(services.map((service) => service.spec?.selector?.[Label.track])).toEqual(['stable', 'canary']);
    expect(services[0]?.spec?.ports?.[0]).toMatchObject({ port: 80, targetPort: 15001 });
    const hop = await harness.core.readNamespacedSecret({ name: HOP_SECRET.name, namespace: NAMESPACE });
    // Printable: routers send the mounted file as the x-switchyard-hop header value.
    expect(Buffer.from(hop.data?.[HOP_SECRET.key] ?? '', 'base64').toString()).toMatch(/^[0-9a-f]{64}$/);
    const ca = await harness.core.readNamespacedConfigMap({ name: CA_CONFIGMAP.name, namespace: NAMESPACE });
    expect(ca.data?.[CA_CONFIGMAP.key]).toBe('PEM');

    // Weights seen by routers move 20 → 50 → 100 → back to stable 100.
    const seenWeights = new Set<number>();
    await waitFor(
      'route table at canary 20%',
      () => routes.get(NAMESPACE, 'shop')?.weights,
      (weights) => weights?.canary === 20,
      KUBE_WAIT,
    );
    expect(routes.get(NAMESPACE, 'shop')?.tracks.canary?.upstream).toBe('http://shop-canary.default.svc');
    expect((await canaryWorkload('shop'))?.spec?.replicas).toBe(1);
    // The analysis scrapes the routers' admin port on the ready pods of each track.
    const podIps = (track: string): Promise<string[]> => readyAdminUrls(harness.core, 'shop', track, 15020);
    await waitFor(
      "analysis windows with both tracks' scrape targets",
      async () => {
        const window = analyzer.lastWindow;
        const [stable, canary] = [await podIps('stable'), await podIps('canary')];
        return {
          window: window && { stable: window.stable.admin, canary: window.canary.admin },
          stable,
          canary,
        };
      },
      ({ window, stable, canary }) =>
        canary.length === 1 &&
        stable.length === 4 &&
        JSON.stringify(window?.canary) === JSON.stringify(canary) &&
        JSON.stringify(window?.stable) === JSON.stringify(stable),
      KUBE_WAIT,
    );
    expect(analyzer.lastWindow?.canary.upstream).toBe('http://shop-canary.default.svc:80');
    await waitFor(
      'route table at canary 50%',
      () => {
        const weights = routes.get(NAMESPACE, 'shop')?.weights;
        if (weights?.canary !== undefined) seenWeights.add(weights.canary);
        return weights;
      },
      (weights) => weights?.canary === 50,
      KUBE_WAIT,
    );
    // More canary traffic waits for canary capacity: by the time routers see 50%, the canary was
    // scaled to 2 of 4 replicas and both are available (4 once promotion has asked for 100%).
    const scaled = await canaryWorkload('shop');
    expect(scaled?.spec?.replicas).toBeGreaterThanOrEqual(2);
    expect(scaled?.status?.availableReplicas).toBeGreaterThanOrEqual(2);
    await waitPhase('shop', 'Succeeded');
    const deployment = await harness.apps.readNamespacedDeployment({ name: 'shop', namespace: NAMESPACE });
    expect(deployment.spec?.paused).toBe(false);
    expect(deployment.metadata?.annotations?.[OwnedAnnotation.pendingRevision]).toBeUndefined();
    const status = statusOf((await readCanary(harness.custom, 'shop'))!)!;
    expect(status).toMatchObject({ stableRevision: revision, canaryRevision: null, weight: 0 });
    expect(status.conditions.find((condition) => condition.type === 'Ready')?.status).toBe('True');
    await waitUntil('shop-canary deleted', async () => (await canaryWorkload('shop')) === null, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    expect(routes.get(NAMESPACE, 'shop')?.weights).toEqual({ stable: 100 });
    expect(routes.get(NAMESPACE, 'shop')?.generation).toBe(status.routeGeneration);
    const events = await harness.core.listNamespacedEvent({
      namespace: NAMESPACE,
      fieldSelector: 'involvedObject.name=shop',
    });
    expect(events.items.map((event) => event.reason)).toEqual(
      expect.arrayContaining(['RolloutStarted', 'StepStarted', 'CanaryScaling', 'Promoting', 'Succeeded']),
    );
  });

  it('rolls a failing canary back: Failed, Event with the numbers, Deployment still paused and untouched', async () => {
    analyzer.outcome = 'fail';
    analyzer.fastFail = true;
    const revision = await releaseNewImage(harness.apps, 'shop', 'app:v3-errors50');
    const before = await harness.apps.readNamespacedDeployment({ name: 'shop', namespace: NAMESPACE });
    await waitPhase('shop', 'Failed');
    const status = statusOf((await readCanary(harness.custom, 'shop'))!)!;
    expect(status.failedRevisions).toContain(revision);
    expect(status.weight).toBe(0);
    expect(routes.get(NAMESPACE, 'shop')?.weights).toEqual({ stable: 100 });
    expect(await canaryWorkload('shop')).toBeNull();
    const after = await harness.apps.readNamespacedDeployment({ name: 'shop', namespace: NAMESPACE });
    expect(after.spec).toEqual(before.spec);
    expect(after.spec?.paused).toBe(true);
    const events = await harness.core.listNamespacedEvent({
      namespace: NAMESPACE,
      fieldSelector: 'involvedObject.name=shop',
    });
    const rolledBack = events.items.find((event) => event.reason === 'RolledBack');
    expect(rolledBack?.type).toBe('Warning');
    expect(rolledBack?.message).toContain('0.50 < 0.99');
    // The same failed template is left alone.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await canaryWorkload('shop')).toBeNull();
    expect(statusOf((await readCanary(harness.custom, 'shop'))!)?.phase).toBe('Failed');
  });

  it('re-applying the stable template after a rollback releases the Deployment (git revert)', async () => {
    const { stableRevision } = statusOf((await readCanary(harness.custom, 'shop'))!)!;
    const revision = await releaseNewImage(harness.apps, 'shop', 'app:v2');
    expect(revision).toBe(stableRevision);
    // Nothing is pending any more: a Deployment left paused would stay held for good (the webhook
    // re-pauses `kubectl rollout resume`; promote/abort have no rollout to act on).
    const deployment = await released('shop');
    expect(deployment.spec?.template.spec?.containers[0]?.image).toBe('app:v2');
    expect(await canaryWorkload('shop')).toBeNull();
    expect(statusOf((await readCanary(harness.custom, 'shop'))!)).toMatchObject({
      stableRevision,
      weight: 0,
    });
  });

  it('after that revert, retry is refused with the reason; re-applying the failed template makes it retryable', async () => {
    const rollouts = operator();
    const { stableRevision, failedRevisions } = statusOf((await readCanary(harness.custom, 'shop'))!)!;
    const failed = failedRevisions.at(-1);
    await expect(rollouts.command(NAMESPACE, 'shop', { type: 'retry' })).rejects.toMatchObject({
      code: ErrorCode.CommandRejected,
      message: expect.stringContaining(`nothing to retry: stable revision ${stableRevision} was re-applied`),
    });
    expect(statusOf((await readCanary(harness.custom, 'shop'))!)).toMatchObject({
      phase: 'Failed',
      canaryRevision: null,
    });
    expect(await canaryWorkload('shop')).toBeNull();

    const again = await releaseNewImage(harness.apps, 'shop', 'app:v3-errors50');
    expect(again).toBe(failed);
    await waitFor(
      'the failed revision held again',
      async () => statusOf((await readCanary(harness.custom, 'shop')) ?? undefined)?.canaryRevision,
      (revision) => revision === failed,
      KUBE_WAIT,
    );
    const retried = await rollouts.command(NAMESPACE, 'shop', { type: 'retry' });
    expect(retried).toMatchObject({ phase: 'Initializing', canaryRevision: failed });
    const canary = await canaryOf('shop', failed ?? null);
    expect(canary.spec?.template.spec?.containers[0]?.image).toBe('app:v3-errors50');
    await waitPhase('shop', 'Failed');
  });

  it('a restarted controller resumes the rollout at the same step', async () => {
    analyzer.outcome = 'inconclusive';
    analyzer.fastFail = false;
    await releaseNewImage(harness.apps, 'shop', 'app:v4');
    await waitFor(
      'step 1 at 20%',
      async () => {
        const status = statusOf((await readCanary(harness.custom, 'shop')) ?? undefined);
        return status && { phase: status.phase, step: status.step, weight: status.weight };
      },
      (status) => status?.phase === 'Progressing' && status.weight === 20,
      KUBE_WAIT,
    );
    await controller.stop();
    const before = statusOf((await readCanary(harness.custom, 'shop'))!)!;
    const restarted = await harness.startController('control-b', analyzer, { caBundle: () => 'PEM' });
    controller = restarted.controller;
    routes = restarted.routes;
    await waitUntil(
      'the new controller to serve the resumed table',
      () => routes.get(NAMESPACE, 'shop')?.generation === before.routeGeneration,
      KUBE_WAIT,
    );
    expect(routes.get(NAMESPACE, 'shop')?.weights).toEqual({ stable: 80, canary: 20 });
    await waitUntil('the new controller to lead', () => controller.isLeader, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const resumed = statusOf((await readCanary(harness.custom, 'shop'))!)!;
    expect(resumed).toMatchObject({ phase: 'Progressing', step: before.step, stepSince: before.stepSince });
    analyzer.outcome = 'pass';
    await waitPhase('shop', 'Succeeded');
    expect(statusOf((await readCanary(harness.custom, 'shop'))!)!.routeGeneration).toBeGreaterThan(
      before.routeGeneration,
    );
  });

  it('re-creates a canary Deployment deleted by hand mid-rollout instead of routing to nothing', async () => {
    analyzer.outcome = 'inconclusive';
    analyzer.fastFail = false;
    const revision = await releaseNewImage(harness.apps, 'shop', 'app:v5');
    await waitFor(
      'step 1 at 20%',
      async () => {
        const status = statusOf((await readCanary(harness.custom, 'shop')) ?? undefined);
        return status && { phase: status.phase, weight: status.weight, revision: status.canaryRevision };
      },
      (status) => status?.phase === 'Progressing' && status.weight === 20 && status.revision === revision,
      KUBE_WAIT,
    );
    const deleted = await canaryWorkload('shop');
    await harness.apps.deleteNamespacedDeployment({ name: 'shop-canary', namespace: NAMESPACE });
    // Routers keep sending 20% to shop-canary: it must come back well before the progress deadline.
    const recreated = await waitUntil(
      'shop-canary re-created',
      async () => {
        const workload = await canaryWorkload('shop');
        return workload && workload.metadata?.uid !== deleted?.metadata?.uid ? workload : undefined;
      },
      { timeoutMs: 3_000, intervalMs: 50 },
    );
    expect(recreated.spec?.template.spec?.containers[0]?.image).toBe('app:v5');
    const status = statusOf((await readCanary(harness.custom, 'shop'))!)!;
    expect(status).toMatchObject({ phase: 'Progressing', weight: 20 });
    analyzer.outcome = 'pass';
    await waitPhase('shop', 'Succeeded');
  });

  it('in Succeeded, a failed template re-applied is held (Deployment paused) and retry reruns it', async () => {
    const before = statusOf((await readCanary(harness.custom, 'shop'))!)!;
    expect(before).toMatchObject({ phase: 'Succeeded', canaryRevision: null });
    const failed = before.failedRevisions.at(-1);
    const again = await releaseNewImage(harness.apps, 'shop', 'app:v3-errors50');
    expect(again).toBe(failed);
    const held = await waitUntil(
      'the failed revision held in Succeeded',
      async () => {
        const status = statusOf((await readCanary(harness.custom, 'shop')) ?? undefined);
        return status?.canaryRevision === failed ? status : undefined;
      },
      KUBE_WAIT,
    );
    expect(held).toMatchObject({
      phase: 'Succeeded',
      stableRevision: before.stableRevision,
      message: `revision ${failed} failed before and is held back; retry reruns it`,
    });
    const deployment = await harness.apps.readNamespacedDeployment({ name: 'shop', namespace: NAMESPACE });
    expect(deployment.spec?.paused).toBe(true);
    expect(await canaryWorkload('shop')).toBeNull();

    // The failure was not the revision's fault after all: the operator reruns it, and it passes.
    analyzer.outcome = 'pass';
    analyzer.fastFail = false;
    const retried = await operator().command(NAMESPACE, 'shop', { type: 'retry' });
    expect(retried).toMatchObject({ phase: 'Initializing', canaryRevision: failed });
    const canary = await canaryOf('shop', failed ?? null);
    expect(canary.spec?.template.spec?.containers[0]?.image).toBe('app:v3-errors50');
    await waitFor(
      'the retried revision promoted',
      async () => statusOf((await readCanary(harness.custom, 'shop')) ?? undefined),
      (status) => status?.phase === 'Succeeded' && status.stableRevision === failed,
      KUBE_WAIT,
    );
  });

  it('creates the canary after a restart that came between the Initializing status and its create', async () => {
    // The status is written before actions run: a crash (or a failed create, retried by the work
    // queue with no new transition) must not leave Initializing with no canary until the deadline.
    const idle = await createIdle('cart');
    await controller.stop();
    const revision = await releaseNewImage(harness.apps, 'cart', 'app:cart-v2');
    await leaveStatus(idle, {
      phase: 'Initializing',
      canaryRevision: revision,
      message: `new revision: waiting for canary ${revision} to be ready`,
    });
    ({ controller, routes } = await harness.startController('control-c', analyzer, {
      caBundle: () => 'PEM',
    }));
    analyzer.outcome = 'pass';
    const created = await waitUntil(
      'cart-canary created after the restart',
      async () => (await canaryWorkload('cart')) ?? undefined,
      { timeoutMs: 4_000, intervalMs: 50 },
    );
    expect(created.spec?.template.spec?.containers[0]?.image).toBe('app:cart-v2');
    await waitPhase('cart', 'Succeeded');
  });

  it('unpauses the Deployment at once after a restart that came between the Promoting status and the unpause', async () => {
    // Interval 1m: the progress deadline (10 intervals) is 30 s away in test time, so only an
    // unpause asked for on the next tick passes.
    const idle = await createIdle('till', { 'switchyard.io/interval': '1m' });
    await controller.stop();
    const revision = await releaseNewImage(harness.apps, 'till', 'app:till-v2');
    await leaveStatus(idle, promoting(revision));
    ({ controller, routes } = await harness.startController('control-d', analyzer, {
      caBundle: () => 'PEM',
    }));
    const deployment = await released('till');
    expect(deployment.spec?.template.spec?.containers[0]?.image).toBe('app:till-v2');
    await waitPhase('till', 'Succeeded');
    expect(statusOf((await readCanary(harness.custom, 'till'))!)?.stableRevision).toBe(revision);
  });

  it('a template applied while promoting supersedes the promotion: the new revision gets its own canary', async () => {
    // Where a real cluster gets to: the promotion unpaused the Deployment (it is rolling out the
    // promoted revision), then the release gate held a newer template and paused it again. The
    // controller is stopped meanwhile only to reach that state deterministically.
    const idle = await createIdle('swap');
    await controller.stop();
    const promoted = await releaseNewImage(harness.apps, 'swap', 'app:swap-v2');
    await harness.apps.patchNamespacedDeployment(
      {
        name: 'swap',
        namespace: NAMESPACE,
        body: {
          metadata: { annotations: { [OwnedAnnotation.pendingRevision]: null } },
          spec: { paused: false },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await leaveStatus(idle, promoting(promoted));
    const newer = await releaseNewImage(harness.apps, 'swap', 'app:swap-v3');
    analyzer.outcome = 'pass';
    analyzer.fastFail = false;
    ({ controller, routes } = await harness.startController('control-e', analyzer, {
      caBundle: () => 'PEM',
    }));

    const canary = await canaryOf('swap', newer);
    expect(canary.spec?.template.spec?.containers[0]?.image).toBe('app:swap-v3');
    const done = await waitFor(
      'swap promoted to the newer revision',
      async () => statusOf((await readCanary(harness.custom, 'swap')) ?? undefined),
      (status) => status?.phase === 'Succeeded',
      KUBE_WAIT,
    );
    expect(done).toMatchObject({ stableRevision: newer, canaryRevision: null, weight: 0 });
    const deployment = await harness.apps.readNamespacedDeployment({ name: 'swap', namespace: NAMESPACE });
    expect(deployment.spec?.paused).toBe(false);
    expect(deployment.spec?.template.spec?.containers[0]?.image).toBe('app:swap-v3');
    const events = await harness.core.listNamespacedEvent({
      namespace: NAMESPACE,
      fieldSelector: 'involvedObject.name=swap',
    });
    expect(events.items.map((event) => event.message)).toContainEqual(
      `new revision; promotion of ${promoted} superseded: rolling out revision ${newer} (canary)`,
    );
  });

  it('does not release a template applied between its read of the Deployment and the unpause', async () => {
    // The unpause is decided from the Deployment as read at the start of the reconcile. A newer
    // template the gate holds back before the unpause is written must not be released by it. The
    // write lands inside the reconcile that enters Promoting: after the read, before the unpause.
    await createIdle('race');
    let promoted: string | null = null;
    let newer: string | null = null;
    await controller.stop();
    ({ controller, routes } = await harness.startController('control-f', analyzer, {
      caBundle: () => 'PEM',
      transition: (state, observation, now, settings) => {
        const next = transition(state, observation, now, settings);
        const promoting = state.phase !== 'Promoting' && next.state.phase === 'Promoting';
        if (newer === null && promoting && next.state.canaryRevision === promoted) {
          newer = holdNewImageNow('race', 'app:race-v3');
        }
        return next;
      },
    }));
    analyzer.outcome = 'pass';
    analyzer.fastFail = false;
    promoted = await releaseNewImage(harness.apps, 'race', 'app:race-v2');

    await waitUntil('the newer template applied mid-reconcile', () => newer !== null, KUBE_WAIT);
    const canary = await canaryOf('race', newer);
    expect(canary.spec?.template.spec?.containers[0]?.image).toBe('app:race-v3');
    const done = await waitFor(
      'race promoted to the newer revision',
      async () => statusOf((await readCanary(harness.custom, 'race')) ?? undefined),
      (status) => status?.phase === 'Succeeded',
      KUBE_WAIT,
    );
    expect(done).toMatchObject({ stableRevision: newer, canaryRevision: null });
  });

  it('deletes a canary Deployment left over by failed deletes; a rollout started meanwhile runs', async () => {
    // Promoting sizes the canary for 100 %: a delete that fails after Succeeded (or a stop between
    // the status write and the delete) left it running next to the Deployment, doubling the pods.
    await createIdle('leak');
    analyzer.outcome = 'pass';
    analyzer.fastFail = false;
    const api = harness.cluster.api;
    const realDelete = api.delete.bind(api);
    let failing = true;
    let refused = 0;
    api.delete = async (...args: Parameters<typeof realDelete>) => {
      const [type, , name] = args;
      if (failing && type.resource === 'deployments' && name === 'leak-canary') {
        refused++;
        throw new ApiError(500, 'InternalError', 'etcdserver: request timed out');
      }
      return realDelete(...args);
    };
    try {
      const first = await releaseNewImage(harness.apps, 'leak', 'app:leak-v2');
      await waitPhase('leak', 'Succeeded');
      expect(statusOf((await readCanary(harness.custom, 'leak'))!)?.stableRevision).toBe(first);
      // Asked for again after the failure (before: once, then never).
      await waitUntil('the delete asked for again', () => refused >= 3, KUBE_WAIT);
      expect((await canaryWorkload('leak'))?.spec?.replicas).toBe(4);

      // A new rollout while the left-over canary is still there takes it over, never deletes it.
      const second = await releaseNewImage(harness.apps, 'leak', 'app:leak-v3');
      const canary = await canaryOf('leak', second);
      expect(canary.spec?.template.spec?.containers[0]?.image).toBe('app:leak-v3');
      failing = false;
      await waitFor(
        'leak promoted to the second revision',
        async () => statusOf((await readCanary(harness.custom, 'leak')) ?? undefined),
        (status) => status?.phase === 'Succeeded' && status.stableRevision === second,
        KUBE_WAIT,
      );
      await waitUntil('leak-canary deleted', async () => (await canaryWorkload('leak')) === null, KUBE_WAIT);
    } finally {
      api.delete = realDelete;
    }
    const deployment = await released('leak');
    expect(deployment.spec?.template.spec?.containers[0]?.image).toBe('app:leak-v3');
  });

  it('records Succeeded and RolledBack once each when the canary delete that ends the rollout fails', async () => {
    // The status is written before the actions run; a failed delete stopped the reconcile before
    // the end-of-rollout Event, and the retry (Succeeded/RollingBack) had no reason to emit it.
    await createIdle('ending');
    const api = harness.cluster.api;
    const realDelete = api.delete.bind(api);
    let refuse = 0;
    let refused = 0;
    api.delete = async (...args: Parameters<typeof realDelete>) => {
      const [type, , name] = args;
      if (refuse > 0 && type.resource === 'deployments' && name === 'ending-canary') {
        refuse--;
        refused++;
        throw new ApiError(500, 'InternalError', 'etcdserver: request timed out');
      }
      return realDelete(...args);
    };
    const reasons = async (): Promise<string[]> =>
      (
        await harness.core.listNamespacedEvent({
          namespace: NAMESPACE,
          fieldSelector: 'involvedObject.name=ending',
        })
      ).items.map((event) => event.reason ?? '');
    try {
      analyzer.outcome = 'pass';
      analyzer.fastFail = false;
      // Nothing deletes ending-canary before the rollout ends: the first delete is the one at its end.
      refuse = 1;
      await releaseNewImage(harness.apps, 'ending', 'app:ending-v2');
      await waitPhase('ending', 'Succeeded');
      await waitUntil(
        'ending-canary deleted',
        async () => (await canaryWorkload('ending')) === null,
        KUBE_WAIT,
      );
      expect(refused).toBe(1);
      expect((await reasons()).filter((reason) => reason === 'Succeeded')).toEqual(['Succeeded']);

      analyzer.outcome = 'fail';
      analyzer.fastFail = true;
      refuse = 1;
      await releaseNewImage(harness.apps, 'ending', 'app:ending-v3');
      await waitPhase('ending', 'Failed');
      expect(refused).toBe(2);
      expect((await reasons()).filter((reason) => reason === 'RolledBack')).toEqual(['RolledBack']);
    } finally {
      api.delete = realDelete;
    }
  });

  it('patch-service repoints a numeric-targetPort Service at the router and restores it when removed', async () => {
    await harness.core.createNamespacedService({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'api' },
        spec: {
          selector: { app: 'api' },
          ports: [
            { name: 'web', port: 80, targetPort: 8080 as never },
            { name: 'metrics', port: 9090, targetPort: 9090 as never },
          ],
        },
      },
    });
    const body = appDeployment('api', 'app:v1', {
      [PATCH_SERVICE_ANNOTATION]: 'true',
      'switchyard.io/port': '8080',
    });
    body.spec!.template.spec!.containers[0]!.ports = [{ containerPort: 8080 }, { containerPort: 9090 }];
    await harness.apps.createNamespacedDeployment({ namespace: NAMESPACE, body });
    const targetPorts = async () => {
      const service = await harness.core.readNamespacedService({ name: 'api', namespace: NAMESPACE });
      return service.spec?.ports?.map((port) => port.targetPort);
    };
    const targetPort = async () => (await targetPorts())?.[0];
    await waitFor('Service api to target the router port', targetPort, (port) => port === 'switchyard', {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    // The router moves to 9090 but keeps its port name: `web` (8080) must not follow it there, and
    // `metrics` (9090) now has to go through the router.
    await harness.apps.patchNamespacedDeployment(
      {
        name: 'api',
        namespace: NAMESPACE,
        body: { metadata: { annotations: { 'switchyard.io/port': '9090' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor(
      'Service api repointed for the app port 9090',
      targetPorts,
      (ports) => ports?.[0] === 8080 && ports[1] === 'switchyard',
      KUBE_WAIT,
    );
    await harness.apps.patchNamespacedDeployment(
      {
        name: 'api',
        namespace: NAMESPACE,
        body: { metadata: { annotations: { [PATCH_SERVICE_ANNOTATION]: null } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor(
      'Service api restored to 8080 and 9090',
      targetPorts,
      (ports) => ports?.[0] === 8080 && ports[1] === 9090,
      KUBE_WAIT,
    );
    const service = await harness.core.readNamespacedService({ name: 'api', namespace: NAMESPACE });
    expect(
      Object.keys(service.metadata?.annotations ?? {}).filter((key) => key.startsWith('switchyard.io/')),
    ).toEqual([]);
  });

  it('patch-service repoints a re-applied Service again and keeps a later edit on opt-out', async () => {
    // `web` and `admin` target the app port by number, `metrics` another port.
    const manifest = {
      metadata: { name: 'basket', namespace: NAMESPACE },
      spec: {
        selector: { app: 'basket' },
        ports: [
          { name: 'web', port: 80, targetPort: 8080 as never },
          { name: 'metrics', port: 9090, targetPort: 9090 as never },
          { name: 'admin', port: 81, targetPort: 8080 as never },
        ],
      },
    };
    await harness.core.createNamespacedService({ namespace: NAMESPACE, body: manifest });
    await harness.apps.createNamespacedDeployment({
      namespace: NAMESPACE,
      body: appDeployment('basket', 'app:v1', { [PATCH_SERVICE_ANNOTATION]: 'true' }),
    });
    const read = () => harness.core.readNamespacedService({ name: 'basket', namespace: NAMESPACE });
    const targetPorts = async () => (await read()).spec?.ports?.map((port) => port.targetPort);
    const routed = (ports: unknown[] | undefined) => isDeepStrictEqual(ports, ['http', 9090, 'http']);
    await waitFor('Service basket to target the router port', targetPorts, routed, KUBE_WAIT);
    const patchedEvents = async () =>
      (
        await harness.core.listNamespacedEvent({
          namespace: NAMESPACE,
          fieldSelector: 'involvedObject.name=basket',
        })
      ).items.filter((event) => event.reason === 'ServicePatched').length;
    await waitFor('ServicePatched event', patchedEvents, (count) => count === 1, KUBE_WAIT);
    expect(controller.isLeader).toBe(true);

    // `kubectl apply` of the unchanged manifest: targetPorts numeric again, the annotations it never
    // set left in place. Nothing else changes, no leader hand-over: the watch has to notice.
    await retryOnConflict(async () => {
      const live = await read();
      await harness.core.replaceNamespacedService({
        name: 'basket',
        namespace: NAMESPACE,
        body: { ...live, spec: { ...live.spec, ports: structuredClone(manifest.spec.ports) } },
      });
    });
    await waitFor('re-applied Service basket repointed', targetPorts, routed, {
      timeoutMs: 5000,
      intervalMs: 50,
    });
    await waitFor('a second ServicePatched event', patchedEvents, (count) => count === 2, KUBE_WAIT);
    // Its own write, watched, leads to no other: the Service holds still.
    const settled = (await read()).metadata?.resourceVersion;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await read()).metadata?.resourceVersion).toBe(settled);
    expect(await patchedEvents()).toBe(2);
    expect(controller.isLeader).toBe(true);

    // The user moves `web` to 9090 by hand; opting out keeps that and puts back only `admin`.
    await retryOnConflict(async () => {
      const live = await read();
      live.spec!.ports![0]!.targetPort = 9090 as never;
      await harness.core.replaceNamespacedService({ name: 'basket', namespace: NAMESPACE, body: live });
    });
    await harness.apps.patchNamespacedDeployment(
      {
        name: 'basket',
        namespace: NAMESPACE,
        body: { metadata: { annotations: { 'switchyard.io/canary': null } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitUntil(
      'Canary basket deleted',
      async () => (await readCanary(harness.custom, 'basket')) === null,
      KUBE_WAIT,
    );
    await waitFor(
      'Service basket restored around the edit',
      targetPorts,
      (ports) => isDeepStrictEqual(ports, [9090, 9090, 8080]),
      KUBE_WAIT,
    );
    const service = await read();
    expect(
      Object.keys(service.metadata?.annotations ?? {}).filter((key) => key.startsWith('switchyard.io/')),
    ).toEqual([]);
  });

  it('names pods running without the router in RouterInjected, with one Warning Event, until they are gone', async () => {
    const deployment = appDeployment('bare', 'app:v1');
    deployment.spec!.replicas = 0;
    await harness.apps.createNamespacedDeployment({ namespace: NAMESPACE, body: deployment });
    const routerInjected = async () =>
      statusOf((await readCanary(harness.custom, 'bare')) ?? undefined)?.conditions.find(
        (condition) => condition.type === 'RouterInjected',
      );
    await waitFor(
      'RouterInjected True',
      routerInjected,
      (condition) => condition?.status === 'True',
      KUBE_WAIT,
    );
    // A pod of the Deployment admitted while the pod webhook was down: its labels, no router. Only
    // the pod watch can notice it (the Deployment does not change).
    await harness.core.createNamespacedPod({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'bare-unrouted', labels: deployment.spec!.template.metadata!.labels! },
        spec: deployment.spec!.template.spec!,
      },
    });
    const missing = await waitFor(
      'RouterInjected False naming the pod',
      routerInjected,
      (condition) => condition?.status === 'False',
      KUBE_WAIT,
    );
    expect(missing?.message).toMatch(/^1 pod without the router \(bare-unrouted\)/);
    const routerMissingEvents = async () =>
      (await harness.core.listNamespacedEvent({ namespace: NAMESPACE })).items
        .filter((event) => event.involvedObject.name === 'bare' && event.reason === 'RouterMissing')
        .map((event) => [event.type, event.message]);
    await waitFor('the RouterMissing Event', routerMissingEvents, (events) => events.length > 0, KUBE_WAIT);
    expect(await routerMissingEvents()).toEqual([['Warning', missing?.message]]);
    // `switchyard status` shows it too.
    expect((await operator().get(NAMESPACE, 'bare')).warnings).toEqual([missing?.message]);
    // Deleted (its ReplicaSet would re-create it through the webhook), the pod no longer counts.
    await harness.core.deleteNamespacedPod({ name: 'bare-unrouted', namespace: NAMESPACE });
    await waitFor(
      'RouterInjected True again',
      routerInjected,
      (condition) => condition?.status === 'True',
      KUBE_WAIT,
    );
    expect(await routerMissingEvents()).toHaveLength(1);
    expect((await operator().get(NAMESPACE, 'bare')).warnings).toBeUndefined();
  });

  it('opting out deletes the Canary and serves no table for it any more', async () => {
    await harness.apps.patchNamespacedDeployment(
      {
        name: 'api',
        namespace: NAMESPACE,
        body: { metadata: { annotations: { 'switchyard.io/canary': null } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitUntil('Canary api deleted', async () => (await readCanary(harness.custom, 'api')) === null, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    await waitUntil('route table api dropped', () => routes.get(NAMESPACE, 'api') === undefined, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    expect(await readCanary(harness.custom, 'shop')).not.toBeNull();
  });
});
