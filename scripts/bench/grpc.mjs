// The gRPC part of `make bench`: unary calls with @grpc/grpc-js at both ends, straight to the app,
// through the router (`--protocol h2c`) and, as the reference a proxy is measured against, through a
// minimal node:http2 proxy (http2-proxy.mjs), on loopback. The app is the e2e's greeter
// (test/e2e/cluster/fixtures/greeter.mjs) in its own process; the client is this process.
// For each target, alternating over ROUNDS rounds and keeping the best round: p50 of one caller
// making calls one after another, and calls/s of CALLERS callers sharing one channel (a gRPC client's
// one connection). Prints one JSON line.
// Usage: node grpc.mjs <checkout> <node binary for the router> <router env as JSON>
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.mjs';
import { call, channel, ready } from './grpc-client.mjs';
import { runBench, start } from './targets.mjs';

const [checkout, node, routerEnvJson] = process.argv.slice(2);
const ROUNDS = 2;
// A node process keeps compiling its hot code over the first thousands of calls.
const WARMUP_CALLS = 2000;
const SEQUENTIAL_CALLS = 3000;
const CALLERS = 20;
const CONCURRENT_SECONDS = 4;

/** p50 in µs of SEQUENTIAL_CALLS calls one after another. */
async function sequentialP50(client) {
  const micros = [];
  for (let i = 0; i < SEQUENTIAL_CALLS; i++) {
    const started = performance.now();
    await call(client);
    micros.push((performance.now() - started) * 1000);
  }
  micros.sort((a, b) => a - b);
  return micros[micros.length >> 1];
}

/** Calls/s of CALLERS callers, each calling again as soon as its answer came. */
async function concurrentRate(client) {
  const until = performance.now() + CONCURRENT_SECONDS * 1000;
  let calls = 0;
  const caller = async () => {
    while (performance.now() < until) {
      await call(client);
      calls++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CALLERS }, caller));
  return calls / ((performance.now() - started) / 1000);
}

async function main() {
  const appPort = await freePort();
  start('greeter', process.execPath, [join(checkout, 'test', 'e2e', 'cluster', 'fixtures', 'greeter.mjs')], {
    GREETER_LISTEN: `127.0.0.1:${appPort}`,
  });
  const routerPort = await freePort();
  const adminPort = await freePort();
  mkdirSync(join(checkout, '.bench'), { recursive: true });
  const routes = join(checkout, '.bench', 'grpc-routes.json');
  writeFileSync(
    routes,
    JSON.stringify({
      service: 'bench',
      generation: 1,
      tracks: { stable: { upstream: `http://127.0.0.1:${appPort}` } },
      weights: { stable: 100 },
    }),
  );
  start(
    'router (h2c)',
    node,
    [
      join(checkout, 'bin', 'switchyard.js'),
      'router',
      '--protocol',
      'h2c',
      '--listen',
      `127.0.0.1:${routerPort}`,
      '--admin',
      `127.0.0.1:${adminPort}`,
      '--service',
      'bench',
      '--track',
      'stable',
      '--local',
      `http://127.0.0.1:${appPort}`,
      '--routes-file',
      routes,
      '--log-level',
      'warn',
    ],
    JSON.parse(routerEnvJson),
  );
  const proxyPort = await freePort();
  start(
    'minimal http2 proxy',
    node,
    [
      fileURLToPath(new URL('http2-proxy.mjs', import.meta.url)),
      String(proxyPort),
      `http://127.0.0.1:${appPort}`,
    ],
    {},
  );
  const targets = [
    { name: 'direct', client: channel(appPort) },
    { name: 'router', client: channel(routerPort) },
    { name: 'minimal http2 proxy', client: channel(proxyPort) },
  ];
  for (const target of targets) {
    await ready(target.client);
    for (let i = 0; i < WARMUP_CALLS; i++) await call(target.client);
    target.p50 = Number.POSITIVE_INFINITY;
    target.rate = 0;
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
      process.stderr.write(`bench: gRPC round ${round + 1}/${ROUNDS} ${target.name}\n`);
      target.p50 = Math.min(target.p50, await sequentialP50(target.client));
      target.rate = Math.max(target.rate, await concurrentRate(target.client));
    }
  }
  const [direct, router, proxy] = targets;
  for (const target of targets) target.client.close();
  process.stdout.write(
    `${JSON.stringify({
      grpc_direct_p50_us: Math.round(direct.p50),
      grpc_router_p50_us: Math.round(router.p50),
      grpc_proxy_p50_us: Math.round(proxy.p50),
      grpc_added_p50_us: Math.round(router.p50 - direct.p50),
      grpc_direct_calls_per_s: Math.round(direct.rate),
      grpc_router_calls_per_s: Math.round(router.rate),
      grpc_proxy_calls_per_s: Math.round(proxy.rate),
      grpc_ratio_router_direct: Number((router.rate / direct.rate).toFixed(3)),
      grpc_ratio_router_proxy: Number((router.rate / proxy.rate).toFixed(3)),
      grpc_callers: CALLERS,
    })}\n`,
  );
}

runBench(main);
