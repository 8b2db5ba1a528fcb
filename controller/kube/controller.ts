// The Kubernetes-mode controller of one control replica: informers (Deployments, Canaries, injected
// pods, Services, the webhook's TLS Secret), a route projection every replica runs (route tables
// derived from Canary status), and — only while this replica holds the Lease — the work queue, the
// reconciler and the analysis loop.

import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  ListWatch,
  makeInformer,
  type ObjectCache,
  type Informer,
  type V1Deployment,
  type V1Pod,
  type V1Secret,
  type V1Service,
  Watch,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isOptedIn, Label, type RolloutSettings } from '../../api/annotations.js';
import { CANARY_GROUP, CANARY_PLURAL, CANARY_VERSION, isActivePhase } from '../../api/canary.js';
import { errorMessage } from '../../api/errors.js';
import type { TransitionFn, WindowAnalyzer } from '../window-analyzer.js';
import type { RouteStore } from '../route-server.js';
import { transition as coreTransition } from '../transition.js';
import { type CanaryObject, routeTableOf, statusOf } from './canary-object.js';
import { LeaderElection } from './leader.js';
import { keyOf, splitKey } from './names.js';
import { Reconciler } from './reconciler.js';
import { WorkQueue } from './work-queue.js';
import { optedInSettings, patchServiceOwners, podsWithoutRouter, scrapeTargets } from './workloads.js';
import { isInjected } from '../../webhook/inject.js';

export interface KubeControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly routes: RouteStore;
  readonly analyzer: WindowAnalyzer;
  readonly logger: Logger;
  /** Rollout clock (phase times, deadlines). Default real time. */
  readonly now?: () => Date;
  /** Lease clock (renew times written to the API). Default real time. */
  readonly leaseNow?: () => Date;
  readonly transition?: TransitionFn;
  /** Holder identity in the Lease: the pod name. */
  readonly identity: string;
  /** Namespace of control (where the Lease lives). */
  readonly leaseNamespace: string;
  /** Default `switchyard-control`. */
  readonly leaseName?: string;
  /** Default 15 000. */
  readonly leaseDurationMs?: number;
  /** Default 5 000. */
  readonly renewMs?: number;
  /** Active rollouts are reconciled at least this often (ticks, deadlines). Default 2 000. */
  readonly resyncMs?: number;
  /** Every opted-in Deployment, active or not, is reconciled at least this often. Default 60 000. */
  readonly idleResyncMs?: number;
  /** Open analysis windows are judged this often. Default 2 000. */
  readonly analysisIntervalMs?: number;
  /** Router port the per-track Services target. Default 15001. */
  readonly routerPort?: number;
  /** Router admin port scraped by the builtin analysis. Default 15020. */
  readonly adminPort?: number;
  /** PEM bundle routers trust (for the `switchyard-ca` ConfigMaps), or null. */
  readonly caBundle?: () => string | null;
  /** Called when this replica starts/stops leading (control starts/stops writing TLS). */
  readonly onLeadership?: (leading: boolean) => void;
  /**
   * The webhook's self-managed TLS Secret: `onChange` runs on every change to it (also on its
   * deletion), so each replica serves a new certificate at once, not at its next timed check.
   */
  readonly tlsSecret?: { readonly namespace: string; readonly name: string; readonly onChange: () => void };
}

type Cached<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

export class KubeController {
  readonly #options: KubeControllerOptions;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #deployments: Cached<V1Deployment>;
  readonly #canaries: Cached<CanaryObject & KubernetesObject>;
  readonly #pods: Cached<V1Pod>;
  readonly #services: Cached<V1Service>;
  readonly #tlsSecret: Cached<V1Secret> | null;
  readonly #queue: WorkQueue;
  readonly #reconciler: Reconciler;
  readonly #election: LeaderElection;
  readonly #analysing = new Set<string>();
  /** Resolved by each informer's first successful list (its cache is then complete). */
  readonly #syncs = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  #timers: NodeJS.Timeout[] = [];
  #stopped = false;
  /** Reconciles done by this replica (tests: only the leader reconciles). */
  reconciles = 0;

  constructor(options: KubeControllerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'kube-controller' });
    this.#now = options.now ?? (() => new Date());
    const kc = options.kubeConfig;
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    this.#deployments = makeInformer(
      kc,
      '/apis/apps/v1/deployments',
      this.#synced('deployments', () => apps.listDeploymentForAllNamespaces()),
    );
    this.#canaries = makeInformer(
      kc,
      `/apis/${CANARY_GROUP}/${CANARY_VERSION}/${CANARY_PLURAL}`,
      this.#synced(
        'canaries',
        () =>
          custom.listClusterCustomObject({
            group: CANARY_GROUP,
            version: CANARY_VERSION,
            plural: CANARY_PLURAL,
          }) as never,
      ),
    );
    this.#pods = makeInformer(
      kc,
      '/api/v1/pods',
      this.#synced('pods', () => core.listPodForAllNamespaces({ labelSelector: `${Label.inject}=true` })),
      `${Label.inject}=true`,
    );
    // All of them, not only patched ones: a re-applied Service has to be seen to be patched again.
    this.#services = makeInformer(
      kc,
      '/api/v1/services',
      this.#synced('services', () => core.listServiceForAllNamespaces()),
    );
    const secret = options.tlsSecret;
    const onlyTheSecret = secret && `metadata.name=${secret.name}`;
    this.#tlsSecret =
      secret === undefined
        ? null
        : // makeInformer takes no field selector; ListWatch does (not started until start()).
          new ListWatch(
            `/api/v1/namespaces/${secret.namespace}/secrets`,
            new Watch(kc),
            () => core.listNamespacedSecret({ namespace: secret.namespace, fieldSelector: onlyTheSecret }),
            false,
            undefined,
            onlyTheSecret,
          );
    const adminPort = options.adminPort ?? 15020;
    this.#reconciler = new Reconciler({
      apps,
      core,
      custom,
      transition: options.transition ?? coreTransition,
      analyzer: options.analyzer,
      now: this.#now,
      logger: options.logger,
      routerPort: options.routerPort ?? 15001,
      targets: (namespace, name, track) =>
        scrapeTargets(this.#pods.list(namespace), namespace, name, track, adminPort),
      podsWithoutRouter: (namespace, name) => podsWithoutRouter(this.#pods.list(namespace), namespace, name),
      services: (namespace) => this.#services.list(namespace),
      caBundle: options.caBundle ?? (() => null),
    });
    this.#queue = new WorkQueue({
      process: async (key) => {
        this.reconciles++;
        const { namespace, name } = splitKey(key);
        return this.#reconciler.reconcile(namespace, name);
      },
      onError: (key, error, retryInMs) =>
        this.#log.warn({ key, err: errorMessage(error), retryInMs }, 'reconcile failed; retrying'),
    });
    this.#election = new LeaderElection({
      api: kc.makeApiClient(CoordinationV1Api),
      namespace: options.leaseNamespace,
      name: options.leaseName ?? 'switchyard-control',
      identity: options.identity,
      leaseDurationMs: options.leaseDurationMs ?? 15_000,
      renewMs: options.renewMs ?? 5_000,
      now: options.leaseNow ?? (() => new Date()),
      logger: options.logger,
      onStartedLeading: () => {
        this.#queue.start();
        for (const key of this.#optedInKeys()) this.#queue.add(key);
        options.onLeadership?.(true);
      },
      onStoppedLeading: () => {
        void this.#queue.stop();
        this.#reconciler.reset();
        options.onLeadership?.(false);
      },
    });
  }

  /** Status writes this replica had to retry after a 409. */
  get conflicts(): number {
    return this.#reconciler.conflicts;
  }

  get isLeader(): boolean {
    return this.#election.isLeader;
  }

  /** The cached Deployment's settings, or null when it is not (validly) opted in. */
  settingsOf(namespace: string, name: string): RolloutSettings | null {
    const deployment = this.#deployments.get(name, namespace);
    return deployment ? optedInSettings(deployment) : null;
  }

  #optedInKeys(): string[] {
    return this.#deployments
      .list()
      .filter((deployment) => isOptedIn(deployment.metadata?.annotations))
      .map((deployment) => keyOf(deployment.metadata!.namespace!, deployment.metadata!.name!));
  }

  /**
   * Wraps a list call so start() can wait for the caches to fill. (ListWatch.start() resolves only
   * once the watch response has begun, which some servers delay until the first event.)
   */
  #synced<T>(name: string, list: () => Promise<T>): () => Promise<T> {
    let resolve!: () => void;
    const promise = new Promise<void>((done) => {
      resolve = done;
    });
    this.#syncs.set(name, { promise, resolve });
    return async () => {
      const result = await list();
      resolve();
      return result;
    };
  }

  #keep<T extends KubernetesObject>(name: string, informer: Cached<T>): void {
    informer.on('error', (error) => {
      if (this.#stopped) return;
      this.#log.warn({ informer: name, err: errorMessage(error) }, 'watch failed; re-listing in 1s');
      const timer = setTimeout(() => {
        if (!this.#stopped) informer.start().catch(() => {});
      }, 1000);
      timer.unref();
    });
  }

  #project(canary: CanaryObject): void {
    const status = statusOf(canary);
    if (status === null) return;
    const { namespace, name } = canary.metadata;
    try {
      if (this.#options.routes.publish(namespace, routeTableOf(namespace, name, status.routes))) {
        this.#log.debug({ namespace, name, generation: status.routes.generation }, 'route table published');
      }
    } catch (error) {
      this.#log.error(
        { namespace, name, err: errorMessage(error) },
        'route table from Canary status is invalid',
      );
    }
  }

  async start(): Promise<void> {
    const onDeployment = (deployment: V1Deployment): void => {
      const namespace = deployment.metadata?.namespace ?? '';
      const name = deployment.metadata!.name!;
      // An opted-out Deployment that still has a Canary is reconciled once more (cleanup).
      if (isOptedIn(deployment.metadata?.annotations) || this.#canaries.get(name, namespace))
        this.#queue.add(keyOf(namespace, name));
      else if (deployment.metadata?.labels?.[Label.track] === 'canary') {
        const service = deployment.metadata.labels[Label.service];
        if (service) this.#queue.add(keyOf(namespace, service));
      }
    };
    this.#deployments.on('add', onDeployment);
    this.#deployments.on('update', onDeployment);
    this.#deployments.on('delete', onDeployment);
    const onCanary = (canary: CanaryObject): void => {
      this.#project(canary);
      this.#queue.add(keyOf(canary.metadata.namespace, canary.metadata.name));
    };
    this.#canaries.on('add', onCanary);
    this.#canaries.on('update', onCanary);
    this.#canaries.on('delete', (canary) =>
      this.#options.routes.remove(canary.metadata.namespace, canary.metadata.name),
    );
    // A Service written by someone else (a re-applied manifest, an edit) is looked at by the
    // Deployments whose patch-service it concerns; our own writes come back too and change nothing.
    const onService = (service: V1Service): void => {
      const namespace = service.metadata?.namespace ?? '';
      for (const name of patchServiceOwners(service, this.#deployments.list(namespace)))
        this.#queue.add(keyOf(namespace, name));
    };
    this.#services.on('add', onService);
    this.#services.on('update', onService);
    // A pod without the router appearing or going changes its Deployment's RouterInjected condition.
    const onPod = (pod: V1Pod): void => {
      const name = pod.metadata?.labels?.[Label.service];
      const namespace = pod.metadata?.namespace ?? '';
      if (!isInjected(pod) && name !== undefined && this.settingsOf(namespace, name) !== null)
        this.#queue.add(keyOf(namespace, name));
    };
    for (const event of ['add', 'update', 'delete'] as const) this.#pods.on(event, onPod);
    this.#keep('deployments', this.#deployments);
    this.#keep('canaries', this.#canaries);
    this.#keep('pods', this.#pods);
    this.#keep('services', this.#services);
    const informers: [string, Cached<KubernetesObject>][] = [
      ['deployments', this.#deployments],
      ['canaries', this.#canaries],
      ['pods', this.#pods],
      ['services', this.#services],
    ];
    if (this.#tlsSecret !== null) {
      const onChange = (): void => this.#options.tlsSecret!.onChange();
      for (const event of ['add', 'update', 'delete'] as const) this.#tlsSecret.on(event, onChange);
      this.#keep('tls-secret', this.#tlsSecret);
      informers.push(['tls-secret', this.#tlsSecret]);
    }
    for (const [name, informer] of informers) {
      (informer.start() as Promise<void>).catch((error: unknown) =>
        this.#log.warn({ informer: name, err: errorMessage(error) }, 'informer failed to start'),
      );
    }
    await Promise.all([...this.#syncs.values()].map((sync) => sync.promise));
    const every = (ms: number, work: () => void): void => {
      const timer = setInterval(work, ms);
      timer.unref();
      this.#timers.push(timer);
    };
    // Active rollouts are looked at every resync (ticks, deadlines); idle ones rarely, since every
    // change to them arrives as a watch event anyway. Keeps API load flat with many Deployments.
    every(this.#options.resyncMs ?? 2000, () => {
      if (!this.isLeader) return;
      for (const canary of this.#canaries.list()) {
        const phase = statusOf(canary)?.phase;
        if (phase !== undefined && isActivePhase(phase))
          this.#queue.add(keyOf(canary.metadata.namespace, canary.metadata.name));
      }
    });
    every(this.#options.idleResyncMs ?? 60_000, () => {
      if (this.isLeader) for (const key of this.#optedInKeys()) this.#queue.add(key);
    });
    every(this.#options.analysisIntervalMs ?? 2000, () => {
      if (this.isLeader) this.#analyseOpenWindows();
    });
    this.#election.start();
  }

  #analyseOpenWindows(): void {
    for (const canary of this.#canaries.list()) {
      const { namespace, name } = canary.metadata;
      const key = keyOf(namespace, name);
      const status = statusOf(canary);
      const settings = this.settingsOf(namespace, name);
      if (status === null || settings === null || this.#analysing.has(key)) continue;
      const window = this.#reconciler.window(namespace, name, status, settings);
      if (window === null) continue;
      this.#analysing.add(key);
      this.#options.analyzer
        .analyse(window, this.#now())
        .then((verdict) => {
          if (verdict === null || !this.isLeader) return;
          this.#reconciler.offerVerdict(namespace, name, { windowStart: window.since, verdict });
          this.#queue.add(key);
        })
        .catch((error: unknown) =>
          this.#log.warn({ key, err: errorMessage(error) }, 'analysis failed; the step holds'),
        )
        .finally(() => this.#analysing.delete(key));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    await this.#election.stop();
    await this.#queue.stop();
    await Promise.all([
      this.#deployments.stop(),
      this.#canaries.stop(),
      this.#pods.stop(),
      this.#services.stop(),
      this.#tlsSecret?.stop(),
    ]);
  }
}
