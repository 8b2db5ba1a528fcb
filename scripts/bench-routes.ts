// Benchmark of the route server's fan-out: N routers (default 1000) long-poll one service over
// loopback; we publish a weight change and print how long until every one of them has it.
// Run: npm run build && node dist/scripts/bench-routes.js [--routers 1000] [--rounds 3]
// Needs about 2 file descriptors per router (client and server side): `ulimit -n` ≥ 2200 for 1000.
// Clients and server share this process, so the number includes both sides' event-loop work.

import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import { Agent, request } from 'undici';
import { parseRouteTable, type RouteTable } from '../api/routes.js';
import { RouteStore, registerRouteServer } from '../controller/route-server.js';
import { SharedSecretAuthenticator } from '../controller/router-auth.js';

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name}: expected a positive integer`);
  return value;
}

function table(generation: number, canary: number): RouteTable {
  return parseRouteTable({
    service: 'shop',
    generation,
    tracks: { stable: { upstream: 'http://127.0.0.1:8080' }, canary: { upstream: 'http://127.0.0.1:8081' } },
    weights: { stable: 100 - canary, canary },
  });
}

async function until(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function main(): Promise<void> {
  const routers = flag('routers', 1000);
  const rounds = flag('rounds', 3);
  const secret = 'bench-secret';
  const store = new RouteStore();
  const app = Fastify({ logger: false });
  registerRouteServer(app, { store, authenticator: new SharedSecretAuthenticator(secret), holdMs: 60_000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  app.server.maxConnections = routers + 100;
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const agent = new Agent({ connections: routers + 10, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
  const headers = { authorization: `Bearer ${secret}` };

  let generation = 1;
  store.publish('default', table(generation, 0));
  const results: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const polls = Array.from({ length: routers }, async () => {
        const response = await request(`${base}/v1/routes/default/shop?generation=${generation}`, {
          dispatcher: agent,
          headers,
        });
        const body = (await response.body.json()) as RouteTable;
        if (response.statusCode !== 200) throw new Error(`poll answered ${response.statusCode}`);
        return { body, at: performance.now() };
      });
      await until(
        () => store.waiting() === routers,
        `${routers} held polls (saw ${store.waiting()})`,
        30_000,
      );
      generation += 1;
      const start = performance.now();
      store.publish('default', table(generation, (round + 1) * 10));
      const answers = await Promise.all(polls);
      const last = Math.max(...answers.map((answer) => answer.at));
      const wrong = answers.filter((answer) => answer.body.generation !== generation).length;
      if (wrong > 0) throw new Error(`${wrong} routers got a stale table`);
      results.push(last - start);
      process.stdout.write(
        `round ${round + 1}: ${routers} routers had generation ${generation} after ${(last - start).toFixed(1)} ms\n`,
      );
    }
  } finally {
    await agent.close();
    await app.close();
  }
  const best = Math.min(...results);
  const worst = Math.max(...results);
  process.stdout.write(
    `bench-routes: weight change reached ${routers} long-polling routers in ${worst.toFixed(1)} ms worst, ${best.toFixed(1)} ms best (target < 1000 ms)\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`bench-routes: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
