// The fake cluster driven by the two real clients nobody here wrote: @kubernetes/client-node and
// kubectl. Checks the API semantics our components rely on, that Deployments become real
// processes reachable through their Service, and that admission webhooks are called over HTTPS.

import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeCluster, startFakeCluster } from './cluster/cluster.js';
import { type WaitOptions, waitUntil } from '../support/wait-for.js';
import { ensureBuilt } from '../support/build.js';
import { kubectl, kubectlOk } from './cluster/helpers.js';
import { createCertificateAuthority, createServingCertificate } from './cluster/tls.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, 'cluster', 'fixtures');
/** The fake cluster converges within seconds; 30 s leaves room on a busy CI machine. */
const CLUSTER_WAIT: WaitOptions = { timeoutMs: 30_000, intervalMs: 100 };

let cluster: FakeCluster;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let custom: k8s.CustomObjectsApi;

async function httpGet(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  return {
    status: response.status,
    body: await response.text(),
    version: response.headers.get('x-shop-version'),
  };
}

function statusCode(error: unknown): number | undefined {
  return error instanceof k8s.ApiException ? error.code : undefined;
}

beforeAll(async () => {
  ensureBuilt('cli/demo/shop-app.js'); // pods run dist/ through bin/switchyard.js
  cluster = await startFakeCluster({
    watchHistory: 300,
    bookmarkIntervalMs: 200,
    // A test-only image: `node-script:*` runs `node <args>`.
    images: [
      {
        match: (image) => image.startsWith('node-script'),
        command: ({ container }) => ({ argv: [process.execPath, ...(container.args ?? [])] }),
      },
    ],
  });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
});

afterAll(async () => {
  await cluster?.close();
});

describe('API semantics through @kubernetes/client-node', () => {
  it('creates with generateName, lists by label and field selectors', async () => {
    await core.createNamespace({ body: { metadata: { name: 'sel' } } });
    const make = (name: string, labels: Record<string, string>) =>
      core.createNamespacedConfigMap({ namespace: 'sel', body: { metadata: { name, labels } } });
    await make('web-prod', { tier: 'web', env: 'prod' });
    await make('web-dev', { tier: 'web', env: 'dev' });
    await make('db-dev', { tier: 'db', env: 'dev' });
    await make('plain', {});
    const generated = await core.createNamespacedConfigMap({
      namespace: 'sel',
      body: { metadata: { generateName: 'gen-', labels: { tier: 'cache' } } },
    });
    expect(generated.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(generated.metadata?.uid).toBeTruthy();
    expect(Number(generated.metadata?.resourceVersion)).toBeGreaterThan(0);

    const names = async (labelSelector?: string, fieldSelector?: string) =>
      (await core.listNamespacedConfigMap({ namespace: 'sel', labelSelector, fieldSelector })).items
        .map((item) => item.metadata?.name ?? '')
        .filter((name) => name !== 'kube-root-ca.crt')
        .sort();
    expect(await names('tier=web')).toEqual(['web-dev', 'web-prod']);
    expect(await names('tier in (web,db),env!=prod')).toEqual(['db-dev', 'web-dev']);
    // notin also selects objects without the label, as on a real API server.
    expect(await names('tier,env notin (dev)')).toEqual([generated.metadata?.name, 'web-prod'].sort());
    expect(await names('!tier')).toEqual(['plain']);
    expect(await names(undefined, 'metadata.name=db-dev')).toEqual(['db-dev']);
    expect(await names('tier', 'metadata.name!=web-dev,metadata.namespace=sel')).toEqual(
      [generated.metadata?.name, 'db-dev', 'web-prod'].sort(),
    );
  });

  it('rejects a stale update with 409 Conflict and an existing name with 409 AlreadyExists', async () => {
    const created = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'stale' }, data: { step: '1' } },
    });
    const updated = await core.replaceNamespacedConfigMap({
      name: 'stale',
      namespace: 'default',
      body: { ...created, data: { step: '2' } },
    });
    expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(
      Number(created.metadata?.resourceVersion),
    );
    const stale = await core
      .replaceNamespacedConfigMap({
        name: 'stale',
        namespace: 'default',
        body: { ...created, data: { step: '3' } },
      })
      .catch((error: unknown) => error);
    expect(statusCode(stale)).toBe(409);
    expect(String((stale as k8s.ApiException<string>).body)).toContain('the object has been modified');
    const duplicate = await core
      .createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'stale' } } })
      .catch((error: unknown) => error);
    expect(statusCode(duplicate)).toBe(409);
    expect((await core.readNamespacedConfigMap({ name: 'stale', namespace: 'default' })).data).toEqual({
      step: '2',
    });
  });

  it('does not persist a dryRun=All create', async () => {
    const result = await core.createNamespacedConfigMap({
      namespace: 'default',
      dryRun: 'All',
      body: { metadata: { name: 'dry' } },
    });
    expect(result.metadata?.name).toBe('dry');
    const missing = await core
      .readNamespacedConfigMap({ name: 'dry', namespace: 'default' })
      .catch((error: unknown) => error);
    expect(statusCode(missing)).toBe(404);
  });

  it('streams ADDED, MODIFIED, DELETED and BOOKMARK events from a resourceVersion', async () => {
    await core.createNamespace({ body: { metadata: { name: 'watched' } } });
    const list = await core.listNamespacedConfigMap({ namespace: 'watched' });
    const events: { type: string; name: string | undefined; value: string | undefined }[] = [];
    const watch = new k8s.Watch(kc);
    const controller = await watch.watch(
      '/api/v1/namespaces/watched/configmaps',
      {
        resourceVersion: list.metadata?.resourceVersion,
        allowWatchBookmarks: true,
        labelSelector: 'watch=me',
      },
      (type, object: k8s.V1ConfigMap) =>
        events.push({ type, name: object.metadata?.name, value: object.data?.value }),
      () => {},
    );
    try {
      await core.createNamespacedConfigMap({
        namespace: 'watched',
        body: { metadata: { name: 'a', labels: { watch: 'me' } }, data: { value: '1' } },
      });
      await core.createNamespacedConfigMap({ namespace: 'watched', body: { metadata: { name: 'ignored' } } });
      await core.patchNamespacedConfigMap(
        { name: 'a', namespace: 'watched', body: { data: { value: '2' } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await core.deleteNamespacedConfigMap({ name: 'a', namespace: 'watched' });
      await waitUntil(
        'ADDED, MODIFIED, DELETED and a BOOKMARK',
        () =>
          events.some((event) => event.type === 'BOOKMARK') &&
          events.some((event) => event.type === 'DELETED'),
        { ...CLUSTER_WAIT, seen: () => events },
      );
    } finally {
      controller.abort();
    }
    expect(events.filter((event) => event.type !== 'BOOKMARK')).toEqual([
      { type: 'ADDED', name: 'a', value: '1' },
      { type: 'MODIFIED', name: 'a', value: '2' },
      { type: 'DELETED', name: 'a', value: '2' },
    ]);
  });

  it('feeds a client-node informer (list, then watch) with adds, updates and deletes', async () => {
    await core.createNamespace({ body: { metadata: { name: 'informed' } } });
    await core.createNamespacedConfigMap({ namespace: 'informed', body: { metadata: { name: 'before' } } });
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/informed/configmaps', () =>
      core.listNamespacedConfigMap({ namespace: 'informed' }),
    );
    const seen: string[] = [];
    informer.on('add', (object) => seen.push(`add ${object.metadata?.name}`));
    informer.on('update', (object) => seen.push(`update ${object.metadata?.name} ${object.data?.v}`));
    informer.on('delete', (object) => seen.push(`delete ${object.metadata?.name}`));
    await informer.start();
    try {
      await waitUntil('the informer to list the existing object', () => seen.includes('add before'), {
        ...CLUSTER_WAIT,
        seen: () => seen,
      });
      await core.createNamespacedConfigMap({ namespace: 'informed', body: { metadata: { name: 'after' } } });
      await core.patchNamespacedConfigMap(
        { name: 'after', namespace: 'informed', body: { data: { v: '2' } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await core.deleteNamespacedConfigMap({ name: 'before', namespace: 'informed' });
      await waitUntil('add, update and delete through the watch', () => seen.includes('delete before'), {
        ...CLUSTER_WAIT,
        seen: () => seen,
      });
      expect(seen).toEqual(['add before', 'add after', 'update after 2', 'delete before']);
      expect(informer.list().map((object) => object.metadata?.name)).toEqual(['after']);
    } finally {
      await informer.stop();
    }
  });

  it('answers a watch from a compacted resourceVersion with a 410 Expired ERROR event', async () => {
    const first = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'churn' } },
    });
    const old = first.metadata?.resourceVersion;
    const configMaps = cluster.api.findType('', 'v1', 'configmaps');
    if (!configMaps) throw new Error('configmaps type missing');
    const context = { user: { username: 'test' }, dryRun: false, warnings: [] };
    for (let index = 0; index < 320; index++) {
      await cluster.api.patch(
        configMaps,
        'default',
        'churn',
        'merge',
        { data: { index: String(index) } },
        context,
      );
    }
    const received: { type: string; code?: number; reason?: string }[] = [];
    const watch = new k8s.Watch(kc);
    let ended = false;
    await watch.watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: old },
      (type, object: { code?: number; reason?: string }) =>
        received.push({ type, code: object.code, reason: object.reason }),
      () => {
        ended = true;
      },
    );
    await waitUntil('the watch to end', () => ended, { ...CLUSTER_WAIT, seen: () => received });
    expect(received).toEqual([{ type: 'ERROR', code: 410, reason: 'Expired' }]);
  });

  it('keeps an object with finalizers until they are removed, and honours Orphan/Foreground deletes', async () => {
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'guarded', finalizers: ['example.com/cleanup'] } },
    });
    await core.deleteNamespacedConfigMap({ name: 'guarded', namespace: 'default' });
    const terminating = await core.readNamespacedConfigMap({ name: 'guarded', namespace: 'default' });
    expect(terminating.metadata?.deletionTimestamp).toBeTruthy();
    await core.patchNamespacedConfigMap(
      { name: 'guarded', namespace: 'default', body: { metadata: { finalizers: null } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const gone = await core
      .readNamespacedConfigMap({ name: 'guarded', namespace: 'default' })
      .catch((e: unknown) => e);
    expect(statusCode(gone)).toBe(404);

    const dependent = async (owner: k8s.V1ConfigMap, name: string) =>
      core.createNamespacedConfigMap({
        namespace: 'default',
        body: {
          metadata: {
            name,
            ownerReferences: [
              {
                apiVersion: 'v1',
                kind: 'ConfigMap',
                name: owner.metadata?.name ?? '',
                uid: owner.metadata?.uid ?? '',
              },
            ],
          },
        },
      });
    const orphaning = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'orphaning' } },
    });
    await dependent(orphaning, 'orphan');
    await core.deleteNamespacedConfigMap({
      name: 'orphaning',
      namespace: 'default',
      propagationPolicy: 'Orphan',
    });
    const orphan = await core.readNamespacedConfigMap({ name: 'orphan', namespace: 'default' });
    expect(orphan.metadata?.ownerReferences ?? []).toEqual([]);

    const foreground = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'foreground' } },
    });
    await dependent(foreground, 'follower');
    await core.deleteNamespacedConfigMap({
      name: 'foreground',
      namespace: 'default',
      propagationPolicy: 'Foreground',
    });
    const follower = await core
      .readNamespacedConfigMap({ name: 'follower', namespace: 'default' })
      .catch((e: unknown) => e);
    expect(statusCode(follower)).toBe(404);
  });

  it('garbage-collects dependents when their owner is deleted', async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'owner' } },
    });
    const ownerReferences = [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        name: 'owner',
        uid: owner.metadata?.uid ?? '',
        controller: true,
      },
    ];
    await core.createNamespacedSecret({
      namespace: 'default',
      body: { metadata: { name: 'owned', ownerReferences }, stringData: { token: 'x' } },
    });
    await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'unowned' } } });
    const stored = await core.readNamespacedSecret({ name: 'owned', namespace: 'default' });
    expect(Buffer.from(stored.data?.token ?? '', 'base64').toString()).toBe('x');
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: 'default' });
    await waitUntil(
      'secret "owned" to be garbage-collected',
      async () => {
        const error = await core
          .readNamespacedSecret({ name: 'owned', namespace: 'default' })
          .catch((e: unknown) => e);
        return statusCode(error) === 404;
      },
      CLUSTER_WAIT,
    );
    await core.readNamespacedSecret({ name: 'unowned', namespace: 'default' });
  });
});

describe('TokenReview and plain HTTP', () => {
  it('authenticates issued service-account tokens for their audience only', async () => {
    const authentication = kc.makeApiClient(k8s.AuthenticationV1Api);
    const token = cluster.issueToken('apps', 'router', ['switchyard']);
    const review = (audiences?: string[]) =>
      authentication.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } },
      });
    const accepted = await review(['switchyard']);
    expect(accepted.status?.authenticated).toBe(true);
    expect(accepted.status?.user?.username).toBe('system:serviceaccount:apps:router');
    expect((await review(['someone-else'])).status?.authenticated).toBe(false);
    const forged = await authentication.createTokenReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'forged' } },
    });
    expect(forged.status?.authenticated).toBe(false);
  });

  it('serves plain HTTP to both clients when started with tls: false', async () => {
    const plain = await startFakeCluster({ tls: false });
    try {
      expect(plain.url).toMatch(/^http:\/\//);
      expect(await kubectlOk(plain, ['get', 'namespaces'])).toContain('kube-system');
      const config = new k8s.KubeConfig();
      config.loadFromFile(plain.kubeconfigPath);
      const namespaces = await config.makeApiClient(k8s.CoreV1Api).listNamespace();
      expect(namespaces.items.map((item) => item.metadata?.name)).toContain('default');
    } finally {
      await plain.close();
    }
  });
});

describe('kubectl against the fake cluster', () => {
  it('applies a kustomization; the Deployment runs as processes answering through its Service', async () => {
    const applied = await kubectlOk(cluster, ['apply', '-k', join(fixtures, 'app')]);
    expect(applied).toContain('namespace/shop created');
    expect(applied).toContain(
      'customresourcedefinition.apiextensions.k8s.io/widgets.fixtures.switchyard.io created',
    );
    expect(applied).toContain('deployment.apps/shop created');
    expect(applied).toContain('service/shop created');
    await kubectlOk(cluster, ['rollout', 'status', 'deployment/shop', '-n', 'shop', '--timeout=60s']);
    const pods = await kubectlOk(cluster, ['get', 'pods', '-n', 'shop', '-l', 'app=shop', '-o', 'wide']);
    expect(pods.match(/Running/g)).toHaveLength(2);
    const url = cluster.serviceUrl('shop', 'shop', 80);
    const seenPods = new Set<string>();
    for (let index = 0; index < 6; index++) {
      const response = await httpGet(url);
      expect(response.status).toBe(200);
      expect(response.version).toBe('v1');
      seenPods.add((JSON.parse(response.body) as { pod: string }).pod);
    }
    expect(seenPods.size).toBe(2);
    const described = await kubectlOk(cluster, ['describe', 'service', 'shop', '-n', 'shop']);
    expect(described).toMatch(/Endpoints:\s+127\.\d+\.\d+\.\d+:8080,127\.\d+\.\d+\.\d+:8080/);
    const again = await kubectlOk(cluster, ['apply', '-k', join(fixtures, 'app')]);
    expect(again).toContain('deployment.apps/shop unchanged');
  });

  it('prints custom resources with their CRD printer columns and keeps status behind /status', async () => {
    await kubectlOk(cluster, ['apply', '-f', join(fixtures, 'widget.yaml')]);
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: 'fixtures.switchyard.io',
        version: 'v1alpha1',
        namespace: 'shop',
        plural: 'widgets',
        name: 'blue',
        body: { status: { phase: 'Progressing', weight: 25 } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const table = await kubectlOk(cluster, ['get', 'widgets', '-n', 'shop']);
    const [header, row] = table.trim().split('\n');
    expect(header?.split(/\s+/)).toEqual(['NAME', 'PHASE', 'WEIGHT', 'AGE']);
    expect(row?.split(/\s+/).slice(0, 3)).toEqual(['blue', 'Progressing', '25']);
    // A write to the main resource neither changes status nor skips generation.
    await custom.patchNamespacedCustomObject(
      {
        group: 'fixtures.switchyard.io',
        version: 'v1alpha1',
        namespace: 'shop',
        plural: 'widgets',
        name: 'blue',
        body: { spec: { size: 4 }, status: { phase: 'Hacked' } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const widget = (await custom.getNamespacedCustomObject({
      group: 'fixtures.switchyard.io',
      version: 'v1alpha1',
      namespace: 'shop',
      plural: 'widgets',
      name: 'blue',
    })) as { metadata: { generation: number }; status: { phase: string } };
    expect(widget.status.phase).toBe('Progressing');
    expect(widget.metadata.generation).toBe(2);
  });

  it('annotates, sets the image (rolling update), scales, describes, lists events and deletes', async () => {
    expect(
      await kubectlOk(cluster, ['annotate', 'deployment/shop', '-n', 'shop', 'team=checkout']),
    ).toContain('annotated');
    await kubectlOk(cluster, ['set', 'image', 'deployment/shop', '-n', 'shop', 'app=shop:v2']);
    await kubectlOk(cluster, ['rollout', 'status', 'deployment/shop', '-n', 'shop', '--timeout=60s']);
    const url = cluster.serviceUrl('shop', 'shop', 80);
    await waitUntil(
      'only v2 answering through the Service',
      async () => {
        const versions = new Set<string | null>();
        for (let index = 0; index < 4; index++) versions.add((await httpGet(url)).version);
        return versions.size === 1 && versions.has('v2');
      },
      CLUSTER_WAIT,
    );
    const replicaSets = await kubectlOk(cluster, [
      'get',
      'rs',
      '-n',
      'shop',
      '-o',
      'jsonpath={range .items[*]}{.spec.replicas} {.metadata.labels.pod-template-hash}{"\\n"}{end}',
    ]);
    expect(
      replicaSets
        .trim()
        .split('\n')
        .map((line) => line.split(' ')[0])
        .sort(),
    ).toEqual(['0', '2']);

    await kubectlOk(cluster, ['scale', 'deployment/shop', '-n', 'shop', '--replicas=3']);
    await kubectlOk(cluster, ['rollout', 'status', 'deployment/shop', '-n', 'shop', '--timeout=60s']);
    const ready = await kubectlOk(cluster, ['get', 'deployment', 'shop', '-n', 'shop']);
    expect(ready).toMatch(/shop\s+3\/3\s+3\s+3/);
    expect(
      await kubectlOk(cluster, [
        'get',
        'deployment',
        'shop',
        '-n',
        'shop',
        '-o',
        'jsonpath={.metadata.annotations.team}',
      ]),
    ).toBe('checkout');

    const described = await kubectlOk(cluster, ['describe', 'deployment', 'shop', '-n', 'shop']);
    expect(described).toContain('Image:');
    expect(described).toContain('shop:v2');
    expect(described).toMatch(/NewReplicaSet:\s+shop-\w+ \(3\/3 replicas created\)/);
    expect(described).toContain('ScalingReplicaSet');

    const events = await kubectlOk(cluster, ['get', 'events', '-n', 'shop']);
    expect(events).toContain('ScalingReplicaSet');
    expect(events).toContain('SuccessfulCreate');
    expect(events).toMatch(/Started\s+pod\/shop-/);

    const podIps = (
      await kubectlOk(cluster, ['get', 'pods', '-n', 'shop', '-o', 'jsonpath={.items[*].status.podIP}'])
    ).split(' ');
    await kubectlOk(cluster, ['delete', 'deployment', 'shop', '-n', 'shop', '--timeout=60s']);
    await waitUntil(
      'the shop pods to be gone',
      async () => {
        const left = await kubectlOk(cluster, ['get', 'pods', '-n', 'shop', '-o', 'name']);
        return left.trim() === '';
      },
      CLUSTER_WAIT,
    );
    for (const ip of podIps) {
      const error = await fetch(`http://${ip}:8080/healthz`, { signal: AbortSignal.timeout(2000) }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Error);
    }
  });

  it('shows a Pending rollout of a paused Deployment without creating a new ReplicaSet', async () => {
    await apps.createNamespacedDeployment({
      namespace: 'shop',
      body: {
        metadata: { name: 'held' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'held' } },
          template: {
            metadata: { labels: { app: 'held' } },
            spec: {
              containers: [{ name: 'app', image: 'shop:v1', ports: [{ name: 'http', containerPort: 8080 }] }],
            },
          },
        },
      },
    });
    await kubectlOk(cluster, ['rollout', 'status', 'deployment/held', '-n', 'shop', '--timeout=60s']);
    await kubectlOk(cluster, ['rollout', 'pause', 'deployment/held', '-n', 'shop']);
    await kubectlOk(cluster, ['set', 'image', 'deployment/held', '-n', 'shop', 'app=shop:v2']);
    const replicaSets = async () =>
      (await apps.listNamespacedReplicaSet({ namespace: 'shop', labelSelector: 'app=held' })).items;
    await waitUntil(
      'the paused Deployment status to be observed',
      async () => {
        const deployment = await apps.readNamespacedDeployment({ name: 'held', namespace: 'shop' });
        return (
          deployment.status?.observedGeneration === deployment.metadata?.generation &&
          deployment.status?.conditions?.some((condition) => condition.reason === 'DeploymentPaused')
        );
      },
      CLUSTER_WAIT,
    );
    expect((await replicaSets()).length).toBe(1);
    await kubectlOk(cluster, ['rollout', 'resume', 'deployment/held', '-n', 'shop']);
    await kubectlOk(cluster, ['rollout', 'status', 'deployment/held', '-n', 'shop', '--timeout=60s']);
    expect((await replicaSets()).length).toBe(2);
    // Undo finds the v1 ReplicaSet again (same template, whatever kubectl's typed client adds).
    await kubectlOk(cluster, ['rollout', 'undo', 'deployment/held', '-n', 'shop']);
    await kubectlOk(cluster, ['rollout', 'status', 'deployment/held', '-n', 'shop', '--timeout=60s']);
    const history = await kubectlOk(cluster, ['rollout', 'history', 'deployment/held', '-n', 'shop']);
    expect(history.match(/^\d+\s/gm)).toEqual(['2 ', '3 ']);
    const active = (await replicaSets()).filter((replicaSet) => (replicaSet.spec?.replicas ?? 0) > 0);
    expect(active.map((replicaSet) => replicaSet.spec?.template?.spec?.containers[0]?.image)).toEqual([
      'shop:v1',
    ]);
    expect((await replicaSets()).length).toBe(2);
    await kubectlOk(cluster, ['set', 'image', 'deployment/held', '-n', 'shop', 'app=shop:v2']);
    await kubectlOk(cluster, ['rollout', 'status', 'deployment/held', '-n', 'shop', '--timeout=60s']);
  });
});

describe('what pod processes see', () => {
  it('gets env from secrets and fieldRefs, mounted configMaps, its own localhost and Service DNS', async () => {
    // These generators send protobuf bodies (decoded for these kinds).
    await kubectlOk(cluster, [
      'create',
      'secret',
      'generic',
      'creds',
      '-n',
      'shop',
      '--from-literal=password=s3cret',
    ]);
    await kubectlOk(cluster, [
      'create',
      'configmap',
      'greeting',
      '-n',
      'shop',
      '--from-literal=greeting=hello',
    ]);
    await kubectlOk(cluster, [
      'expose',
      'deployment',
      'held',
      '-n',
      'shop',
      '--port=80',
      '--target-port=http',
    ]);
    const script = [
      "const fs = require('fs');",
      'const [file, service] = process.argv.slice(1);',
      "console.log('file=' + fs.readFileSync(file, 'utf8'));",
      "console.log('secret=' + process.env.FROM_SECRET + ' name=' + process.env.MY_NAME + ' local=' + process.env.LOCAL_URL);",
      "const call = () => fetch(service).then((r) => r.json()).then((j) => console.log('service=' + j.version), () => setTimeout(call, 200));",
      'call();',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'probe', namespace: 'shop' },
      spec: {
        containers: [
          {
            name: 'script',
            image: 'node-script:1',
            args: ['-e', script, '/etc/config/greeting', 'http://held.shop.svc.cluster.local/'],
            env: [
              { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
              { name: 'MY_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'LOCAL_URL', value: 'http://127.0.0.1:9999' },
            ],
            volumeMounts: [{ name: 'config', mountPath: '/etc/config' }],
          },
        ],
        volumes: [{ name: 'config', configMap: { name: 'greeting' } }],
      },
    };
    await kubectlOk(cluster, ['apply', '-f', '-'], { input: JSON.stringify(pod) });
    const podIp = await waitUntil(
      'pod "probe" to get an IP',
      async () =>
        (
          await kubectlOk(cluster, ['get', 'pod', 'probe', '-n', 'shop', '-o', 'jsonpath={.status.podIP}'])
        ).trim() || undefined,
      CLUSTER_WAIT,
    );
    const logs = await waitUntil(
      'the probe pod to reach the held Service by name',
      async () => {
        const output = await kubectlOk(cluster, ['logs', 'probe', '-n', 'shop']);
        return output.includes('service=') ? output : undefined;
      },
      CLUSTER_WAIT,
    );
    expect(logs).toContain('file=hello');
    expect(logs).toContain(`secret=s3cret name=probe local=http://${podIp}:9999`);
    expect(logs).toContain('service=v2');
    await kubectlOk(cluster, ['delete', 'pod', 'probe', '-n', 'shop']);
  });
});

describe('pod lifecycle', () => {
  it('runs init containers to completion, starts native sidecars first and shares emptyDir and localhost', async () => {
    const script = (lines: string[]) => ['-e', lines.join('\n')];
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'layered', namespace: 'shop' },
      spec: {
        volumes: [{ name: 'scratch', emptyDir: {} }],
        initContainers: [
          {
            name: 'prepare',
            image: 'node-script:1',
            args: script(["require('fs').writeFileSync(process.argv[1], 'prepared')"]).concat([
              '/scratch/state',
            ]),
            volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
          },
          {
            name: 'sidecar',
            image: 'node-script:1',
            restartPolicy: 'Always',
            args: script([
              "const state = require('fs').readFileSync(process.argv[1], 'utf8');",
              "require('http').createServer((q, r) => r.end('sidecar saw ' + state)).listen(9000, '0.0.0.0');",
            ]).concat(['/scratch/state']),
            ports: [{ name: 'side', containerPort: 9000 }],
            startupProbe: { tcpSocket: { port: 'side' } },
            volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
          },
        ],
        containers: [
          {
            name: 'main',
            image: 'node-script:1',
            args: script([
              "fetch('http://localhost:9000/').then((r) => r.text()).then((t) => console.log('main got: ' + t));",
              'setInterval(() => {}, 1000);',
            ]),
          },
        ],
      },
    };
    await kubectlOk(cluster, ['apply', '-f', '-'], { input: JSON.stringify(pod) });
    const logs = await waitUntil(
      'the main container to reach its sidecar',
      async () => {
        const output = await kubectlOk(cluster, ['logs', 'layered', '-n', 'shop', '-c', 'main']);
        return output.includes('main got:') ? output : undefined;
      },
      CLUSTER_WAIT,
    );
    expect(logs).toContain('main got: sidecar saw prepared');
    const status = await core.readNamespacedPodStatus({ name: 'layered', namespace: 'shop' });
    const init = status.status?.initContainerStatuses ?? [];
    expect(init.find((entry) => entry.name === 'prepare')?.state?.terminated?.exitCode).toBe(0);
    expect(init.find((entry) => entry.name === 'sidecar')?.state?.running).toBeDefined();
    expect(status.status?.phase).toBe('Running');
    const row = await kubectlOk(cluster, ['get', 'pod', 'layered', '-n', 'shop', '--no-headers']);
    expect(row.split(/\s+/).slice(0, 3)).toEqual(['layered', '2/2', 'Running']);
  });

  it('restarts a crashing container and counts the restarts', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'crasher', namespace: 'shop' },
      spec: { containers: [{ name: 'app', image: 'node-script:1', args: ['-e', 'process.exit(3)'] }] },
    };
    await kubectlOk(cluster, ['apply', '-f', '-'], { input: JSON.stringify(pod) });
    await waitUntil(
      'two restarts of pod "crasher"',
      async () => {
        const read = await core.readNamespacedPod({ name: 'crasher', namespace: 'shop' });
        const container = read.status?.containerStatuses?.[0];
        return (container?.restartCount ?? 0) >= 2 && container?.lastState?.terminated?.exitCode === 3;
      },
      CLUSTER_WAIT,
    );
    await kubectlOk(cluster, ['delete', 'pod', 'crasher', '-n', 'shop', '--timeout=30s']);
  });
});

describe('switchyard images', () => {
  it('runs the real router as a native sidecar in front of the shop app, reachable through a Service', async () => {
    await kubectlOk(cluster, ['create', 'namespace', 'routed']);
    const table = {
      service: 'shop',
      generation: 1,
      tracks: { stable: { upstream: 'http://127.0.0.1:8080' } },
      weights: { stable: 100 },
    };
    await kubectlOk(cluster, [
      'create',
      'configmap',
      'routes',
      '-n',
      'routed',
      `--from-literal=routes.json=${JSON.stringify(table)}`,
    ]);
    const manifests = [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'shop', namespace: 'routed' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'shop' } },
          template: {
            metadata: { labels: { app: 'shop' } },
            spec: {
              volumes: [{ name: 'routes', configMap: { name: 'routes' } }],
              initContainers: [
                {
                  name: 'switchyard-router',
                  image: 'ghcr.io/switchyard/switchyard:0.1.0',
                  restartPolicy: 'Always',
                  args: [
                    'router',
                    '--listen',
                    '0.0.0.0:15001',
                    '--admin',
                    '0.0.0.0:15020',
                    '--service',
                    'shop',
                    '--track',
                    'stable',
                    '--local',
                    'http://127.0.0.1:8080',
                    '--routes-file',
                    '/etc/switchyard/routes.json',
                  ],
                  ports: [
                    { name: 'http', containerPort: 15001 },
                    { name: 'sy-admin', containerPort: 15020 },
                  ],
                  startupProbe: { httpGet: { path: '/healthz', port: 'sy-admin' }, periodSeconds: 1 },
                  readinessProbe: { httpGet: { path: '/readyz', port: 'sy-admin' }, periodSeconds: 1 },
                  volumeMounts: [{ name: 'routes', mountPath: '/etc/switchyard' }],
                },
              ],
              containers: [{ name: 'app', image: 'shop:v1', ports: [{ name: 'app', containerPort: 8080 }] }],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'shop', namespace: 'routed' },
        spec: { selector: { app: 'shop' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      },
    ];
    await kubectlOk(cluster, ['apply', '-f', '-'], {
      input: manifests.map((doc) => JSON.stringify(doc)).join('\n'),
    });
    await kubectlOk(cluster, ['rollout', 'status', 'deployment/shop', '-n', 'routed', '--timeout=60s']);
    const response = await waitUntil(
      'a 200 through the Service and the router',
      async () => {
        const answer = await httpGet(cluster.serviceUrl('routed', 'shop', 80));
        return answer.status === 200 ? answer : undefined;
      },
      CLUSTER_WAIT,
    );
    expect(response.version).toBe('v1');
    const podIp = (
      await kubectlOk(cluster, ['get', 'pods', '-n', 'routed', '-o', 'jsonpath={.items[0].status.podIP}'])
    ).trim();
    const metrics = await (await fetch(`http://${podIp}:15020/metrics`)).text();
    expect(metrics).toMatch(/switchyard_requests_total\{[^}]*track="stable"[^}]*\} [1-9]/);
  });
});

describe('admission webhooks over HTTPS', () => {
  let webhook: Server;
  const reviews: { operation: string; user: string; dryRun: boolean; kind: string }[] = [];
  const requestNames: string[] = [];
  const paths: string[] = [];

  beforeAll(async () => {
    const ca = await createCertificateAuthority('webhook-test-ca');
    const serving = await createServingCertificate(ca, ['127.0.0.1', 'hook.default.svc']);
    webhook = createHttpsServer({ cert: serving.certPem, key: serving.keyPem }, (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString()) as {
          request: {
            uid: string;
            name: string;
            operation: string;
            dryRun: boolean;
            kind: { kind: string };
            userInfo: { username: string };
            object: { data?: Record<string, string>; metadata: { labels?: Record<string, string> } };
          };
        };
        const { request: admission } = review;
        requestNames.push(admission.name);
        paths.push(request.url ?? '');
        reviews.push({
          operation: admission.operation,
          user: admission.userInfo.username,
          dryRun: admission.dryRun,
          kind: admission.kind.kind,
        });
        const denied = admission.object.data?.deny !== undefined;
        const label = request.url === '/via-service' ? 'via-service' : 'mutated';
        const patch = admission.object.metadata.labels
          ? [{ op: 'add', path: `/metadata/labels/${label}`, value: 'true' }]
          : [{ op: 'add', path: '/metadata/labels', value: { [label]: 'true' } }];
        const answer = denied
          ? { uid: admission.uid, allowed: false, status: { code: 403, message: 'no denials please' } }
          : {
              uid: admission.uid,
              allowed: true,
              patchType: 'JSONPatch',
              patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
              warnings: ['configmap mutated by the test webhook'],
            };
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: answer }),
        );
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const port = (webhook.address() as AddressInfo).port;
    const configuration = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'test-webhook' },
      webhooks: [
        {
          name: 'configmaps.test.switchyard.io',
          admissionReviewVersions: ['v1'],
          reinvocationPolicy: 'IfNeeded',
          sideEffects: 'None',
          failurePolicy: 'Fail',
          clientConfig: {
            url: `https://127.0.0.1:${port}/mutate`,
            caBundle: Buffer.from(ca.certPem).toString('base64'),
          },
          rules: [
            {
              operations: ['CREATE', 'UPDATE'],
              apiGroups: [''],
              apiVersions: ['v1'],
              resources: ['configmaps'],
            },
          ],
          objectSelector: { matchLabels: { admission: 'test' } },
        },
        {
          name: 'service.test.switchyard.io',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          clientConfig: {
            service: { namespace: 'default', name: 'hook', port: 443, path: '/via-service' },
            caBundle: Buffer.from(ca.certPem).toString('base64'),
          },
          rules: [
            { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] },
          ],
          objectSelector: { matchLabels: { admission: 'test' } },
        },
        {
          name: 'gated.test.switchyard.io',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          clientConfig: {
            url: 'https://127.0.0.1:1/unreachable',
            caBundle: Buffer.from(ca.certPem).toString('base64'),
          },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['secrets'] }],
          matchConditions: [
            {
              name: 'gated',
              expression: "has(object.metadata.annotations) && 'gate' in object.metadata.annotations",
            },
          ],
        },
        {
          name: 'unreachable.test.switchyard.io',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Ignore',
          clientConfig: { service: { namespace: 'default', name: 'nowhere', port: 443 } },
          rules: [
            { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] },
          ],
          objectSelector: { matchLabels: { admission: 'test' } },
        },
      ],
    };
    // A selector-less Service whose Endpoints point at the test server: the API server resolves
    // it and verifies the certificate for hook.default.svc.
    // Applied as a `kind: List` (kubectl validates Lists client-side against /openapi/v2).
    const hook = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'hook', namespace: 'default' },
          spec: { ports: [{ port: 443 }] },
        },
        {
          apiVersion: 'v1',
          kind: 'Endpoints',
          metadata: { name: 'hook', namespace: 'default' },
          subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ port }] }],
        },
      ],
    };
    await kubectlOk(cluster, ['apply', '-f', '-'], {
      input: JSON.stringify(hook),
    });
    await kubectlOk(cluster, ['apply', '-f', '-'], { input: JSON.stringify(configuration) });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => (webhook ? webhook.close(() => resolve()) : resolve()));
  });

  const configMap = (name: string, data: Record<string, string>) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: 'default', labels: { admission: 'test' } },
      data,
    });

  it('applies the JSONPatch, passes warnings to kubectl and sends who asked', async () => {
    const result = await kubectl(cluster, ['apply', '-f', '-'], { input: configMap('mutated', { a: '1' }) });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('Warning: configmap mutated by the test webhook');
    const stored = await core.readNamespacedConfigMap({ name: 'mutated', namespace: 'default' });
    expect(stored.metadata?.labels).toEqual({ admission: 'test', mutated: 'true', 'via-service': 'true' });
    expect(reviews.at(-1)).toEqual({
      operation: 'CREATE',
      user: 'kubernetes-admin',
      dryRun: false,
      kind: 'ConfigMap',
    });
    // The service webhook changed the object after the first one, which asked to be reinvoked.
    expect(paths.slice(-3)).toEqual(['/mutate', '/via-service', '/mutate']);
  });

  it('calls the webhook with dryRun on a server dry run and stores nothing', async () => {
    const result = await kubectl(cluster, ['apply', '--dry-run=server', '-f', '-'], {
      input: configMap('dry-admitted', { a: '1' }),
    });
    expect(result.code).toBe(0);
    expect(reviews.at(-1)?.dryRun).toBe(true);
    const missing = await core
      .readNamespacedConfigMap({ name: 'dry-admitted', namespace: 'default' })
      .catch((error: unknown) => error);
    expect(statusCode(missing)).toBe(404);
  });

  it('rejects a denied object with the message kubectl prints from a real API server', async () => {
    const result = await kubectl(cluster, ['apply', '-f', '-'], {
      input: configMap('denied', { deny: 'yes' }),
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      'admission webhook "configmaps.test.switchyard.io" denied the request: no denials please',
    );
    const missing = await core
      .readNamespacedConfigMap({ name: 'denied', namespace: 'default' })
      .catch((e: unknown) => e);
    expect(statusCode(missing)).toBe(404);
  });

  it('calls a webhook only for objects its matchConditions select, failing closed when it is down', async () => {
    const secret = (name: string, annotations?: Record<string, string>) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: 'default', annotations },
      });
    await kubectlOk(cluster, ['apply', '-f', '-'], { input: secret('ungated') });
    const gated = await kubectl(cluster, ['apply', '-f', '-'], { input: secret('gated', { gate: 'yes' }) });
    expect(gated.code).not.toBe(0);
    expect(gated.stderr).toContain('failed calling webhook "gated.test.switchyard.io"');
  });

  it('sends generateName objects before their name is generated, as kube-apiserver does', async () => {
    const created = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { generateName: 'hooked-', labels: { admission: 'test' } } },
    });
    expect(created.metadata?.name).toMatch(/^hooked-/);
    expect(created.metadata?.labels?.mutated).toBe('true');
    expect(requestNames.at(-1)).toBe('');
  });

  it('leaves objects the objectSelector does not select alone', async () => {
    const before = reviews.length;
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'unselected' }, data: { deny: 'x' } },
    });
    expect(reviews.length).toBe(before);
  });
});

describe('namespace deletion', () => {
  it('deletes everything in the namespace, stopping its pods, then the namespace', async () => {
    const podIps = (
      await kubectlOk(cluster, ['get', 'pods', '-n', 'shop', '-o', 'jsonpath={.items[*].status.podIP}'])
    )
      .split(' ')
      .filter((ip) => ip !== '');
    expect(podIps.length).toBeGreaterThan(0);
    await kubectlOk(cluster, ['delete', 'namespace', 'shop', '--timeout=60s']);
    const namespaces = await kubectlOk(cluster, ['get', 'namespaces', '-o', 'name']);
    expect(namespaces).not.toContain('namespace/shop');
    expect(
      (await apps.listDeploymentForAllNamespaces()).items.filter((d) => d.metadata?.namespace === 'shop'),
    ).toEqual([]);
    for (const ip of podIps) {
      const error = await fetch(`http://${ip}:8080/healthz`, { signal: AbortSignal.timeout(2000) }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Error);
    }
  });
});
