// `switchyard control` in Kubernetes mode as one piece: self-managed webhook TLS (Secret + caBundle),
// the real Deployment webhook called by the fake API server, the controller promoting through it
// (its own unpause let through by username), the route server and the Canary-backed operator API.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  ApiException,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotation, Label, OwnedAnnotation } from '../../../api/annotations.js';
import { statusOf } from '../../../controller/kube/canary-object.js';
import {
  type KubeControl,
  type KubeControlOptions,
  startKubeControl,
} from '../../../controller/kube/control.js';
import { waitFor, waitUntil } from '../../support/wait-for.js';
import {
  appDeployment,
  CONTROL_NAMESPACE,
  type Harness,
  NAMESPACE,
  readCanary,
  ScriptedAnalyzer,
  startHarness,
  KUBE_WAIT,
} from './harness.js';

const API_TOKEN = 'kube-control-test-api-token';
let harness: Harness;
let control: KubeControl;
let deployer: AppsV1Api;
let agent: Agent;
const analyzer = new ScriptedAnalyzer();

function options(): KubeControlOptions {
  return {
    kubeConfig: harness.kubeConfig,
    host: '127.0.0.1',
    port: 0,
    tlsFiles: null,
    namespace: CONTROL_NAMESPACE,
    serviceName: 'switchyard-control',
    identity: 'control-0',
    leaseName: 'switchyard-control',
    leaseDurationMs: 1500,
    renewMs: 300,
    tlsSecretName: 'switchyard-webhook-tls',
    webhookConfigurationName: 'switchyard',
    // The controller talks to the API as the admin user of the fake cluster's kubeconfig.
    controllerUsernames: ['kubernetes-admin'],
    prometheusConfigured: false,
    routerImage: 'ghcr.io/switchyard/switchyard:test',
    controlUrl: 'https://switchyard-control.switchyard-system.svc:443',
    routerPort: 15001,
    adminPort: 15020,
    apiToken: API_TOKEN,
    analyzer,
    logger: pino({ level: process.env.SWITCHYARD_TEST_LOG ?? 'silent' }),
    registry: new Registry(),
    now: harness.now,
    resyncMs: 100,
    analysisIntervalMs: 100,
  };
}

beforeAll(async () => {
  harness = await startHarness();
  const { core } = harness;
  // Control's Service without selector: its Endpoints point at the test process (set below).
  await core.createNamespacedService({
    namespace: CONTROL_NAMESPACE,
    body: {
      metadata: { name: 'switchyard-control' },
      spec: { ports: [{ name: 'https', port: 443, targetPort: 8443 as never }] },
    },
  });
  await harness.kubeConfig.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
    body: {
      metadata: { name: 'switchyard' },
      webhooks: [
        {
          name: 'deployments.switchyard.io',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          clientConfig: {
            service: { namespace: CONTROL_NAMESPACE, name: 'switchyard-control', path: '/mutate', port: 443 },
          },
          rules: [
            {
              apiGroups: ['apps'],
              apiVersions: ['v1'],
              operations: ['CREATE', 'UPDATE'],
              resources: ['deployments'],
            },
          ],
        },
      ],
    },
  });
  control = await startKubeControl(options());
  const port = Number(new URL(control.server.url).port);
  await core.createNamespacedEndpoints({
    namespace: CONTROL_NAMESPACE,
    body: {
      metadata: { name: 'switchyard-control' },
      subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port }] }],
    },
  });
  const secret = await core.readNamespacedSecret({
    name: 'switchyard-webhook-tls',
    namespace: CONTROL_NAMESPACE,
  });
  agent = new Agent({
    connect: {
      ca: Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString(),
      servername: 'switchyard-control.switchyard-system.svc',
    },
  });
  // A user other than the controller: its template changes go through the release gate.
  const path = join(harness.cluster.workDir, 'deployer.kubeconfig');
  await harness.cluster.writeServiceAccountKubeconfig(NAMESPACE, 'deployer', path);
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  deployer = kc.makeApiClient(AppsV1Api);
});

afterAll(async () => {
  await control?.close();
  await agent?.close();
  await harness?.close();
});

async function replaceImage(name: string, image: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const current = await deployer.readNamespacedDeployment({ name, namespace: NAMESPACE });
    current.spec!.template.spec!.containers[0]!.image = image;
    try {
      await deployer.replaceNamespacedDeployment({ name, namespace: NAMESPACE, body: current });
      return;
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 409) || attempt > 20) throw error;
    }
  }
}

/** SHA-256 fingerprint of the certificate a control replica serves now (no verification). */
function servedCertificate(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('switchyard control, Kubernetes mode', () => {
  it('creates its webhook certificate and publishes the CA into the webhook configuration', async () => {
    const config = await harness.kubeConfig
      .makeApiClient(AdmissionregistrationV1Api)
      .readMutatingWebhookConfiguration({ name: 'switchyard' });
    const secret = await harness.core.readNamespacedSecret({
      name: 'switchyard-webhook-tls',
      namespace: CONTROL_NAMESPACE,
    });
    expect(config.webhooks?.[0]?.clientConfig.caBundle).toBe(secret.data?.['ca-bundle.crt']);
    const health = await request(`${control.server.url}/healthz`, { dispatcher: agent });
    expect(health.statusCode).toBe(200);
    await health.body.dump();
  });

  it('gates a template change through the webhook and promotes it, its own unpause let through', async () => {
    analyzer.outcome = 'pass';
    const body = appDeployment('web', 'app:v1');
    // The user applies a plain template; the webhook adds the labels.
    body.spec!.template.metadata!.labels = { app: 'web' };
    const created: V1Deployment = await deployer.createNamespacedDeployment({ namespace: NAMESPACE, body });
    expect(created.spec?.template.metadata?.labels).toMatchObject({
      [Label.inject]: 'true',
      [Label.track]: 'stable',
      [Label.service]: 'web',
    });
    await waitUntil(
      'Canary web',
      async () => statusOf((await readCanary(harness.custom, 'web')) ?? undefined) !== null,
      KUBE_WAIT,
    );
    await replaceImage('web', 'app:v2');
    const gated = await deployer.readNamespacedDeployment({ name: 'web', namespace: NAMESPACE });
    expect(gated.spec?.paused).toBe(true);
    const revision = gated.metadata?.annotations?.[OwnedAnnotation.pendingRevision];
    expect(revision).toMatch(/\w+/);
    await waitFor(
      'web promoted',
      async () => {
        const status = statusOf((await readCanary(harness.custom, 'web')) ?? undefined);
        return status && { phase: status.phase, weight: status.weight, message: status.message };
      },
      (status) => status?.phase === 'Succeeded',
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    const promoted = await deployer.readNamespacedDeployment({ name: 'web', namespace: NAMESPACE });
    expect(promoted.spec?.paused).toBe(false);
    expect(promoted.spec?.template.spec?.containers[0]?.image).toBe('app:v2');
    expect(statusOf((await readCanary(harness.custom, 'web'))!)?.stableRevision).toBe(revision);
  });

  it('releases a change of switchyard.io/port as a canary too (the router fronts another port)', async () => {
    analyzer.outcome = 'pass';
    const before = statusOf((await readCanary(harness.custom, 'web'))!)!;
    await deployer.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: NAMESPACE,
        body: { metadata: { annotations: { [Annotation.port]: 'http' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const gated = await deployer.readNamespacedDeployment({ name: 'web', namespace: NAMESPACE });
    expect(gated.spec?.paused).toBe(true);
    const revision = gated.metadata?.annotations?.[OwnedAnnotation.pendingRevision];
    expect(revision).toMatch(/\w+/);
    expect(revision).not.toBe(before.stableRevision);
    const canary = await waitUntil(
      'web-canary with the new port',
      () =>
        harness.apps
          .readNamespacedDeployment({ name: 'web-canary', namespace: NAMESPACE })
          .catch(() => undefined),
      KUBE_WAIT,
    );
    expect(canary.spec?.template.metadata?.annotations?.[Annotation.port]).toBe('http');
    await waitFor(
      'web promoted again',
      async () => statusOf((await readCanary(harness.custom, 'web')) ?? undefined),
      (status) => status?.phase === 'Succeeded' && status.stableRevision === revision,
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    const promoted = await deployer.readNamespacedDeployment({ name: 'web', namespace: NAMESPACE });
    expect(promoted.spec?.paused).toBe(false);
    expect(promoted.spec?.template.metadata?.annotations?.[Annotation.port]).toBe('http');
  });

  it('serves the route table to authenticated routers only, and the operator API with its token', async () => {
    const unauthenticated = await request(`${control.server.url}/v1/routes/${NAMESPACE}/web`, {
      dispatcher: agent,
    });
    expect(unauthenticated.statusCode).toBe(401);
    await unauthenticated.body.dump();
    const token = harness.cluster.issueToken(NAMESPACE, 'default', ['switchyard']);
    const polled = await request(`${control.server.url}/v1/routes/${NAMESPACE}/web?generation=0`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(polled.statusCode).toBe(200);
    const table = (await polled.body.json()) as {
      weights: Record<string, number>;
      tracks: Record<string, unknown>;
    };
    expect(table.weights).toEqual({ stable: 100 });
    const listed = await request(`${control.server.url}/v1/rollouts`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    expect(listed.statusCode).toBe(200);
    const { items } = (await listed.body.json()) as { items: { name: string; phase: string }[] };
    expect(items.map((item) => `${item.name}:${item.phase}`)).toEqual(['web:Succeeded']);
  });

  it('exports a warnings gauge per rollout: here, pods created without the router', async () => {
    // This cluster has no pod webhook, so the pods of 'web' never got the router.
    const scrape = async () => {
      const response = await request(`${control.server.url}/metrics`, { dispatcher: agent });
      return response.body.text();
    };
    const text = await waitFor(
      'switchyard_rollout_warnings for web',
      scrape,
      (metrics) => /switchyard_rollout_warnings\{namespace="default",name="web"\} 1\b/.test(metrics),
      KUBE_WAIT,
    );
    expect(text).toContain('# HELP switchyard_rollout_warnings');
  });

  it('a second replica serves with --tls-cert-file/--tls-key-file (cert-manager style) as a follower', async () => {
    const secret = await harness.core.readNamespacedSecret({
      name: 'switchyard-webhook-tls',
      namespace: CONTROL_NAMESPACE,
    });
    const dir = join(harness.cluster.workDir, 'certs');
    await mkdir(dir, { recursive: true });
    for (const key of ['tls.crt', 'tls.key', 'ca.crt']) {
      await writeFile(join(dir, key), Buffer.from(secret.data?.[key] ?? '', 'base64'));
    }
    const follower = await startKubeControl({
      ...options(),
      identity: 'control-1',
      tlsFiles: {
        certFile: join(dir, 'tls.crt'),
        keyFile: join(dir, 'tls.key'),
        caFile: join(dir, 'ca.crt'),
      },
    });
    try {
      expect(follower.controller.isLeader).toBe(false);
      const health = await request(`${follower.server.url}/healthz`, { dispatcher: agent });
      expect(health.statusCode).toBe(200);
      await health.body.dump();
      // Followers serve the same route tables (derived from the Canary status).
      await waitUntil(
        'the follower to serve the web table',
        () =>
          follower.routes.get(NAMESPACE, 'web')?.generation ===
          control.routes.get(NAMESPACE, 'web')?.generation,
        KUBE_WAIT,
      );
    } finally {
      await follower.close();
    }
  });
  // Last in the file: it replaces the CA the shared agent trusts.
  it('a deleted TLS Secret is re-created by the leader and served by every replica at once', async () => {
    const follower = await startKubeControl({ ...options(), identity: 'control-2' });
    try {
      expect(follower.controller.isLeader).toBe(false);
      const before = await servedCertificate(control.server.url);
      expect(await servedCertificate(follower.server.url)).toBe(before);
      await harness.core.deleteNamespacedSecret({
        name: 'switchyard-webhook-tls',
        namespace: CONTROL_NAMESPACE,
      });
      // Both replicas check on their own only every 60 s: within the wait, only the Secret's watch
      // events can carry the change.
      await waitFor(
        'leader and follower to serve one new certificate',
        async () => {
          const served = [
            await servedCertificate(control.server.url),
            await servedCertificate(follower.server.url),
          ];
          return served[0] !== before && served[0] === served[1];
        },
        (same) => same,
        KUBE_WAIT,
      );
      const secret = await harness.core.readNamespacedSecret({
        name: 'switchyard-webhook-tls',
        namespace: CONTROL_NAMESPACE,
      });
      const config = await harness.kubeConfig
        .makeApiClient(AdmissionregistrationV1Api)
        .readMutatingWebhookConfiguration({ name: 'switchyard' });
      expect(config.webhooks?.[0]?.clientConfig.caBundle).toBe(secret.data?.['ca-bundle.crt']);
      const trusting = new Agent({
        connect: {
          ca: Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString(),
          servername: 'switchyard-control.switchyard-system.svc',
        },
      });
      try {
        for (const replica of [control, follower]) {
          const health = await request(`${replica.server.url}/healthz`, { dispatcher: trusting });
          expect(health.statusCode).toBe(200);
          await health.body.dump();
        }
      } finally {
        await trusting.close();
      }
    } finally {
      await follower.close();
    }
  });
});
