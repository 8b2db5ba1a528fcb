// startFakeCluster(): the whole fake Kubernetes in one process — API server (HTTPS by default),
// admission, Deployment/ReplicaSet/Endpoints/GC/namespace controllers, kube-proxy-like Service
// proxies and a kubelet that runs pods as local processes. See README.md beside this file.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAdmission } from './admission.js';
import { Api, internalContext } from './api.js';
import { EventRecorder } from './controllers/events.js';
import { Housekeeping } from './controllers/housekeeping.js';
import { ReconcileLoop } from './controllers/loop.js';
import { ServiceNetworking } from './controllers/services.js';
import { WorkloadControllers } from './controllers/workloads.js';
import { DNS_PRELOAD_SOURCE, writeHostsFile } from './dns.js';
import { DEFAULT_IMAGE_RULES, type ImageRule } from './images.js';
import { Kubelet } from './kubelet.js';
import { writeKubeconfig } from './kubeconfig.js';
import { AddressBlock } from './network.js';
import type { KubeObject, UserInfo } from './objects.js';
import { PodFiles } from './pod-files.js';
import { HttpHandler } from './server.js';
import { Store } from './store.js';
import { createCertificateAuthority, createServingCertificate } from './tls.js';
import { TokenAuthenticator } from './tokens.js';
import { BUILTIN_TYPES } from './resources.js';

export interface FakeClusterOptions {
  /** Serve HTTPS with a generated CA in the kubeconfig (default) or plain HTTP. */
  readonly tls?: boolean;
  /** Reported by /version; the switchyard webhook needs ≥ 1.29 for native sidecars. */
  readonly kubernetesVersion?: string;
  /** Extra bearer tokens → users (the admin token is always added). */
  readonly tokens?: Readonly<Record<string, UserInfo>>;
  /** Watch history kept for resuming watches; older resourceVersions get 410 Gone. */
  readonly watchHistory?: number;
  readonly bookmarkIntervalMs?: number;
  /** Where temp files (kubeconfig, pod volumes, logs) go; removed by close() when created here. */
  readonly workDir?: string;
  readonly log?: (line: string) => void;
  /** Image → command rules tried before the defaults (see images.ts). */
  readonly images?: readonly ImageRule[];
  /** Repository whose `bin/switchyard.js` pods run; found from this file by default. */
  readonly repoRoot?: string;
  /** How often the kubelet probes (probe periodSeconds/initialDelaySeconds are compressed to this). */
  readonly probePeriodMs?: number;
  /** Upper bound of a pod's termination grace period (SIGTERM → SIGKILL). */
  readonly maxGraceMs?: number;
}

export interface FakeCluster {
  /** The API server's URL (https://127.0.0.1:PORT). */
  readonly url: string;
  /** A kubeconfig with the admin token (and CA), context namespace `default`. */
  readonly kubeconfigPath: string;
  readonly adminToken: string;
  /** PEM of the CA that signed the API server's certificate (undefined for plain HTTP). */
  readonly caPem: string | undefined;
  readonly workDir: string;
  /** In-process access to the API (admission and resourceVersion semantics included). */
  readonly api: Api;
  /** Writes a kubeconfig for a service account (its token is accepted by the API and TokenReview). */
  writeServiceAccountKubeconfig(namespace: string, serviceAccount: string, path: string): Promise<string>;
  /** A bearer token for `system:serviceaccount:<ns>:<sa>` valid for `audiences` (API audience by default). */
  issueToken(namespace: string, serviceAccount: string, audiences?: readonly string[]): string;
  /** `http://<ClusterIP>:<port>` of a Service (reachable from the test process too). */
  serviceUrl(namespace: string, name: string, port: number, scheme?: 'http' | 'https'): string;
  /** ClusterIP for a Service host name (`svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`). */
  resolveServiceHost(host: string): string | undefined;
  /** The output of a pod's container (the first main container when not named). */
  podLogs(namespace: string, name: string, container?: string): string | undefined;
  close(): Promise<void>;
}

const BOOTSTRAP_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

function parseVersion(version: string): { major: string; minor: string; gitVersion: string } {
  const match = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(version);
  if (!match) throw new Error(`fake cluster: kubernetesVersion "${version}" is not MAJOR.MINOR[.PATCH]`);
  return {
    major: match[1] ?? '1',
    minor: match[2] ?? '32',
    gitVersion: `v${match[1]}.${match[2]}.${match[3] ?? '0'}`,
  };
}

export async function startFakeCluster(options: FakeClusterOptions = {}): Promise<FakeCluster> {
  const ownWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'fake-cluster-')));
  const log = options.log ?? (() => {});
  const block = await AddressBlock.claim();
  const store = new Store(options.watchHistory ?? 1000);
  const api = new Api({ store, allocateClusterIp: () => block.nextServiceIp(), now: () => new Date() });
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  const tokens = new TokenAuthenticator({
    [adminToken]: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    ...options.tokens,
  });
  const namespaceType = BUILTIN_TYPES.find((type) => type.resource === 'namespaces');
  if (!namespaceType) throw new Error('fake cluster: namespaces type missing');
  for (const name of BOOTSTRAP_NAMESPACES) {
    await api.create(namespaceType, undefined, { metadata: { name } }, internalContext('bootstrap'));
  }

  let kubelet: Kubelet | undefined;
  const handler = new HttpHandler({
    api,
    tokens,
    version: parseVersion(options.kubernetesVersion ?? '1.32.0'),
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1000,
    podLogs: (namespace, name, container) => kubelet?.logs(namespace, name, container),
    now: () => Date.now(),
  });
  const useTls = options.tls ?? true;
  // The API server lives in the cluster's own address block, so pod processes (whose 127.0.0.1 is
  // their pod IP) reach it at the same address as the test process.
  const apiHost = block.apiServerIp;
  let caPem: string | undefined;
  let server: Server;
  if (useTls) {
    const ca = await createCertificateAuthority('fake-cluster-ca');
    const serving = await createServingCertificate(ca, [
      'localhost',
      '127.0.0.1',
      apiHost,
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ]);
    caPem = ca.certPem;
    server = createHttpsServer(
      { cert: serving.certPem, key: serving.keyPem },
      handler.handle,
    ) as unknown as Server;
  } else {
    server = createHttpServer(handler.handle);
  }
  await new Promise<void>((resolve) => server.listen(0, apiHost, resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `${useTls ? 'https' : 'http'}://${apiHost}:${port}`;
  const kubeconfigPath = join(workDir, 'kubeconfig');
  await writeKubeconfig(kubeconfigPath, { server: url, caPem, token: adminToken });
  log(`fake cluster: API server at ${url}, kubeconfig ${kubeconfigPath}`);

  const events = new EventRecorder(api, log);
  const services = new ServiceNetworking(api, log);
  api.setAdmission(
    createAdmission({
      api,
      resolveService: (namespace, name, port) => services.pick(namespace, name, port),
      log,
    }),
  );
  const workloads = new WorkloadControllers(api, events);
  const housekeeping = new Housekeeping(api);
  const hostsFile = join(workDir, 'hosts.json');
  const preload = join(workDir, 'dns-preload.cjs');
  await writeFile(preload, DNS_PRELOAD_SOURCE);
  await writeHostsFile(hostsFile, {});
  await mkdir(join(workDir, 'pods'), { recursive: true });
  let lastHosts = '';
  const loops = {
    deployments: new ReconcileLoop(
      'deployment-controller',
      () => workloads.reconcileDeployments(),
      1000,
      log,
    ),
    replicaSets: new ReconcileLoop(
      'replicaset-controller',
      () => workloads.reconcileReplicaSets(),
      1000,
      log,
    ),
    services: new ReconcileLoop(
      'endpoint-controller',
      async () => {
        await services.reconcile();
        const hosts = JSON.stringify(services.hosts());
        if (hosts !== lastHosts) {
          lastHosts = hosts;
          await writeHostsFile(hostsFile, JSON.parse(hosts) as Record<string, string>);
        }
      },
      1000,
      log,
    ),
    garbage: new ReconcileLoop('garbage-collector', () => housekeeping.collectGarbage(), 2000, log),
    namespaces: new ReconcileLoop(
      'namespace-controller',
      () => housekeeping.reconcileNamespaces(),
      1000,
      log,
    ),
  };
  const unsubscribe = store.subscribe((event) => {
    switch (event.typeKey) {
      case 'apps/deployments':
        loops.deployments.trigger();
        break;
      case 'apps/replicasets':
        loops.deployments.trigger();
        loops.replicaSets.trigger();
        break;
      case '/pods':
        loops.replicaSets.trigger();
        loops.services.trigger();
        break;
      case '/services':
      case '/endpoints':
        loops.services.trigger();
        break;
      case '/namespaces':
        loops.namespaces.trigger();
        break;
      default:
        break;
    }
    if (event.type === 'DELETED') {
      loops.garbage.trigger();
      loops.namespaces.trigger();
    }
  });
  const files = new PodFiles({ api, tokens, caPem });
  const repoRoot = options.repoRoot ?? findRepoRoot();
  kubelet = new Kubelet({
    api,
    files,
    events,
    images: [...(options.images ?? []), ...DEFAULT_IMAGE_RULES],
    repoRoot,
    workDir,
    nextPodIp: () => block.nextPodIp(),
    probePeriodMs: options.probePeriodMs ?? 300,
    maxGraceMs: options.maxGraceMs ?? 10_000,
    log,
    baseEnv: async (pod, podDir) => {
      const namespace = pod.metadata.namespace ?? 'default';
      const serviceAccount = String(
        (pod.spec as Record<string, unknown> | undefined)?.serviceAccountName ?? 'default',
      );
      const podKubeconfig = join(podDir, 'kubeconfig');
      if (!existsSync(podKubeconfig)) {
        const token = tokens.issueServiceAccountToken(namespace, serviceAccount);
        await writeKubeconfig(podKubeconfig, { server: url, caPem, token, namespace, user: serviceAccount });
      }
      return {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: podDir,
        NODE_OPTIONS: `--require ${preload}`,
        SWITCHYARD_FAKE_HOSTS: hostsFile,
        SWITCHYARD_FAKE_NAMESPACE: namespace,
        KUBECONFIG: podKubeconfig,
        KUBERNETES_SERVICE_HOST: apiHost,
        KUBERNETES_SERVICE_PORT: String(port),
      };
    },
  });
  for (const loop of Object.values(loops)) loop.start();
  // Pod processes run detached (own process groups); never leave them behind a crashed test run.
  const killOnExit = () => kubelet?.killAllNow();
  process.once('exit', killOnExit);

  let closed = false;
  return {
    url,
    kubeconfigPath,
    adminToken,
    caPem,
    workDir,
    api,
    async writeServiceAccountKubeconfig(namespace, serviceAccount, path) {
      const token = tokens.issueServiceAccountToken(namespace, serviceAccount);
      await writeKubeconfig(path, { server: url, caPem, token, namespace, user: serviceAccount });
      return path;
    },
    issueToken(namespace, serviceAccount, audiences) {
      return tokens.issueServiceAccountToken(namespace, serviceAccount, audiences);
    },
    serviceUrl(namespace, name, servicePort, scheme = 'http') {
      const ip = services.hosts()[`${name}.${namespace}`];
      if (!ip) throw new Error(`fake cluster: no Service ${namespace}/${name} with a ClusterIP`);
      return `${scheme}://${ip}:${servicePort}`;
    },
    resolveServiceHost(host) {
      return services.hosts()[host.toLowerCase().replace(/\.$/, '')];
    },
    podLogs(namespace, name, container) {
      return kubelet?.logs(namespace, name, container);
    },
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      process.off('exit', killOnExit);
      await Promise.all(Object.values(loops).map((loop) => loop.stop()));
      await kubelet?.close();
      services.close();
      handler.closeWatches();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await block.release();
      if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
    },
  };
}

/** The repository root: the nearest parent directory with switchyard's package.json. */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 8; depth++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'switchyard.js'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('fake cluster: cannot find the repository root (bin/switchyard.js); pass repoRoot');
}

export type { KubeObject };
