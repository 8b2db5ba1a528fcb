// startFakeCluster(): the whole fake Kubernetes in one process — API server (HTTPS by default),
// admission, Deployment/ReplicaSet/Endpoints/GC/namespace controllers, kube-proxy-like Service
// proxies and a kubelet that runs pods as local processes. See README.md beside this file.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Api, internalContext } from './api.js';
import { writeKubeconfig } from './kubeconfig.js';
import { AddressBlock } from './network.js';
import type { KubeObject, UserInfo } from './objects.js';
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

  const handler = new HttpHandler({
    api,
    tokens,
    version: parseVersion(options.kubernetesVersion ?? '1.32.0'),
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1000,
    podLogs: () => undefined,
    now: () => Date.now(),
  });
  const useTls = options.tls ?? true;
  let caPem: string | undefined;
  let server: Server;
  if (useTls) {
    const ca = await createCertificateAuthority('fake-cluster-ca');
    const serving = await createServingCertificate(ca, [
      'localhost',
      '127.0.0.1',
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
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `${useTls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const kubeconfigPath = join(workDir, 'kubeconfig');
  await writeKubeconfig(kubeconfigPath, { server: url, caPem, token: adminToken });
  log(`fake cluster: API server at ${url}, kubeconfig ${kubeconfigPath}`);

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
    async close() {
      if (closed) return;
      closed = true;
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

export type { KubeObject };
