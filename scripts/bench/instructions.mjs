// `make bench-instructions`: user-space instructions per request, counted by valgrind's callgrind,
// for the router, the minimal undici proxy and @fastify/http-proxy (and BENCH_BASELINE's router), then
// per unary gRPC call for the router with --protocol h2c and the minimal http2 proxy (and the
// baseline's router) in front of the e2e's greeter. On
// this shared VM the timings of `make bench` vary by ±30 % from run to run; an instruction count does
// not depend on what else the machine does: two runs of one build agree within ~1.5 %, so a hot-path
// change of a few per cent shows here when `make bench` cannot see it.
//
// Each target runs under callgrind alone, behind an upstream of node's bare http server or the
// greeter (not counted); WARMUP requests (or calls) 4 at a time, counters zeroed, then REQUESTS more,
// counted. What it
// does not see: the kernel (system calls, loopback TCP: the same for every node target, one read and
// one write each way per request) and time. valgrind runs node ~50x slower, so V8's background
// compiler is still at work after the warm-up (~45 % of the router's instructions are on its thread):
// compare targets and builds within one run, not these numbers with `make bench`'s CPU seconds.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Pool } from 'undici';
import { freePort } from './free-port.mjs';
import { call, channel, ready } from './grpc-client.mjs';
import { routerArgs, runBench, start, stop, waitForHttp, writeRoutes } from './targets.mjs';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const work = join(root, '.bench', 'instructions');
const WARMUP = Number(process.env.BENCH_INSTRUCTIONS_WARMUP ?? 4000);
const REQUESTS = Number(process.env.BENCH_INSTRUCTIONS_REQUESTS ?? 3000);
const CONNECTIONS = 4;

/** Sends `count` GETs over CONNECTIONS kept connections, one request in flight on each. */
async function load(url, count) {
  const pool = new Pool(new URL(url).origin, { connections: CONNECTIONS });
  let left = count;
  const loop = async () => {
    while (left-- > 0) {
      const res = await pool.request({ path: '/', method: 'GET' });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, loop));
  await pool.close();
}

/** How a target is asked: HTTP/1.1 GETs at `url`. */
function httpClient(url, name) {
  return {
    ready: () => waitForHttp(url, `${name} under valgrind`, 120_000),
    load: (count) => load(url, count),
    close: () => {},
  };
}

/** How a target is asked: unary gRPC calls on one channel, CONNECTIONS of them in flight. */
function grpcClient(port) {
  const client = channel(port);
  return {
    ready: () => ready(client, 120_000),
    load: async (count) => {
      let left = count;
      const loop = async () => {
        while (left-- > 0) await call(client);
      };
      await Promise.all(Array.from({ length: CONNECTIONS }, loop));
    },
    close: () => client.close(),
  };
}

/** Instructions in callgrind's dump files `<prefix>*`: the main thread's (`-01`) and all threads'. */
function countDumps(prefix) {
  let main = 0;
  let all = 0;
  for (const file of readdirSync(work).filter((name) => name.startsWith(prefix))) {
    const text = readFileSync(join(work, file), 'utf8');
    const count = Number(/^(?:summary|totals): (\d+)/m.exec(text)?.[1] ?? 0);
    all += count;
    if (file.endsWith('-01')) main += count;
  }
  return { main, all };
}

/** One target under callgrind: started, warmed up, its counters zeroed, measured, dumped, stopped. */
async function measure(name, key, args, env, client) {
  const slug = name.replace(/\W+/g, '-');
  const child = start(
    name,
    'valgrind',
    [
      '--tool=callgrind',
      '--separate-threads=yes',
      '--dump-instr=no',
      `--callgrind-out-file=${join(work, slug)}.%p`,
      process.execPath,
      ...args,
    ],
    env,
  );
  await client.ready();
  process.stderr.write(`bench: ${name}: ${WARMUP} to warm up, then ${REQUESTS} counted\n`);
  await client.load(WARMUP);
  await run('callgrind_control', ['--zero', String(child.pid)]);
  await client.load(REQUESTS);
  await run('callgrind_control', ['--dump', String(child.pid)]);
  client.close();
  // The zeroing request's dump is part 1; the program's own at exit comes later and is not read.
  const counted = countDumps(`${slug}.${child.pid}.1-`);
  await stop(child);
  if (counted.all === 0) throw new Error(`${name}: callgrind wrote no counts into ${work}`);
  return { name, key, perRequest: counted.all / REQUESTS, mainPerRequest: counted.main / REQUESTS };
}

async function main() {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const upstreamPort = await freePort();
  const upstream = `http://127.0.0.1:${upstreamPort}`;
  const payload = join(work, 'index.html');
  writeFileSync(payload, `${'switchyard bench payload '.repeat(4)}\n`);
  start('upstream', process.execPath, [join(here, 'node-http-server.cjs'), String(upstreamPort), payload]);
  await waitForHttp(`${upstream}/`, 'upstream');
  const routes = join(work, 'routes.json');
  writeRoutes(routes, upstream);
  const greeterPort = await freePort();
  const greeter = `http://127.0.0.1:${greeterPort}`;
  const greeterScript = join(root, 'test', 'e2e', 'cluster', 'fixtures', 'greeter.mjs');
  start('greeter', process.execPath, [greeterScript], { GREETER_LISTEN: `127.0.0.1:${greeterPort}` });
  const grpcRoutes = join(work, 'grpc-routes.json');
  writeRoutes(grpcRoutes, greeter);
  const { ROUTER_ENV } = await import(pathToFileURL(join(root, 'dist', 'router', 'node-options.js')).href);

  const results = [];
  // As in `make bench`: the routers with the sidecar's environment, the proxies with node's defaults.
  const router = async (name, key, checkout) => {
    const { args, url } = await routerArgs(checkout, upstream, routes);
    results.push(await measure(name, key, args, ROUTER_ENV, httpClient(url, name)));
  };
  const grpcRouter = async (name, key, checkout) => {
    const { args, url } = await routerArgs(checkout, greeter, grpcRoutes);
    args.push('--protocol', 'h2c');
    results.push(await measure(name, key, args, ROUTER_ENV, grpcClient(Number(new URL(url).port))));
  };
  const proxy = async (name, key, script, grpc) => {
    const port = await freePort();
    const args = [join(here, script), String(port), grpc ? greeter : upstream];
    const client = grpc ? grpcClient(port) : httpClient(`http://127.0.0.1:${port}/`, name);
    results.push(await measure(name, key, args, {}, client));
  };
  const baseline = process.env.BENCH_BASELINE ? resolve(process.env.BENCH_BASELINE) : null;
  await router('switchyard router', 'router', root);
  await proxy('minimal undici proxy', 'undici', 'undici-proxy.mjs', false);
  await proxy('@fastify/http-proxy', 'fastify', 'fastify-proxy.mjs', false);
  if (baseline) await router('router (baseline)', 'baseline', baseline);
  await grpcRouter('gRPC: router (h2c)', 'grpc_router', root);
  await proxy('gRPC: minimal h2 proxy', 'grpc_proxy', 'http2-proxy.mjs', true);
  if (baseline) await grpcRouter('gRPC: router (baseline)', 'grpc_baseline', baseline);

  const by = Object.fromEntries(results.map((r) => [r.key, r]));
  const k = (value) => `${(value / 1000).toFixed(1)}k`;
  process.stdout.write(`\n${'target'.padEnd(24)}  per request or call  main thread  other threads\n`);
  for (const r of results) {
    process.stdout.write(
      `${r.name.padEnd(24)}  ${k(r.perRequest).padStart(19)}  ${k(r.mainPerRequest).padStart(11)}  ${k(r.perRequest - r.mainPerRequest).padStart(13)}\n`,
    );
  }
  const ratio = (a, b) => (a.perRequest / b.perRequest).toFixed(3);
  const ratios = [
    `router / minimal undici proxy ${ratio(by.router, by.undici)}`,
    `router / @fastify/http-proxy ${ratio(by.router, by.fastify)}`,
    ...(baseline ? [`router / baseline ${ratio(by.router, by.baseline)}`] : []),
    `gRPC router / minimal h2 proxy ${ratio(by.grpc_router, by.grpc_proxy)}`,
    ...(baseline ? [`gRPC router / baseline ${ratio(by.grpc_router, by.grpc_baseline)}`] : []),
  ];
  process.stdout.write(`\n${ratios.join(', ')} (instructions; lower is cheaper)\n`);
  const summary = Object.fromEntries(results.map((r) => [`${r.key}_instructions`, Math.round(r.perRequest)]));
  process.stdout.write(`${JSON.stringify({ ...summary, requests: REQUESTS, warmup: WARMUP })}\n`);
}

runBench(main);
