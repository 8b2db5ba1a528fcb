// `make bench-instructions`: user-space instructions per request, counted by valgrind's callgrind,
// for the router, the minimal undici proxy and @fastify/http-proxy (and BENCH_BASELINE's router). On
// this shared VM the timings of `make bench` vary by ±30 % from run to run; an instruction count does
// not depend on what else the machine does: two runs of one build agree within ~1.5 %, so a hot-path
// change of a few per cent shows here when `make bench` cannot see it.
//
// Each target runs under callgrind alone, behind an upstream of node's bare http server (not
// counted); WARMUP requests at 4 connections, counters zeroed, then REQUESTS more, counted. What it
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
async function measure(name, key, url, args, env) {
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
  await waitForHttp(url, `${name} under valgrind`, 120_000);
  process.stderr.write(`bench: ${name}: ${WARMUP} requests to warm up, then ${REQUESTS} counted\n`);
  await load(url, WARMUP);
  await run('callgrind_control', ['--zero', String(child.pid)]);
  await load(url, REQUESTS);
  await run('callgrind_control', ['--dump', String(child.pid)]);
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
  const { ROUTER_ENV } = await import(pathToFileURL(join(root, 'dist', 'router', 'node-options.js')).href);

  const results = [];
  // As in `make bench`: the router with the sidecar's environment, the proxies with node's defaults.
  const router = async (name, key, checkout) => {
    const { args, url } = await routerArgs(checkout, upstream, routes);
    results.push(await measure(name, key, url, args, ROUTER_ENV));
  };
  const proxy = async (name, key, script) => {
    const port = await freePort();
    const args = [join(here, script), String(port), upstream];
    results.push(await measure(name, key, `http://127.0.0.1:${port}/`, args, {}));
  };
  await router('switchyard router', 'router', root);
  await proxy('minimal undici proxy', 'undici', 'undici-proxy.mjs');
  await proxy('@fastify/http-proxy', 'fastify', 'fastify-proxy.mjs');
  if (process.env.BENCH_BASELINE)
    await router('router (baseline)', 'baseline', resolve(process.env.BENCH_BASELINE));

  const [routerResult, undici, fastify, baseline] = results;
  const k = (value) => `${(value / 1000).toFixed(1)}k`;
  process.stdout.write(`\n${'target'.padEnd(22)}  instructions/request  main thread  other threads\n`);
  for (const r of results) {
    process.stdout.write(
      `${r.name.padEnd(22)}  ${k(r.perRequest).padStart(20)}  ${k(r.mainPerRequest).padStart(11)}  ${k(r.perRequest - r.mainPerRequest).padStart(13)}\n`,
    );
  }
  const ratio = (a, b) => Number((a.perRequest / b.perRequest).toFixed(3));
  process.stdout.write(
    `\nrouter / minimal undici proxy ${ratio(routerResult, undici)}, router / @fastify/http-proxy ${ratio(routerResult, fastify)}${baseline ? `, router / baseline ${ratio(routerResult, baseline)}` : ''} (instructions per request; lower is cheaper)\n`,
  );
  const summary = Object.fromEntries(results.map((r) => [`${r.key}_instructions`, Math.round(r.perRequest)]));
  process.stdout.write(`${JSON.stringify({ ...summary, requests: REQUESTS, warmup: WARMUP })}\n`);
}

runBench(main);
