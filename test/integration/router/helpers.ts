// Shared fixtures for the router integration tests: sample apps on real sockets, an embedded router
// with its own Registry and a routes file in a temp dir, and the real CLI as a child process.

import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  type AddressInfo,
  connect as connectTcp,
  createServer as createTcpServer,
  type Server as TcpServer,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { RouterConfig } from '../../../router/config.js';
import type { Random } from '../../../router/decide.js';
import { type RunningRouter, startRouter } from '../../../router/start.js';
import { ensureBuilt, REPO_ROOT } from '../../support/build.js';
import { freePort } from '../../support/free-port.js';
import { equalTo, waitFor } from '../../support/wait-for.js';

export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly bytes: number;
  readonly remotePort: number;
}

export interface App {
  readonly name: string;
  readonly url: string;
  readonly seen: Seen[];
  readonly server: Server;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, app: App) => boolean;

/** A sample app that answers JSON {app, method, url, headers, bytes}; `handler` may take over a request. */
export async function startApp(name: string, handler?: Handler): Promise<App> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    if (handler?.(req, res, app)) return;
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => {
      const entry = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bytes,
        remotePort: req.socket.remotePort ?? 0,
      };
      seen.push(entry);
      res.writeHead(200, { 'content-type': 'application/json', 'x-app': name });
      res.end(JSON.stringify({ app: name, ...entry }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const app: App = {
    name,
    url: `http://127.0.0.1:${port}`,
    seen,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return app;
}

/** A URL on which nothing listens (a port we bound and released). */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/**
 * kube-proxy in miniature: each new connection goes to the URL `endpoint` picks; with none, it is
 * closed at once. A connection whose endpoint refuses is closed, or reset (`refusedAs`), as a
 * user-space proxy (and the fake cluster's kube-proxy) does: it accepted before trying the pod.
 */
export async function startService(
  endpoint: () => string | undefined,
  refusedAs: 'close' | 'reset' = 'close',
): Promise<{ url: string; server: TcpServer }> {
  const server = createTcpServer({ noDelay: true }, (client) => {
    const target = endpoint();
    if (target === undefined) {
      client.destroy();
      return;
    }
    const upstream = connectTcp({ port: Number(new URL(target).port), host: '127.0.0.1', noDelay: true });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => (refusedAs === 'reset' ? client.resetAndDestroy() : client.destroy()));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

export interface TableInput {
  readonly tracks: Record<string, string>;
  readonly weights: Record<string, number>;
  readonly generation?: number;
  readonly [key: string]: unknown;
}

export function tableJson(input: TableInput, service = 'shop'): string {
  const { tracks, weights, generation, ...rest } = input;
  return JSON.stringify({
    service,
    generation: generation ?? 1,
    tracks: Object.fromEntries(Object.entries(tracks).map(([name, upstream]) => [name, { upstream }])),
    weights,
    ...rest,
  });
}

export interface TestRouter {
  readonly router: RunningRouter;
  readonly url: string;
  readonly admin: string;
  readonly registry: Registry;
  readonly dir: string;
  readonly routesFile: string;
  readonly logs: Record<string, unknown>[];
  writeTable(input: TableInput | string): void;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export interface TestRouterOptions {
  readonly track?: string;
  readonly local: string;
  readonly table?: TableInput | string;
  readonly random?: Random;
  readonly hopSecret?: string;
  readonly config?: Partial<RouterConfig>;
}

/** Starts an embedded router on port 0 with a routes file (written first when `table` is given). */
export async function startTestRouter(options: TestRouterOptions): Promise<TestRouter> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-router-'));
  const routesFile = join(dir, 'routes.json');
  const writeTable = (input: TableInput | string): void => {
    const text = typeof input === 'string' ? input : tableJson(input);
    const temp = `${routesFile}.tmp`;
    writeFileSync(temp, text);
    // Rename over the file like kubelet/editors do, so the watcher sees one complete change.
    renameSync(temp, routesFile);
  };
  if (options.table !== undefined) writeTable(options.table);
  let hopSecretFile: string | null = null;
  if (options.hopSecret !== undefined) {
    hopSecretFile = join(dir, 'hop-secret');
    writeFileSync(hopSecretFile, `${options.hopSecret}\n`);
  }
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
      callback();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const registry = new Registry();
  const config: RouterConfig = {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    service: 'shop',
    track: options.track ?? 'stable',
    local: options.local,
    routesFile,
    control: null,
    namespace: 'default',
    hopSecretFile,
    controlCaFile: null,
    controlTokenFile: null,
    headersTimeoutMs: 5000,
    bodyTimeoutMs: 5000,
    idleTimeoutMs: 5000,
    drainTimeoutMs: 2000,
    logLevel: 'debug',
    protocol: 'http',
    ...options.config,
  };
  const router = await startRouter(config, {
    logger,
    registry,
    ...(options.random ? { random: options.random } : {}),
  });
  if (options.table !== undefined) {
    await waitFor(
      'route table loaded',
      async () => (await fetch(`${router.adminAddress.url}/routes`)).status,
      equalTo(200),
    );
  }
  return {
    router,
    url: router.listenAddress.url,
    admin: router.adminAddress.url,
    registry,
    dir,
    routesFile,
    logs,
    writeTable,
    metric: (name, labels = {}) => metricValue(registry, name, labels),
    async close() {
      await router.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes one table to each router (e.g. one naming them all) and waits until every one has it. */
export async function shareTable(table: TableInput, ...routers: readonly TestRouter[]): Promise<void> {
  for (const router of routers) router.writeTable(table);
  await waitFor(
    'every router to load the shared table',
    () => Promise.all(routers.map((router) => router.metric('switchyard_route_generation'))),
    equalTo(routers.map(() => table.generation ?? 1)),
  );
}

/** Sum of the samples of `name` whose labels include `labels` (0 when none). */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metrics = await registry.getMetricsAsJSON();
  let total = 0;
  for (const metric of metrics) {
    for (const sample of metric.values as {
      value: number;
      labels: Record<string, unknown>;
      metricName?: string;
    }[]) {
      const sampleName = sample.metricName ?? metric.name;
      if (sampleName !== name) continue;
      if (Object.entries(labels).every(([key, value]) => String(sample.labels[key]) === value))
        total += sample.value;
    }
  }
  return total;
}

/** A Random that returns the given values in turn (repeating the last). */
export function sequence(...values: number[]): Random {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
}

export interface RouterCli {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly port: number;
  readonly admin: number;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Its exit code, once it has exited. */
  readonly exited: Promise<number | null>;
}

/**
 * Runs the real CLI as the kubelet does, `node [nodeArgs] bin/switchyard.js router --service shop
 * --track stable --local <local> [args]`, listening on free ports (SWITCHYARD_LISTEN/_ADMIN), and
 * waits until its /readyz answers 200.
 */
export async function spawnRouterCli(options: {
  readonly local: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly nodeArgs?: readonly string[];
}): Promise<RouterCli> {
  ensureBuilt('cli/router.js');
  const port = await freePort();
  const admin = await freePort();
  const argv = [
    ...(options.nodeArgs ?? []),
    join(REPO_ROOT, 'bin', 'switchyard.js'),
    'router',
    '--service',
    'shop',
    '--track',
    'stable',
    '--local',
    options.local,
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, argv, {
    env: {
      ...process.env,
      SWITCHYARD_LISTEN: `127.0.0.1:${port}`,
      SWITCHYARD_ADMIN: `127.0.0.1:${admin}`,
      SWITCHYARD_LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (data) => {
    output += data;
  });
  child.stderr.on('data', (data) => {
    output += data;
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  try {
    await waitFor(
      `router ready on :${admin}`,
      async () => (await fetch(`http://127.0.0.1:${admin}/readyz`)).status,
      equalTo(200),
      { timeoutMs: 15_000, seen: () => ({ output }) },
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { child, port, admin, output: () => output, exited };
}
