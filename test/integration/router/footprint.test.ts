// The router's memory diet, kept: every module a process loads stays in its memory, so the real CLI
// runs a table that exercises weights, rules, hashing, hops and metrics, and on exit lists what it
// loaded. The heavy parts of node and of its packages that the router never needs must be absent.
// And on the runtimes where optimizing undici's llhttp costs a large transient compiler zone, the
// router's peak memory under its first requests stays near where it started.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { llhttpStaysOnLiftoff } from '../../../cli/router.js';
import { ROUTER_ENV } from '../../../router/node-options.js';
import { REPO_ROOT } from '../../support/build.js';
import { type App, spawnRouterCli, startApp, tableJson } from './helpers.js';

const HOP_TOKEN = 'footprint-hop-token';
const dir = mkdtempSync(join(tmpdir(), 'switchyard-footprint-'));
let stable: App;
let canary: App;

// Loaded with --import: on exit, writes the node built-ins and the CommonJS files the process loaded.
const PROBE = `
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
process.on('exit', () => {
  const builtins = process.moduleLoadList
    .filter((entry) => entry.startsWith('NativeModule '))
    .map((entry) => entry.slice('NativeModule '.length));
  writeFileSync(process.env.FOOTPRINT_OUT, JSON.stringify({ builtins, files: Object.keys(require.cache) }));
});
`;

beforeAll(async () => {
  stable = await startApp('stable');
  canary = await startApp('canary');
});
afterAll(async () => {
  await stable.close();
  await canary.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the router through a mixed workload, stops it with SIGTERM and returns what it loaded. */
async function loadedByRouter(): Promise<{ builtins: string[]; files: string[] }> {
  const probe = join(dir, 'probe.mjs');
  const out = join(dir, 'loaded.json');
  const routes = join(dir, 'routes.json');
  const hopSecret = join(dir, 'hop-secret');
  writeFileSync(probe, PROBE);
  writeFileSync(hopSecret, HOP_TOKEN);
  writeFileSync(
    routes,
    tableJson({
      tracks: { stable: stable.url, canary: canary.url },
      weights: { stable: 50, canary: 50 },
      rules: [{ match: { header: { name: 'x-beta', regex: '^(yes|true)$' } }, track: 'canary' }],
      hashOn: { header: 'x-user-id' },
    }),
  );
  const router = await spawnRouterCli({
    local: stable.url,
    nodeArgs: ['--import', pathToFileURL(probe).href],
    args: ['--routes-file', routes, '--hop-secret-file', hopSecret],
    env: { FOOTPRINT_OUT: out },
  });
  const { port, admin } = router;
  try {
    const requests: Record<string, string>[] = [
      {},
      { 'x-beta': 'yes' },
      { 'x-user-id': 'user-7' },
      { 'x-canary': 'always' },
      { 'x-switchyard-hop': HOP_TOKEN },
      { 'x-switchyard-hop': 'forged' },
    ];
    for (const headers of [...requests, ...requests]) {
      const res = await fetch(`http://127.0.0.1:${port}/`, { headers });
      expect(res.status, JSON.stringify(headers)).toBe(200);
      await res.text();
    }
    expect(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text()).toContain(
      'switchyard_requests_total',
    );
  } finally {
    router.child.kill('SIGTERM');
  }
  expect(await router.exited, router.output()).toBe(0);
  return JSON.parse(readFileSync(out, 'utf8'));
}

describe('router footprint', () => {
  // On node 22+ an ESM import of these builds the module's ESM facade, which reads every export
  // getter: node:http's load crypto, tls, http2, zlib and node's own undici (~7 MB of RSS per router
  // on node 24), node:fs's and node:util's ~30 modules each. The machine's node 20 loads none of
  // that either way, so the probe above cannot see it: the router's modules are checked instead.
  it('takes node:http, node:fs, node:util and node:net through process.getBuiltinModule, not import', () => {
    const graph = valueImportGraph(['cli/main.ts', 'cli/router.ts']);
    expect([...graph.keys()]).toEqual(
      expect.arrayContaining(['router/start.ts', 'router/proxy.ts', 'api/flags.ts']),
    );
    const facades = ['node:http', 'node:fs', 'node:util', 'node:net'];
    const imported = [...graph].flatMap(([file, specifiers]) =>
      specifiers
        .filter((specifier) => facades.includes(specifier))
        .map((specifier) => `${file}: ${specifier}`),
    );
    expect(imported).toEqual([]);
  });

  it('serves weights, rules, hashing, hops and metrics without loading what it never uses', async () => {
    const { builtins, files } = await loadedByRouter();
    const relative = files.map((file) => file.slice(REPO_ROOT.length + 1));

    // The probe sees what the router does load (so the absences below mean something).
    expect(relative).toContain('node_modules/undici/lib/dispatcher/pool.js');
    expect(relative).toContain('node_modules/prom-client/lib/histogram.js');
    expect(builtins).toContain('http');

    // node:crypto costs ~0.5 MB (OpenSSL pages and its modules); TLS and HTTP/2 come with undici's
    // HTTP/2 client, which router/undici.ts replaces; zlib and worker_threads with its fetch;
    // perf_hooks (~0.3 MB) with the `performance` global, which the router's clock does not use.
    const heavy = ['crypto', 'tls', 'http2', 'zlib', 'worker_threads', 'perf_hooks'];
    expect(builtins.filter((name) => heavy.includes(name) || name.startsWith('internal/crypto/'))).toEqual(
      [],
    );
    // The package roots load fetch, WebSocket and caches (undici) and default metrics (prom-client).
    expect(
      relative.filter(
        (file) =>
          file === 'node_modules/undici/index.js' ||
          file.startsWith('node_modules/undici/lib/web/') ||
          file === 'node_modules/prom-client/index.js',
      ),
    ).toEqual([]);
  });
});

/** The repository's TypeScript files `entries` reach through value imports, with those imports. */
function valueImportGraph(entries: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const pending = [...entries];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (graph.has(file)) continue;
    const source = readFileSync(join(REPO_ROOT, file), 'utf8');
    // `import …`/`export … from` statements, except `import type`/`export type` (erased by tsc).
    const specifiers = [
      ...source.matchAll(/^(?:import|export)\s+(?!type\s)(?:[^;]*?\sfrom\s+)?'([^']+)';/gms),
    ].map((match) => match[1]!);
    graph.set(file, specifiers);
    for (const specifier of specifiers)
      if (specifier.startsWith('.')) pending.push(join(dirname(file), specifier).replace(/\.js$/, '.ts'));
  }
  return graph;
}

/** A process's resident and peak resident memory in MB, from /proc. */
function residentMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

describe('router peak memory', () => {
  // Without llhttp on Liftoff, node 20 peaked 35 MB above its ready RSS within 400 requests.
  it.skipIf(!llhttpStaysOnLiftoff() || process.platform !== 'linux')(
    'stays within 25 MB of its ready RSS through its first 400 requests',
    async () => {
      const routes = join(dir, 'peak-routes.json');
      writeFileSync(
        routes,
        tableJson({
          tracks: { stable: stable.url, canary: canary.url },
          weights: { stable: 90, canary: 10 },
        }),
      );
      const router = await spawnRouterCli({
        local: stable.url,
        args: ['--routes-file', routes],
        env: ROUTER_ENV,
      });
      try {
        const pid = router.child.pid as number;
        const ready = residentMb(pid).rss;
        const client = async () => {
          for (let i = 0; i < 100; i++) {
            const res = await fetch(`http://127.0.0.1:${router.port}/`);
            expect(res.status).toBe(200);
            await res.text();
          }
        };
        await Promise.all([client(), client(), client(), client()]);
        const { peak } = residentMb(pid);
        expect(peak - ready, `ready ${ready.toFixed(1)} MB, peak ${peak.toFixed(1)} MB`).toBeLessThan(25);
      } finally {
        router.child.kill('SIGTERM');
      }
      expect(await router.exited, router.output()).toBe(0);
    },
  );
});
