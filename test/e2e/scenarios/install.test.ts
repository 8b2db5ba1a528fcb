// Scenarios 1, 2 and 9 of issue 6 on one install: an admin installs switchyard with
// `kubectl apply -k deploy/`; an app owner opts a Deployment in and sees the router in its pods;
// a bad annotation is refused at apply time with the documented message.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../support/wait-for.js';
import {
  applyYaml,
  CONTROL_NAMESPACE,
  createNamespace,
  type FakeCluster,
  jsonpath,
  kubectl,
  kubectlOk,
  podContainers,
  repoRoot,
  sample,
  shopManifests,
  startCluster,
  switchyardOk,
  waitForControl,
  waitRolledOut,
  scaleControl,
} from './harness.js';

let cluster: FakeCluster;

beforeAll(async () => {
  cluster = await startCluster();
});

afterAll(async () => {
  await cluster?.close();
});

describe('scenario 1: install with kubectl apply -k deploy/', () => {
  it('control starts, creates its TLS Secret, patches caBundle and one replica becomes leader', async () => {
    const applied = await kubectlOk(cluster, ['apply', '-k', join(repoRoot, 'deploy')]);
    expect(applied).toContain('deployment.apps/switchyard-control created');
    const { leader, pods } = await waitForControl(cluster);
    expect(pods).toHaveLength(2);
    expect(pods).toContain(leader);

    const crd = await kubectlOk(cluster, ['get', 'crd', 'canaries.switchyard.io', '-o', 'name']);
    expect(crd.trim()).toBe('customresourcedefinition.apiextensions.k8s.io/canaries.switchyard.io');
    const secretType = await jsonpath(
      cluster,
      CONTROL_NAMESPACE,
      'secret',
      'switchyard-webhook-tls',
      '{.type}',
    );
    expect(secretType).toBe('kubernetes.io/tls');
    // `kubectl get canaries` works (printer columns) even with nothing opted in yet.
    const empty = await kubectl(cluster, ['get', 'canaries', '-A']);
    expect(empty.code).toBe(0);
  });
});

describe('scenario 2: opting a Deployment in', () => {
  const namespace = 'optin';

  it('injects the router with named-port takeover; traffic through the Service reaches the app; metrics appear', async () => {
    await createNamespace(cluster, namespace);
    await applyYaml(cluster, shopManifests({ namespace, annotations: { canary: 'enabled', port: 'http' } }));
    await waitRolledOut(cluster, namespace, 'shop');

    const pods = JSON.parse(
      await kubectlOk(cluster, ['-n', namespace, 'get', 'pods', '-l', 'app=shop', '-o', 'json']),
    ) as {
      items: PodJson[];
    };
    const running = pods.items.filter((pod) => !pod.metadata.deletionTimestamp);
    expect(running).toHaveLength(2);
    for (const pod of running) {
      expect(pod.metadata.labels['switchyard.io/inject']).toBe('true');
      expect(pod.metadata.labels['switchyard.io/track']).toBe('stable');
      const router = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find(
        (container) => container.name === 'switchyard-router',
      );
      expect(router, `router container in pod ${pod.metadata.name}`).toBeDefined();
      // Named-port takeover: the router owns the name the Service targets, the app port was renamed.
      expect(router?.ports?.find((port) => port.name === 'http')?.containerPort).toBe(15001);
      const app = pod.spec.containers.find((container) => container.name === 'shop');
      expect(app?.ports).toEqual([expect.objectContaining({ name: 'app-http', containerPort: 8080 })]);
      // The app's readiness probe still reaches the app (by number now).
      expect(app?.readinessProbe?.httpGet?.port).toBe(8080);
    }
    // The Service's Endpoints point at the router port, not the app's.
    const endpointPorts = await jsonpath(
      cluster,
      namespace,
      'endpoints',
      'shop',
      '{.subsets[*].ports[*].port}',
    );
    expect(endpointPorts).toBe('15001');

    const url = cluster.serviceUrl(namespace, 'shop', 80);
    const answers = await waitUntil(
      'requests through Service shop to be answered by the app',
      async () => {
        const tally = await sample(url, 20);
        return tally.failed === 0 && tally.byVersion.v1 === 20 ? tally : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(answers.total).toBe(20);

    // Each router counted the requests it sent to its app (admin port 15020 on the pod IP).
    let total = 0;
    for (const pod of running) {
      const metrics = await (await fetch(`http://${pod.status.podIP}:15020/metrics`)).text();
      const line = metrics
        .split('\n')
        .find(
          (row) =>
            row.startsWith('switchyard_requests_total{') &&
            row.includes('service="shop"') &&
            row.includes('track="stable"') &&
            row.includes('code_class="2xx"'),
        );
      if (line) total += Number(line.split(' ').pop());
    }
    expect(total).toBeGreaterThanOrEqual(20);
  });
});

describe('scenario 9: bad annotation', () => {
  it('kubectl apply is rejected with the documented message and nothing is stored', async () => {
    const namespace = 'badannot';
    await createNamespace(cluster, namespace);
    const result = await kubectl(cluster, ['apply', '-f', '-'], {
      input: shopManifests({ namespace, name: 'bad', annotations: { canary: 'enabled', interval: '5s' } }),
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      'admission webhook "deployments.switchyard.io" denied the request: switchyard: Deployment badannot/bad: switchyard.io/interval: "5s" — expected a duration from 10s to 24h, e.g. "1m", "30s", "1m30s"',
    );
    const stored = await kubectl(cluster, ['-n', namespace, 'get', 'deployment', 'bad']);
    expect(stored.code).not.toBe(0);
    expect(stored.stderr).toContain('NotFound');
  });
});

describe('scenario 8: webhook down', () => {
  it('opted-in pods are still created (without the router), then named by control until replaced; unrelated Deployments are never blocked', async () => {
    // The opted-in shop from scenario 2 is running; control goes away entirely.
    await scaleControl(cluster, 0);
    await waitUntil(
      'no switchyard-control endpoints',
      async () =>
        (await jsonpath(
          cluster,
          CONTROL_NAMESPACE,
          'endpoints',
          'switchyard-control',
          '{.subsets[*].addresses[*].ip}',
        )) === ''
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 500 },
    );

    // An unrelated Deployment is created and rolls out as if switchyard were not installed.
    await createNamespace(cluster, 'plain');
    await applyYaml(cluster, shopManifests({ namespace: 'plain', name: 'other', replicas: 1 }));
    await waitRolledOut(cluster, 'plain', 'other');
    await kubectlOk(cluster, ['-n', 'plain', 'set', 'image', 'deployment/other', 'shop=shop:v2']);
    await waitRolledOut(cluster, 'plain', 'other');
    expect((await sample(cluster.serviceUrl('plain', 'other', 80), 5)).byVersion).toEqual({ v2: 5 });

    // A pod of the opted-in Deployment is replaced: failurePolicy Ignore lets it in, without router.
    const before = (await podContainers(cluster, 'optin', 'app=shop')).map((pod) => pod.name);
    await kubectlOk(cluster, ['-n', 'optin', 'delete', 'pod', before[0]!, '--wait=false']);
    const replacement = await waitUntil(
      'a replacement pod for the deleted opted-in pod',
      async () =>
        (await podContainers(cluster, 'optin', 'app=shop')).find((pod) => !before.includes(pod.name)),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect([...replacement.init, ...replacement.main]).toEqual(['shop']);
    await waitRolledOut(cluster, 'optin', 'shop');
    const url = cluster.serviceUrl('optin', 'shop', 80);
    const answers = await waitUntil(
      'every request through Service optin/shop answered while control is down',
      async () => {
        const tally = await sample(url, 20);
        return tally.failed === 0 ? tally : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    expect(answers.byVersion).toEqual({ v1: 20 });

    // Control back: the Canary names the pod that runs without the router, and status warns.
    await scaleControl(cluster, 1);
    await waitForControl(cluster, { replicas: 1 });
    const routerInjected = (): Promise<string> =>
      jsonpath(
        cluster,
        'optin',
        'canary',
        'shop',
        '{.status.conditions[?(@.type=="RouterInjected")].status} {.status.conditions[?(@.type=="RouterInjected")].message}',
      );
    const named = await waitUntil(
      'RouterInjected False naming the replacement pod',
      async () => {
        const condition = await routerInjected();
        return condition.startsWith('False ') && condition.includes(replacement.name) ? condition : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, seen: routerInjected },
    );
    expect(named).toContain('1 pod without the router');
    expect(await switchyardOk(cluster, ['status', '-n', 'optin', 'shop'])).toContain(
      `warning: optin/shop: 1 pod without the router (${replacement.name})`,
    );
    // The fix the message gives: delete it; its replacement comes through the webhook, with the router.
    await kubectlOk(cluster, ['-n', 'optin', 'delete', 'pod', replacement.name, '--wait=false']);
    await waitUntil(
      'RouterInjected True once the pod is replaced with the router',
      async () => ((await routerInjected()).startsWith('True ') ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 500, seen: routerInjected },
    );
    await waitRolledOut(cluster, 'optin', 'shop');
    const routed = await podContainers(cluster, 'optin', 'app=shop');
    expect(
      routed.every((pod) => [...pod.init, ...pod.main].includes('switchyard-router')),
      JSON.stringify(routed),
    ).toBe(true);
  });
});

interface PodJson {
  metadata: { name: string; labels: Record<string, string>; deletionTimestamp?: string };
  spec: {
    initContainers?: ContainerJson[];
    containers: ContainerJson[];
  };
  status: { podIP: string };
}

interface ContainerJson {
  name: string;
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { port: number | string } };
}
