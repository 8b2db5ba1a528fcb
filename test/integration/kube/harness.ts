// Test harness for the Kubernetes adapter: the in-repo fake cluster (API server, Deployment
// controller, kubelet) with the Canary CRD, and the controllers under test.

import { readFile } from 'node:fs/promises';
import {
  ApiException,
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1Deployment,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import YAML from 'yaml';
import { Annotation, Label, OwnedAnnotation, podTemplateHash } from '../../../api/annotations.js';
import { CANARY_GROUP, CANARY_PLURAL, CANARY_VERSION, type Verdict } from '../../../api/canary.js';
import type { AnalysisWindow, WindowAnalyzer } from '../../../controller/window-analyzer.js';
import { KubeController, type KubeControllerOptions } from '../../../controller/kube/controller.js';
import type { CanaryObject } from '../../../controller/kube/canary-object.js';
import { RouteStore } from '../../../controller/route-server.js';
import { type FakeCluster, startFakeCluster } from '../../e2e/cluster/cluster.js';
import type { WaitOptions } from '../../support/wait-for.js';

export const NAMESPACE = 'default';
export const CONTROL_NAMESPACE = 'switchyard-system';
/** Rollout time runs this many times faster than real time (10 s intervals take 0.5 s). */
/** How long the adapter tests wait for the controller to converge, and how often they look. */
export const KUBE_WAIT: WaitOptions = { timeoutMs: 10_000, intervalMs: 50 };

export const SPEEDUP = 20;

/** Verdicts on demand: every analysis answers `outcome` (tests flip it). */
export class ScriptedAnalyzer implements WindowAnalyzer {
  outcome: Verdict['outcome'] = 'pass';
  fastFail = false;
  begun = 0;
  /** The last window analysed: what the adapter passes to the analysis (scrape targets…). */
  lastWindow: AnalysisWindow | null = null;

  async begin(_window: AnalysisWindow): Promise<void> {
    this.begun++;
  }

  async analyse(window: AnalysisWindow, now: Date): Promise<Verdict> {
    this.lastWindow = window;
    const failing = this.outcome === 'fail';
    return {
      at: now.toISOString(),
      step: window.step,
      weight: window.weight,
      outcome: this.outcome,
      fastFail: failing && this.fastFail,
      checks: [
        {
          name: 'success-rate',
          outcome: this.outcome,
          value: failing ? 0.5 : 1,
          threshold: 0.99,
          message: `canary success ${failing ? '0.50 < 0.99' : '1.00 ≥ 0.99'} over 200 requests`,
        },
      ],
      canary: {
        requests: 200,
        errors: failing ? 100 : 0,
        successRate: failing ? 0.5 : 1,
        p50Seconds: 0.01,
        p99Seconds: 0.02,
      },
      stable: { requests: 800, errors: 0, successRate: 1, p50Seconds: 0.01, p99Seconds: 0.02 },
    };
  }
}

export interface Harness {
  readonly cluster: FakeCluster;
  readonly kubeConfig: KubeConfig;
  readonly apps: AppsV1Api;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly now: () => Date;
  startController(
    identity: string,
    analyzer: WindowAnalyzer,
    extra?: Partial<KubeControllerOptions>,
  ): Promise<{ controller: KubeController; routes: RouteStore }>;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const started = Date.now();
  const now = (): Date => new Date(started + (Date.now() - started) * SPEEDUP);
  // Pods run as cheap `sleep` processes: these tests are about the controller, not the app.
  const cluster = await startFakeCluster({
    images: [{ match: (image) => image.startsWith('app:'), command: () => ({ argv: ['sleep', '600'] }) }],
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(cluster.kubeconfigPath);
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const crd = YAML.parse(
    await readFile(new URL('../../../deploy/base/crd-canary.yaml', import.meta.url), 'utf8'),
  );
  await kubeConfig.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({ body: crd });
  await core.createNamespace({ body: { metadata: { name: CONTROL_NAMESPACE } } });

  const controllers: KubeController[] = [];
  const logger = pino({ level: process.env.SWITCHYARD_TEST_LOG ?? 'silent' });
  return {
    cluster,
    kubeConfig,
    apps,
    core,
    custom,
    now,
    async startController(identity, analyzer, extra = {}) {
      const routes = new RouteStore();
      const controller = new KubeController({
        kubeConfig,
        routes,
        analyzer,
        logger: logger.child({ identity }),
        now,
        identity,
        leaseNamespace: CONTROL_NAMESPACE,
        leaseDurationMs: 1500,
        renewMs: 300,
        resyncMs: 100,
        analysisIntervalMs: 100,
        ...extra,
      });
      controllers.push(controller);
      await controller.start();
      return { controller, routes };
    },
    async close() {
      await Promise.all(controllers.map((controller) => controller.stop()));
      await cluster.close();
    },
  };
}

export function appDeployment(
  name: string,
  image: string,
  annotations: Record<string, string> = {},
): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: NAMESPACE,
      annotations: {
        [Annotation.canary]: 'enabled',
        [Annotation.steps]: '20,50',
        [Annotation.interval]: '10s',
        ...annotations,
      },
    },
    spec: {
      replicas: 4,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: {
          // What the Deployment webhook adds on CREATE.
          labels: { app: name, [Label.inject]: 'true', [Label.track]: 'stable', [Label.service]: name },
        },
        spec: { containers: [{ name: 'app', image, ports: [{ name: 'http', containerPort: 8080 }] }] },
      },
    },
  };
}

/** Does to the Deployment what the release gate does on a template change: new image, paused, pending hash. */
export async function releaseNewImage(apps: AppsV1Api, name: string, image: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const current = await apps.readNamespacedDeployment({ name, namespace: NAMESPACE });
    const next = structuredClone(current);
    next.spec!.template.spec!.containers[0]!.image = image;
    const revision = podTemplateHash(next.spec!.template);
    next.spec!.paused = true;
    next.metadata!.annotations = {
      ...next.metadata!.annotations,
      [OwnedAnnotation.pendingRevision]: revision,
    };
    try {
      await apps.replaceNamespacedDeployment({ name, namespace: NAMESPACE, body: next });
      return revision;
    } catch (error) {
      // The status writer races us, as the Deployment controller races kubectl: read again.
      if (!(error instanceof ApiException && error.code === 409) || attempt > 20) throw error;
    }
  }
}

/** Router admin URLs (`http://<podIP>:<adminPort>`) of the Ready pods of one track, sorted. */
export async function readyAdminUrls(
  core: CoreV1Api,
  service: string,
  track: string,
  adminPort: number,
): Promise<string[]> {
  const pods = await core.listNamespacedPod({
    namespace: NAMESPACE,
    labelSelector: `${Label.service}=${service},${Label.track}=${track}`,
  });
  return pods.items
    .filter((pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
    .map((pod) => `http://${pod.status?.podIP}:${adminPort}`)
    .sort();
}

export async function readCanary(custom: CustomObjectsApi, name: string): Promise<CanaryObject | null> {
  try {
    return (await custom.getNamespacedCustomObject({
      group: CANARY_GROUP,
      version: CANARY_VERSION,
      plural: CANARY_PLURAL,
      namespace: NAMESPACE,
      name,
    })) as CanaryObject;
  } catch {
    return null;
  }
}
