import type { V1Deployment, V1Pod, V1PodTemplateSpec, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  Annotation,
  Label,
  OwnedAnnotation,
  PATCH_SERVICE_ANNOTATION,
  podTemplateHash,
} from '../../api/annotations.js';
import { makeInjectConfig, ROUTER_CONTAINER_NAME } from '../../webhook/config.js';
import { injectPod } from '../../webhook/inject.js';
import { initialStatus } from '../rollout-types.js';
import { conditionsFor, podsWithoutRouterMessage, routeTableOf, stableOnlyRoutes } from './canary-object.js';
import { parseCommandAnnotation } from './commands.js';
import {
  ORIGINAL_TARGET_PORTS_ANNOTATION,
  PATCHED_BY_ANNOTATION,
  ROUTER_TARGET_PORT_ANNOTATION,
} from './names.js';
import { canonical } from './reconciler.js';
import {
  canaryDeployment,
  canaryReplicas,
  ownerReference,
  patchedService,
  patchServiceOwners,
  podsWithoutRouter,
  promotionComplete,
  repointedService,
  restoredService,
  scrapeTargets,
  stableRelease,
  trackService,
} from './workloads.js';

const deployment: V1Deployment = {
  metadata: { name: 'shop', namespace: 'prod', uid: 'u1', generation: 3, labels: { team: 'a' } },
  spec: {
    replicas: 4,
    paused: true,
    selector: { matchLabels: { app: 'shop' } },
    template: {
      metadata: { labels: { app: 'shop', [Label.track]: 'stable', [Label.inject]: 'true' } },
      spec: { containers: [{ name: 'app', image: 'shop:v2' }] },
    },
  },
};
const owner = ownerReference('switchyard.io/v1alpha1', 'Canary', { name: 'shop', uid: 'c1' }, true);

describe('canary workload', () => {
  it('scales with the weight, at least one replica', () => {
    expect([0, 1, 5, 25, 50, 100].map((weight) => canaryReplicas(4, weight))).toEqual([1, 1, 1, 1, 2, 4]);
    expect(canaryReplicas(undefined, 50)).toBe(1);
  });

  it('copies the pending template with track canary and a selector the stable Deployment cannot adopt', () => {
    const canary = canaryDeployment(deployment, 'rev2', 2, owner);
    expect(canary.metadata).toMatchObject({
      name: 'shop-canary',
      namespace: 'prod',
      ownerReferences: [owner],
    });
    expect(canary.spec?.selector.matchLabels).toEqual({ app: 'shop', [Label.track]: 'canary' });
    expect(canary.spec?.template.metadata?.labels).toMatchObject({
      [Label.track]: 'canary',
      [Label.service]: 'shop',
    });
    expect(canary.spec?.replicas).toBe(2);
    expect(canary.spec?.paused).toBeUndefined();
    // The source Deployment is not modified.
    expect(deployment.spec?.template.metadata?.labels?.[Label.track]).toBe('stable');
  });

  it('runs a router injected offline (switchyard inject) in the canary pods as track canary', () => {
    // The pod webhook leaves pre-injected pods alone, so the template's own router args are what
    // canary pods run: with --track stable they would measure and serve canary traffic as stable.
    const config = makeInjectConfig({ routerImage: 'switchyard:test', version: 'test' });
    const template = deployment.spec!.template;
    const injected = injectPod(
      {
        metadata: { labels: { ...template.metadata?.labels, [Label.service]: 'shop' } },
        spec: {
          containers: [{ name: 'app', image: 'shop:v2', ports: [{ name: 'http', containerPort: 8080 }] }],
        },
      },
      config,
    );
    if (!injected.injected) throw new Error('not injected');
    const offline: V1Deployment = structuredClone(deployment);
    offline.spec!.template = injected.pod as unknown as V1PodTemplateSpec;
    const routerArgs = (d: V1Deployment): string[] | undefined =>
      d.spec?.template.spec?.initContainers?.find((c) => c.name === ROUTER_CONTAINER_NAME)?.args;
    const trackOf = (args: string[] | undefined): string | undefined => args?.[args.indexOf('--track') + 1];
    expect(trackOf(routerArgs(offline))).toBe('stable');
    const canary = canaryDeployment(offline, 'rev2', 1, owner);
    expect(trackOf(routerArgs(canary))).toBe('canary');
    expect(routerArgs(canary)?.filter((arg) => arg === '--track')).toHaveLength(1);
    // The source Deployment is not modified.
    expect(trackOf(routerArgs(offline))).toBe('stable');
  });

  it('per-track Services select each track and target the router port', () => {
    const service = trackService(deployment, 'canary', 15001, owner);
    expect(service.metadata?.name).toBe('shop-canary');
    expect(service.spec?.selector).toEqual({ app: 'shop', [Label.service]: 'shop', [Label.track]: 'canary' });
    expect(service.spec?.ports).toEqual([{ name: 'http', port: 80, targetPort: 15001, protocol: 'TCP' }]);
  });

  it('promotion completes only once unpaused, on the revision, rolled out and available', () => {
    const revision = podTemplateHash(deployment.spec?.template);
    const done = (patch: Partial<V1Deployment['status']>, paused = false): boolean =>
      promotionComplete(
        {
          ...deployment,
          spec: { ...deployment.spec!, paused },
          status: { observedGeneration: 3, replicas: 4, updatedReplicas: 4, availableReplicas: 4, ...patch },
        },
        revision,
      );
    expect(done({})).toBe(true);
    expect(done({}, true)).toBe(false);
    expect(done({ observedGeneration: 2 })).toBe(false);
    expect(done({ updatedReplicas: 3 })).toBe(false);
    expect(done({ replicas: 5 })).toBe(false);
    expect(done({ unavailableReplicas: 1 })).toBe(false);
    expect(promotionComplete({ ...deployment, spec: { ...deployment.spec!, paused: false } }, 'other')).toBe(
      false,
    );
  });

  it('releases the stable Deployment only while it is held, and only on the promoted revision', () => {
    const revision = podTemplateHash(deployment.spec?.template);
    const held = (paused: boolean, pending: string | null): V1Deployment => ({
      ...deployment,
      metadata: {
        ...deployment.metadata,
        annotations: pending === null ? {} : { [OwnedAnnotation.pendingRevision]: pending },
      },
      spec: { ...deployment.spec!, paused },
    });
    expect(stableRelease(held(true, revision), revision)).toBe('release');
    // A crash between the unpause and the annotation removal, or a pause left without one.
    expect(stableRelease(held(false, revision), revision)).toBe('release');
    expect(stableRelease(held(true, null), revision)).toBe('release');
    // Asked again on every tick: once released, no more writes.
    expect(stableRelease(held(false, null), revision)).toBe('released');
    // A newer template the gate holds back must not be let out by the old promotion.
    expect(stableRelease(held(true, 'newer'), 'older')).toBe('another-template');
  });

  it('scrapes the admin port of ready pods of one track only', () => {
    const pod = (name: string, track: string, ip: string, ready: boolean): V1Pod => ({
      metadata: { name, namespace: 'prod', labels: { [Label.service]: 'shop', [Label.track]: track } },
      status: {
        phase: 'Running',
        podIP: ip,
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      },
    });
    const pods = [
      pod('a', 'stable', '10.0.0.2', true),
      pod('b', 'stable', '10.0.0.1', true),
      pod('c', 'stable', '10.0.0.3', false),
      pod('d', 'canary', '10.0.0.4', true),
    ];
    expect(scrapeTargets(pods, 'prod', 'shop', 'stable', 15020)).toEqual([
      'http://10.0.0.1:15020',
      'http://10.0.0.2:15020',
    ]);
    expect(scrapeTargets(pods, 'prod', 'shop', 'canary', 15020)).toEqual(['http://10.0.0.4:15020']);
    expect(scrapeTargets(pods, 'other', 'shop', 'canary', 15020)).toEqual([]);
  });

  it('finds the live pods of a Deployment, either track, that run without the router', () => {
    const pod = (
      name: string,
      extra: { injected?: boolean; phase?: string; deleting?: boolean; routerContainer?: boolean } = {},
    ): V1Pod => ({
      metadata: {
        name,
        namespace: 'prod',
        labels: { [Label.service]: name.startsWith('cart') ? 'cart' : 'shop', [Label.track]: 'stable' },
        annotations: extra.injected ? { [OwnedAnnotation.injected]: 'v0.1.0' } : {},
        ...(extra.deleting ? { deletionTimestamp: new Date() } : {}),
      },
      spec: {
        containers: [{ name: 'app' }, ...(extra.routerContainer ? [{ name: ROUTER_CONTAINER_NAME }] : [])],
      },
      status: { phase: extra.phase ?? 'Running' },
    });
    const pods = [
      pod('shop-b'),
      pod('shop-a', { phase: 'Pending' }),
      pod('shop-routed', { injected: true }),
      // Injected by hand without the mark: the webhook treats it as injected, and so does this.
      pod('shop-by-hand', { routerContainer: true }),
      pod('shop-done', { phase: 'Succeeded' }),
      pod('shop-crashed', { phase: 'Failed' }),
      pod('shop-going', { deleting: true }),
      pod('cart-x'),
    ];
    expect(podsWithoutRouter(pods, 'prod', 'shop')).toEqual(['shop-a', 'shop-b']);
    expect(podsWithoutRouter(pods, 'other', 'shop')).toEqual([]);
  });
});

describe('Canary status', () => {
  it('derives the route table any replica serves', () => {
    const stable = routeTableOf('prod', 'shop', stableOnlyRoutes(4, { stickyCookie: null } as never));
    expect(stable).toMatchObject({ service: 'shop', generation: 4, weights: { stable: 100 } });
    expect(Object.keys(stable.tracks)).toEqual(['stable']);
    const split = routeTableOf('prod', 'shop', {
      generation: 5,
      weights: { stable: 75, canary: 25 },
      canaryTrack: true,
      rulesToCanary: [{ header: { name: 'x-group', exact: 'beta' } }],
      mirrorPercent: 10,
      stickyCookie: 'sy',
      canaryTokenSha256: 'a'.repeat(64),
    });
    expect(split.canaryHeader).toEqual({ name: 'x-canary', tokenSha256: 'a'.repeat(64) });
    expect(stable.canaryHeader.tokenSha256).toBeNull();
    expect(split.tracks.canary?.upstream).toMatch(/^http:\/\/shop-canary\.prod\.svc/);
    expect(split.weights).toEqual({ stable: 75, canary: 25 });
    expect(split.rules).toHaveLength(1);
    expect(split.mirror).toEqual({ track: 'canary', percent: 10 });
    expect(split.sticky?.cookie).toBe('sy');
  });

  it('keeps condition transition times until the condition flips', () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const t1 = new Date('2026-01-01T00:05:00Z');
    const idle = initialStatus(t0, 'r1');
    const first = conditionsFor(idle, [], t0, []);
    expect(first.map((c) => `${c.type}=${c.status}`)).toEqual([
      'Ready=True',
      'Progressing=False',
      'Analysis=Unknown',
      'RouterInjected=True',
    ]);
    const again = conditionsFor(idle, first, t1, []);
    expect(again[0]?.lastTransitionTime).toBe(t0.toISOString());
    const failed = conditionsFor({ ...idle, phase: 'Failed', message: 'rolled back' }, again, t1, []);
    expect(failed[0]).toMatchObject({
      status: 'False',
      message: 'rolled back',
      lastTransitionTime: t1.toISOString(),
    });
  });

  it('RouterInjected names up to five pods without the router and tells how to fix them', () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const idle = initialStatus(t0, 'r1');
    const pods = ['shop-1', 'shop-2', 'shop-3', 'shop-4', 'shop-5', 'shop-6'];
    const [, , , missing] = conditionsFor(idle, [], t0, pods);
    expect(missing).toMatchObject({ type: 'RouterInjected', status: 'False', reason: 'PodsWithoutRouter' });
    expect(missing?.message).toBe(podsWithoutRouterMessage(pods));
    expect(missing?.message).toMatch(
      /^6 pods without the router \(shop-1, shop-2, shop-3, shop-4, shop-5, …\)/,
    );
    expect(missing?.message).toContain('Delete them: their ReplicaSet re-creates them through the webhook');
    expect(podsWithoutRouterMessage(['shop-1'])).toMatch(/^1 pod without the router \(shop-1\)/);
  });

  it('compares statuses the way the API server stores them (key order, pruned nulls)', () => {
    expect(canonical({ b: 1, a: { d: null, c: [1, { f: 2, e: 1 }] } })).toBe(
      canonical({ a: { c: [1, { e: 1, f: 2 }] }, b: 1 }),
    );
    expect(canonical({ a: 1 })).not.toBe(canonical({ a: 2 }));
    // A verdict with a NaN p-value round-trips through JSON as null, then is pruned.
    const written = { checks: [{ pValue: Number.NaN, value: 1, list: [Number.NaN] }] };
    expect(canonical(JSON.parse(JSON.stringify(written)))).toBe(canonical(written));
  });
});

describe('command annotation', () => {
  it('parses the commands the CLI writes and refuses anything else', () => {
    expect(parseCommandAnnotation('{"nonce":"n1","command":{"type":"abort"}}')).toEqual({
      nonce: 'n1',
      command: { type: 'abort' },
    });
    expect(
      parseCommandAnnotation('{"nonce":"n2","command":{"type":"set-weight","weight":30}}')?.command,
    ).toEqual({
      type: 'set-weight',
      weight: 30,
    });
    expect(
      parseCommandAnnotation('{"nonce":"n3","command":{"type":"promote","full":true}}')?.command,
    ).toEqual({
      type: 'promote',
      full: true,
    });
    for (const bad of [
      undefined,
      'not json',
      '{"command":{"type":"abort"}}',
      '{"nonce":"n","command":{"type":"delete"}}',
      '{"nonce":"n","command":{"type":"set-weight","weight":101}}',
    ]) {
      expect(parseCommandAnnotation(bad)).toBeNull();
    }
  });
});

describe('patch-service', () => {
  const service = {
    metadata: { name: 'shop', namespace: 'prod', annotations: { keep: 'me' } },
    spec: {
      selector: { app: 'shop' },
      ports: [
        { name: 'web', port: 80, targetPort: 8080 },
        { name: 'metrics', port: 9090, targetPort: 9090 },
        { name: 'bare', port: 8080 },
      ],
    },
  };
  const podLabels = { app: 'shop', [Label.track]: 'stable' };

  it('repoints numeric targetPorts of the app port at the router port name and restores them', () => {
    const patched = patchedService(service, podLabels, { number: 8080, name: null }, 'shop');
    expect(patched?.spec?.ports?.map((port) => port.targetPort)).toEqual(['switchyard', 9090, 'switchyard']);
    expect(patched?.metadata?.annotations?.keep).toBe('me');
    // Idempotent: a patched Service is left alone.
    expect(patchedService(patched!, podLabels, { number: 8080, name: null }, 'shop')).toBeNull();
    const restored = restoredService(patched!, 'shop');
    expect(restored).toEqual(service);
    expect(restoredService(patched!, 'other')).toBeNull();
  });

  it('follows a change of the app port: the old one put back, the new one repointed, unchanged if same', () => {
    const patched = patchedService(service, podLabels, { number: 8080, name: null }, 'shop')!;
    // The router now fronts 9090 under the same name: 8080 must not go on pointing at it.
    const moved = repointedService(patched, podLabels, { number: 9090, name: null }, 'shop');
    expect(moved.spec?.ports?.map((port) => port.targetPort)).toEqual([8080, 'switchyard', undefined]);
    expect(restoredService(moved, 'shop')).toEqual(service);
    expect(
      repointedService(patched, podLabels, { number: 8080, name: null }, 'shop').spec?.ports?.map(
        (port) => port.targetPort,
      ),
    ).toEqual(['switchyard', 9090, 'switchyard']);
    expect(repointedService(service, { app: 'cart' }, { number: 9090, name: null }, 'shop')).toBe(service);
  });

  const targetPortsOf = (changed: V1Service | null): unknown[] | undefined =>
    changed?.spec?.ports?.map((port) => port.targetPort);
  /** `patched` as the user left it after changing targetPorts by hand (our annotations untouched). */
  const edited = (patched: V1Service, targetPorts: readonly (number | string | undefined)[]): V1Service => {
    const copy = structuredClone(patched);
    copy.spec!.ports = copy.spec!.ports!.map((port, index) => {
      const { targetPort: _old, ...rest } = port;
      const target = targetPorts[index];
      return target === undefined ? rest : { ...rest, targetPort: target as never };
    });
    return copy;
  };

  it('keeps on restore what the user changed since, and puts back the ports still at the router', () => {
    const patched = patchedService(service, podLabels, { number: 8080, name: null }, 'shop')!;
    expect(patched.metadata?.annotations?.[ROUTER_TARGET_PORT_ANNOTATION]).toBe('switchyard');
    // `web` moved with the app to 9091, `metrics` to 9095: both are the user's latest word.
    const moved = restoredService(edited(patched, [9091, 9095, 'switchyard']), 'shop');
    expect(targetPortsOf(moved)).toEqual([9091, 9095, undefined]);
    expect(moved?.metadata?.annotations).toEqual({ keep: 'me' });
    // `bare` now targets another port name: kept, while `web`, still at the router, is put back.
    const renamed = restoredService(edited(patched, ['switchyard', 9090, 'admin']), 'shop');
    expect(targetPortsOf(renamed)).toEqual([8080, 9090, 'admin']);
    // A change of the app port keeps them too: only ports still at the router follow it.
    expect(
      targetPortsOf(
        repointedService(
          edited(patched, [9091, 9090, 'switchyard']),
          podLabels,
          { number: 9090, name: null },
          'shop',
        ),
      ),
    ).toEqual([9091, 'switchyard', undefined]);
  });

  it('repoints a re-applied Service (targetPort numeric again, our annotations kept) and then holds still', () => {
    const patched = patchedService(service, podLabels, { number: 8080, name: null }, 'shop')!;
    // What `kubectl apply` of a newer manifest leaves: `web` back at 8080, `metrics` now 9095, the
    // unset targetPort of `bare` and the annotations it never set are left as they were.
    const reapplied = edited(patched, [8080, 9095, 'switchyard']);
    const repointed = repointedService(reapplied, podLabels, { number: 8080, name: null }, 'shop');
    expect(targetPortsOf(repointed)).toEqual(['switchyard', 9095, 'switchyard']);
    expect(repointed.metadata?.annotations).toMatchObject({
      [ORIGINAL_TARGET_PORTS_ANNOTATION]: '[8080,9095,null]',
      [PATCHED_BY_ANNOTATION]: 'shop',
      [ROUTER_TARGET_PORT_ANNOTATION]: 'switchyard',
    });
    // Our own write, seen again, asks for no further write (no loop with the Service watch).
    const again = repointedService(repointed, podLabels, { number: 8080, name: null }, 'shop');
    expect(canonical(again)).toBe(canonical(repointed));
    expect(targetPortsOf(restoredService(repointed, 'shop'))).toEqual([8080, 9095, undefined]);
  });

  it('restores every port of a Service patched before the router port name was recorded', () => {
    const patched = patchedService(service, podLabels, { number: 8080, name: null }, 'shop')!;
    const older = edited(patched, [9091, 9090, 'switchyard']);
    delete older.metadata!.annotations![ROUTER_TARGET_PORT_ANNOTATION];
    // Which ports were ours is unknown there: all originals come back, as they always did.
    const restored = restoredService(older, 'shop');
    expect(restored).toEqual(service);
  });

  it('wakes the Deployments whose patch-service a Service change concerns', () => {
    const optedIn = (name: string, app: string, patch: boolean): V1Deployment => ({
      metadata: {
        name,
        namespace: 'prod',
        annotations: {
          [Annotation.canary]: 'enabled',
          ...(patch ? { [PATCH_SERVICE_ANNOTATION]: 'true' } : {}),
        },
      },
      spec: {
        selector: { matchLabels: { app } },
        template: { metadata: { labels: { app, [Label.service]: name, [Label.track]: 'stable' } } },
      },
    });
    const deployments = [
      optedIn('shop', 'shop', true),
      optedIn('cart', 'cart', true),
      optedIn('web', 'shop', false),
    ];
    expect(patchServiceOwners(service, deployments)).toEqual(['shop']);
    // The Deployment that patched it, even once it no longer selects the pods or patches at all.
    const patchedByWeb = structuredClone(service) as V1Service;
    patchedByWeb.metadata!.annotations = { [PATCHED_BY_ANNOTATION]: 'web' };
    expect(patchServiceOwners(patchedByWeb, deployments).sort()).toEqual(['shop', 'web']);
    // A Deployment's own per-track Service selects its pods but is none of patch-service's business.
    const track = trackService(optedIn('shop', 'shop', true), 'stable', 15001, owner);
    expect(patchServiceOwners(track, deployments)).toEqual([]);
  });

  it('uses the taken-over port name and ignores Services that do not select the pods', () => {
    expect(
      patchedService(service, podLabels, { number: 8080, name: 'http' }, 'shop')?.spec?.ports?.[0]
        ?.targetPort,
    ).toBe('http');
    expect(patchedService(service, { app: 'cart' }, { number: 8080, name: null }, 'shop')).toBeNull();
    expect(patchedService(service, podLabels, { number: 3000, name: null }, 'shop')).toBeNull();
  });
});
