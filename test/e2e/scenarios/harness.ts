// Shared setup for the end-to-end scenarios: a fake cluster with switchyard installed the way an
// admin does it (`kubectl apply -k deploy/`), manifests for the sample shop, client traffic through
// a Service that counts what each version answered, and waits on what a user would look at
// (kubectl output, the switchyard CLI) that say what was awaited and what was seen.

import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { type FakeCluster, startFakeCluster } from '../cluster/cluster.js';
import { waitFor, waitUntil } from '../../support/wait-for.js';
import { type CommandResult, kubectl, kubectlOk } from '../cluster/helpers.js';
import { ensureBuilt } from '../../support/build.js';

export { kubectl, kubectlOk };
export type { FakeCluster };

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CONTROL_NAMESPACE = 'switchyard-system';

/** Lines the harness logs when SWITCHYARD_E2E_VERBOSE is set (cluster events, control logs on failure). */
export function log(line: string): void {
  if (process.env.SWITCHYARD_E2E_VERBOSE) process.stderr.write(`${line}\n`);
}

/** Starts a fake cluster (pods run this repository's dist/ through bin/switchyard.js). */
export async function startCluster(): Promise<FakeCluster> {
  ensureBuilt('cli/demo/shop-app.js'); // pods run dist/ through bin/switchyard.js
  return startFakeCluster({ log, bookmarkIntervalMs: 1000, maxGraceMs: 3000, probePeriodMs: 1000 });
}

/** `kubectl apply -k deploy/` and waits until control answers the webhook as an admin would check. */
export async function installSwitchyard(cluster: FakeCluster): Promise<void> {
  await kubectlOk(cluster, ['apply', '-k', join(repoRoot, 'deploy')]);
  await waitForControl(cluster);
}

/** What an admin checks after installing: both replicas Ready, TLS Secret, caBundle, a leader. */
export async function waitForControl(
  cluster: FakeCluster,
  options: { replicas?: number } = {},
): Promise<{
  leader: string;
  pods: string[];
}> {
  const replicas = options.replicas ?? 2;
  const pods = await waitUntil(
    `${replicas} Ready switchyard-control pods in ${CONTROL_NAMESPACE}`,
    async () => {
      const ready = await readyControlPods(cluster);
      return ready.length >= replicas ? ready : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500, seen: () => `${lastControlPods}\n${controlLogs(cluster)}` },
  );
  await waitUntil(
    'Secret switchyard-webhook-tls with a serving certificate',
    async () => {
      const out = await kubectl(cluster, [
        '-n',
        CONTROL_NAMESPACE,
        'get',
        'secret',
        'switchyard-webhook-tls',
        '-o',
        'jsonpath={.data}',
      ]);
      return out.code === 0 && out.stdout.includes('tls.crt') ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  let bundles = '';
  await waitUntil(
    'caBundle patched into both webhooks of MutatingWebhookConfiguration switchyard',
    async () => {
      bundles = await kubectlOk(cluster, [
        'get',
        'mutatingwebhookconfiguration',
        'switchyard',
        '-o',
        'jsonpath={range .webhooks[*]}{.name}={.clientConfig.caBundle}{"\\n"}{end}',
      ]);
      const lines = bundles.trim().split('\n');
      return lines.length === 2 && lines.every((line) => /=[A-Za-z0-9+/]{100,}/.test(line))
        ? true
        : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500, seen: () => bundles.slice(0, 300) },
  );
  const leader = await waitForLeader(cluster, pods);
  // What a user finally notices: the webhook answers (a server-side dry run of an opted-in
  // Deployment passes admission, which verifies control's certificate against caBundle).
  await waitFor(
    'the webhook to admit a server-side dry run of an opted-in Deployment',
    () =>
      kubectl(cluster, ['apply', '--dry-run=server', '-f', '-'], {
        input: shopManifests({
          namespace: 'default',
          name: 'dry-run-probe',
          annotations: { canary: 'enabled' },
        }),
      }),
    (out) => out.code === 0,
    { timeoutMs: 30_000, intervalMs: 1000 },
  );
  return { leader, pods };
}

let lastControlPods = '';

/** The last lines each control pod wrote (for failure messages). */
export function controlLogs(cluster: FakeCluster, lines = 8): string {
  return lastControlPods
    .trim()
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '')
    .map((name) => {
      const text = cluster.podLogs(CONTROL_NAMESPACE, name, 'control') ?? '(no logs)';
      return `--- ${name}\n${text.trim().split('\n').slice(-lines).join('\n')}`;
    })
    .join('\n');
}

async function readyControlPods(cluster: FakeCluster): Promise<string[]> {
  const out = await kubectlOk(cluster, [
    '-n',
    CONTROL_NAMESPACE,
    'get',
    'pods',
    '-l',
    'app.kubernetes.io/component=control',
    '-o',
    'jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
  ]);
  lastControlPods = out;
  return out
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .filter(([name, deleting, ready]) => name && deleting === '' && ready === 'True')
    .map(([name]) => name as string);
}

/** The Lease holder once it is one of `candidates` (all Ready control pods when omitted). */
export async function waitForLeader(cluster: FakeCluster, candidates?: readonly string[]): Promise<string> {
  let holder = '';
  return waitUntil(
    `Lease switchyard-control held by one of ${candidates?.join(', ') ?? 'the Ready control pods'}`,
    async () => {
      const out = await kubectl(cluster, [
        '-n',
        CONTROL_NAMESPACE,
        'get',
        'lease',
        'switchyard-control',
        '-o',
        'jsonpath={.spec.holderIdentity}',
      ]);
      holder = out.stdout.trim();
      const allowed = candidates ?? (await readyControlPods(cluster));
      return holder !== '' && allowed.includes(holder) ? holder : undefined;
    },
    { timeoutMs: 45_000, intervalMs: 500, seen: () => holder },
  );
}

export async function createNamespace(cluster: FakeCluster, namespace: string): Promise<void> {
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }),
  });
}

export interface ShopOptions {
  readonly namespace: string;
  readonly name?: string;
  /** e.g. `shop:v1`, `shop:v2-errors20` (see test/e2e/cluster/images.ts). */
  readonly image?: string;
  readonly replicas?: number;
  /** switchyard.io/* annotations (without the prefix); none = not opted in. */
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Short rollouts: the shortest interval annotations allow and a small sample guard. */
export const FAST = { canary: 'enabled', port: 'http', interval: '10s', 'min-requests': '20' } as const;

/** A Deployment + Service of the sample shop, as an app owner writes them (YAML for kubectl apply). */
export function shopManifests(options: ShopOptions): string {
  const name = options.name ?? 'shop';
  const annotations = Object.fromEntries(
    Object.entries(options.annotations ?? {}).map(([key, value]) => [`switchyard.io/${key}`, value]),
  );
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: options.namespace,
      labels: { app: name },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: {
      replicas: options.replicas ?? 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'shop',
              image: options.image ?? 'shop:v1',
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 2 },
            },
          ],
        },
      },
    },
  };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: options.namespace, labels: { app: name } },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  };
  return `${stringify(deployment)}---\n${stringify(service)}`;
}

/** Applies YAML from stdin; throws with kubectl's output when it fails. */
export function applyYaml(cluster: FakeCluster, yaml: string): Promise<string> {
  return kubectlOk(cluster, ['apply', '-f', '-'], { input: yaml });
}

/** Waits until `kubectl rollout status` says the Deployment is rolled out. */
export async function waitRolledOut(cluster: FakeCluster, namespace: string, name: string): Promise<void> {
  await waitFor(
    `kubectl rollout status deployment/${name} -n ${namespace} to succeed`,
    () => kubectl(cluster, ['-n', namespace, 'rollout', 'status', `deployment/${name}`, '--timeout=5s']),
    (out) => out.code === 0,
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}

/** `kubectl get <kind> <name> -o jsonpath=<path>` (empty string when the object is missing). */
export async function jsonpath(
  cluster: FakeCluster,
  namespace: string,
  kind: string,
  name: string,
  path: string,
): Promise<string> {
  const out = await kubectl(cluster, ['-n', namespace, 'get', kind, name, '-o', `jsonpath=${path}`]);
  return out.code === 0 ? out.stdout.trim() : '';
}

export async function exists(cluster: FakeCluster, namespace: string, kind: string, name: string) {
  const out = await kubectl(cluster, ['-n', namespace, 'get', kind, name, '-o', 'name']);
  return out.code === 0;
}

/** Waits until the rollout's `<name>-canary` Deployment is deleted (promotion, rollback and abort all end so). */
export async function waitCanaryDeploymentGone(
  cluster: FakeCluster,
  namespace: string,
  name = 'shop',
): Promise<void> {
  await waitUntil(
    `Deployment ${namespace}/${name}-canary deleted`,
    async () => ((await exists(cluster, namespace, 'deployment', `${name}-canary`)) ? undefined : true),
    { timeoutMs: 30_000, intervalMs: 500 },
  );
}

/** `kubectl scale` of the control Deployment: the scenarios take control away and bring it back. */
export function scaleControl(cluster: FakeCluster, replicas: number): Promise<string> {
  return kubectlOk(cluster, [
    '-n',
    CONTROL_NAMESPACE,
    'scale',
    'deployment',
    'switchyard-control',
    `--replicas=${replicas}`,
  ]);
}

/** Waits for the Canary's phase (as `kubectl get canary` shows it) to be one of `phases`. */
export async function waitCanaryPhase(
  cluster: FakeCluster,
  namespace: string,
  name: string,
  phases: string | readonly string[],
  timeoutMs = 90_000,
): Promise<string> {
  const wanted = typeof phases === 'string' ? [phases] : phases;
  let seen = '';
  return waitUntil(
    `Canary ${namespace}/${name} in phase ${wanted.join(' or ')}`,
    async () => {
      seen = await jsonpath(
        cluster,
        namespace,
        'canary',
        name,
        '{.status.phase} weight={.status.weight} step={.status.step} {.status.message}',
      );
      const phase = seen.split(' ')[0] ?? '';
      return wanted.includes(phase) ? phase : undefined;
    },
    { timeoutMs, intervalMs: 700, seen: () => seen },
  );
}

/**
 * Creates `namespace` with an opted-in shop v1 (one replica) and waits until v1 answers through its
 * Service and the controller has taken the Deployment in (its Canary exists), so a new version
 * applied next starts a rollout. Returns the Service URL.
 */
export async function deployShopV1(
  cluster: FakeCluster,
  namespace: string,
  annotations: Readonly<Record<string, string>>,
  image = 'shop:v1',
): Promise<string> {
  await createNamespace(cluster, namespace);
  await applyYaml(cluster, shopManifests({ namespace, replicas: 1, annotations, image }));
  await waitRolledOut(cluster, namespace, 'shop');
  const url = cluster.serviceUrl(namespace, 'shop', 80);
  await waitUntil(
    `shop v1 answering through Service ${namespace}/shop`,
    async () => ((await sample(url, 5)).byVersion.v1 === 5 ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  await waitCanaryPhase(cluster, namespace, 'shop', ['Idle', 'Succeeded']);
  return url;
}

/** Runs the switchyard CLI against the cluster (`--kubeconfig` from the harness). */
export function switchyard(cluster: FakeCluster, args: readonly string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(repoRoot, 'bin', 'switchyard.js'), ...args, '--kubeconfig', cluster.kubeconfigPath],
      { timeout: 30_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cluster.workDir } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export async function switchyardOk(cluster: FakeCluster, args: readonly string[]): Promise<string> {
  const out = await switchyard(cluster, args);
  if (out.code !== 0)
    throw new Error(`switchyard ${args.join(' ')} exited ${out.code}\n${out.stderr}${out.stdout}`);
  return out.stdout;
}

// ---------------------------------------------------------------------------------------------
// Client traffic

export interface Sample {
  /** ms since the traffic started. */
  readonly at: number;
  readonly status: number;
  /** x-shop-version of the answer; null when the request failed without an app answer. */
  readonly version: string | null;
  readonly error: string | null;
  /** The start of a 5xx answer's body (a router's says which track failed, and how). */
  readonly detail?: string;
}

export interface Tally {
  readonly total: number;
  readonly byVersion: Readonly<Record<string, number>>;
  /** Requests a client saw fail: 5xx or no HTTP answer at all. */
  readonly failed: number;
  /** A few of the failures, for messages. */
  readonly failures: readonly string[];
}

export function tally(samples: readonly Sample[]): Tally {
  const byVersion: Record<string, number> = {};
  const failures: string[] = [];
  let failed = 0;
  for (const sample of samples) {
    if (sample.version !== null) byVersion[sample.version] = (byVersion[sample.version] ?? 0) + 1;
    if (sample.error !== null || sample.status >= 500) {
      failed++;
      if (failures.length < 5)
        failures.push(
          `${sample.at}ms: ${sample.error ?? `HTTP ${sample.status} from ${sample.version} ${sample.detail ?? ''}`}`,
        );
    }
  }
  return { total: samples.length, byVersion, failed, failures };
}

/** One request on a new connection: a GET, or a POST when `body` is given. */
function once(
  url: string,
  headers: Readonly<Record<string, string>>,
  body?: string,
  agent: Agent | false = false,
  retry = true,
): Promise<Omit<Sample, 'at'>> {
  return new Promise((resolve) => {
    // By default a new connection per request: kube-proxy balances connections, so every pod's
    // router sees some.
    const method = body === undefined ? 'GET' : 'POST';
    const req = request(url, { agent, method, headers, timeout: 5000 }, (res) => {
      const status = res.statusCode ?? 0;
      let detail = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (status >= 500 && detail.length < 300) detail += chunk;
      });
      res.on('end', () => {
        const version = res.headers['x-shop-version'];
        resolve({
          status,
          version: typeof version === 'string' ? version : null,
          error: null,
          ...(status >= 500 ? { detail: detail.slice(0, 300) } : {}),
        });
      });
      res.on('error', (error) => resolve({ status: 0, version: null, error: error.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout after 5s')));
    req.on('error', (error: Error & { code?: string }) => {
      // A kept connection the server closed as this request went out: sent again on a new one,
      // as browsers, Go and nginx do for idempotent requests (RFC 9112 9.3.1; node's http docs).
      if (retry && body === undefined && req.reusedSocket && error.code === 'ECONNRESET') {
        resolve(once(url, headers, body, agent, false));
        return;
      }
      resolve({ status: 0, version: null, error: error.message });
    });
    req.end(body);
  });
}

/** A modest, steady client (a few dozen requests per second) through one URL, recording every answer. */
export class Traffic {
  readonly samples: Sample[] = [];
  readonly #url: string;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #concurrency: number;
  readonly #pauseMs: number;
  readonly #body: string | undefined;
  /** keepAlive: each loop keeps its connection, as clients with a connection pool do. */
  readonly #agents: (Agent | false)[];
  #running = false;
  #loops: Promise<void>[] = [];
  #started = 0;

  constructor(
    url: string,
    options: {
      headers?: Record<string, string>;
      concurrency?: number;
      pauseMs?: number;
      /** POST this body with every request instead of GETs. */
      body?: string;
      /** Keep each loop's connection open between requests instead of a new one per request. */
      keepAlive?: boolean;
    } = {},
  ) {
    this.#url = url;
    this.#headers = options.headers ?? {};
    this.#body = options.body;
    this.#concurrency = options.concurrency ?? 2;
    this.#pauseMs = options.pauseMs ?? 25;
    this.#agents = Array.from({ length: this.#concurrency }, () =>
      options.keepAlive === true ? new Agent({ keepAlive: true, maxSockets: 1 }) : false,
    );
  }

  start(): this {
    this.#running = true;
    this.#started = Date.now();
    for (let index = 0; index < this.#concurrency; index++)
      this.#loops.push(this.#loop(this.#agents[index]!));
    return this;
  }

  /** ms since start (the `at` of samples taken now). */
  now(): number {
    return Date.now() - this.#started;
  }

  async #loop(agent: Agent | false): Promise<void> {
    while (this.#running) {
      const at = this.now();
      const result = await once(this.#url, this.#headers, this.#body, agent);
      this.samples.push({ at, ...result });
      await new Promise((resolve) => setTimeout(resolve, this.#pauseMs));
    }
  }

  /** Everything seen since `fromMs` (ms since start), or all. */
  tally(fromMs = 0, toMs = Number.POSITIVE_INFINITY): Tally {
    return tally(this.samples.filter((sample) => sample.at >= fromMs && sample.at < toMs));
  }

  async stop(): Promise<Tally> {
    this.#running = false;
    await Promise.all(this.#loops);
    this.#loops = [];
    for (const agent of this.#agents) if (agent) agent.destroy();
    return this.tally();
  }
}

/** One request through `url`; what version answered (for single checks such as X-Canary). */
export async function getOnce(
  url: string,
  headers: Readonly<Record<string, string>> = {},
): Promise<{ status: number; version: string | null; error: string | null }> {
  return once(url, headers);
}

/** Sends `count` requests one after another and tallies them. */
export async function sample(
  url: string,
  count: number,
  headers: Readonly<Record<string, string>> = {},
): Promise<Tally> {
  const samples: Sample[] = [];
  for (let index = 0; index < count; index++) samples.push({ at: index, ...(await once(url, headers)) });
  return tally(samples);
}

/** Records the Canary's weight over time (as `kubectl get canary` shows it) while a rollout runs. */
export class WeightTimeline {
  readonly points: { at: number; phase: string; weight: number }[] = [];
  #running = false;
  #loop: Promise<void> | null = null;

  constructor(
    private readonly cluster: FakeCluster,
    private readonly namespace: string,
    private readonly name: string,
    private readonly clock: () => number,
  ) {}

  start(): this {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        const text = await jsonpath(
          this.cluster,
          this.namespace,
          'canary',
          this.name,
          '{.status.phase} {.status.weight}',
        );
        const [phase = '', weight = ''] = text.split(' ');
        const last = this.points[this.points.length - 1];
        if (phase !== '' && (!last || last.phase !== phase || last.weight !== Number(weight))) {
          this.points.push({ at: this.clock(), phase, weight: Number(weight) });
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  /** Time ranges (ms on the clock) during which the weight was `weight`. */
  periods(weight: number): { from: number; to: number }[] {
    const out: { from: number; to: number }[] = [];
    this.points.forEach((point, index) => {
      if (point.weight !== weight) return;
      const next = this.points[index + 1];
      out.push({ from: point.at, to: next ? next.at : Number.POSITIVE_INFINITY });
    });
    return out;
  }
}

/** Names of the namespace's pods with a label selector, and their containers (init + main). */
export async function podContainers(
  cluster: FakeCluster,
  namespace: string,
  selector: string,
): Promise<{ name: string; init: string[]; main: string[] }[]> {
  const out = await kubectlOk(cluster, ['-n', namespace, 'get', 'pods', '-l', selector, '-o', 'json']);
  const list = JSON.parse(out) as {
    items: {
      metadata: { name: string; deletionTimestamp?: string };
      spec: { initContainers?: { name: string }[]; containers: { name: string }[] };
    }[];
  };
  return list.items
    .filter((pod) => pod.metadata.deletionTimestamp === undefined)
    .map((pod) => ({
      name: pod.metadata.name,
      init: (pod.spec.initContainers ?? []).map((container) => container.name),
      main: pod.spec.containers.map((container) => container.name),
    }));
}

/** `switchyard status -n <ns> <name> --output json`, parsed. */
export async function cliStatus(
  cluster: FakeCluster,
  namespace: string,
  name: string,
): Promise<{ phase: string; weight: number; message: string; [key: string]: unknown }> {
  const out = await switchyardOk(cluster, ['status', '-n', namespace, name, '--output', 'json']);
  return JSON.parse(out) as { phase: string; weight: number; message: string };
}

/** What each injected pod's router routes by now (`GET :15020/routes`): `pod track gen=N weights`. */
export async function routerTables(cluster: FakeCluster, namespace: string): Promise<string[]> {
  const out = await kubectlOk(cluster, [
    '-n',
    namespace,
    'get',
    'pods',
    '-l',
    'switchyard.io/inject=true',
    '-o',
    'jsonpath={range .items[*]}{.metadata.name} {.metadata.labels.switchyard\\.io/track} {.status.podIP}{"\\n"}{end}',
  ]);
  const rows: string[] = [];
  for (const line of out.trim().split('\n').filter(Boolean)) {
    const [name, track, ip] = line.split(' ');
    try {
      const response = await fetch(`http://${ip}:15020/routes`, { signal: AbortSignal.timeout(2000) });
      const table = (await response.json()) as { generation?: number; weights?: unknown; tracks?: unknown };
      rows.push(`${name} ${track} gen=${table.generation} weights=${JSON.stringify(table.weights)}`);
    } catch (error) {
      rows.push(`${name} ${track} ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return rows;
}

/** What to say when clients failed: a few of their failures and every router's `upstream failed` line. */
export async function failureReport(cluster: FakeCluster, seen: Tally): Promise<string> {
  if (seen.failed === 0) return '';
  return [...seen.failures, ...(await routerFailureLog(cluster))].join('\n');
}

/** The routers' `upstream failed` log lines (every pod's, gone ones included): why a client saw a 5xx. */
async function routerFailureLog(cluster: FakeCluster): Promise<string[]> {
  const lines: string[] = [];
  const files = await readdir(cluster.workDir, { recursive: true });
  for (const file of files.filter((name) => name.endsWith('.log'))) {
    const text = await readFile(join(cluster.workDir, file), 'utf8').catch(() => '');
    for (const line of text.split('\n'))
      if (line.includes('"upstream failed"')) lines.push(`${file}: ${line}`);
  }
  return lines;
}
