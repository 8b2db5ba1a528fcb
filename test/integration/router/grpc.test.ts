// `--protocol h2c`: real gRPC clients and servers (@grpc/grpc-js) through the router over HTTP/2
// cleartext: routing, trailers, per-version metrics by grpc-status, streaming, hops, drain.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as connectHttp2, createServer as createHttp2Server } from 'node:http2';
import { connect as connectTcp, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { equalTo, waitFor } from '../../support/wait-for.js';
import { CHAT, client, closeClients, type GrpcApp, identity, say, startGrpcApp } from './grpc-app.js';
import {
  deadUrl,
  sequence,
  shareTable,
  spawnRouterCli,
  startTestRouter,
  type TestRouter,
  tableJson,
} from './helpers.js';

let stable: GrpcApp;
let canary: GrpcApp;
const routers: TestRouter[] = [];

beforeAll(async () => {
  stable = await startGrpcApp('stable');
  canary = await startGrpcApp('canary');
});
afterEach(async () => {
  closeClients();
  await Promise.all(routers.splice(0).map((router) => router.close()));
  stable.seen.length = 0;
  canary.seen.length = 0;
});
afterAll(async () => {
  await stable.close();
  await canary.close();
});

async function h2cRouter(options: Parameters<typeof startTestRouter>[0]): Promise<TestRouter> {
  const started = await startTestRouter({ ...options, config: { ...options.config, protocol: 'h2c' } });
  routers.push(started);
  return started;
}

/** An h2c router in front of the stable app whose table sends canary straight to the canary app. */
async function stableRouter(weights = { stable: 90, canary: 10 }, random = () => 0.5): Promise<TestRouter> {
  return h2cRouter({
    local: stable.url,
    random,
    table: { tracks: { stable: await deadUrl(), canary: canary.url }, weights },
  });
}

describe('gRPC over --protocol h2c', () => {
  it('routes calls by weight and X-Canary metadata, passing headers and trailers both ways', async () => {
    // 0.05 falls in canary's 10 %, 0.5 in stable's 90 %.
    const r = await stableRouter({ stable: 90, canary: 10 }, sequence(0.05, 0.5));
    const first = await say(r.url, 'hello');
    expect(first).toMatchObject({ text: 'canary:hello', code: grpc.status.OK });
    expect(first.headers?.get('x-app')).toEqual(['canary']);
    expect(first.trailers?.get('x-served-by')).toEqual(['canary']);
    expect((await say(r.url, 'hello')).text).toBe('stable:hello');
    expect((await say(r.url, 'hello', { 'x-canary': 'always' })).text).toBe('canary:hello');
    expect((await say(r.url, 'hello', { 'x-canary': 'never' })).text).toBe('stable:hello');
    for (const seen of [...stable.seen, ...canary.seen]) {
      expect(seen['x-canary']).toBeUndefined();
      expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    }
    expect(await r.metric('switchyard_routing_decisions_total', { track: 'canary', reason: 'header' })).toBe(
      1,
    );
    expect(await r.metric('switchyard_routing_decisions_total', { track: 'canary', reason: 'weight' })).toBe(
      1,
    );
  });

  it('counts each call once, by its grpc-status: OK as 2xx, NOT_FOUND as 4xx, UNAVAILABLE as 5xx', async () => {
    const r = await stableRouter({ stable: 100, canary: 0 });
    expect((await say(r.url, 'hello')).code).toBe(grpc.status.OK);
    const notFound = await say(r.url, 'not-found');
    expect(notFound).toMatchObject({ code: grpc.status.NOT_FOUND, details: 'stable says not-found' });
    const unavailable = await say(r.url, 'unavailable');
    expect(unavailable).toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'stable says unavailable' });
    const counted = (codeClass: string) =>
      r.metric('switchyard_requests_total', { service: 'shop', track: 'stable', code_class: codeClass });
    expect([await counted('2xx'), await counted('4xx'), await counted('5xx')]).toEqual([1, 1, 1]);
    expect(await r.metric('switchyard_request_duration_seconds_count', { track: 'stable' })).toBe(3);
  });

  it('streams both ways: a bidirectional call echoes message by message', async () => {
    const r = await stableRouter({ stable: 100, canary: 0 });
    const call = client(r.url).makeBidiStreamRequest(CHAT.path, identity, identity);
    const received: string[] = [];
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    // Each answer arrives before the next message is sent: nothing waits for the request to end.
    for (const message of ['one', 'two', 'three']) {
      const answer = new Promise<Buffer>((resolve) => call.once('data', resolve));
      call.write(Buffer.from(message));
      received.push((await answer).toString());
    }
    call.end();
    expect((await status).code).toBe(grpc.status.OK);
    expect(received).toEqual(['stable:one', 'stable:two', 'stable:three']);
    expect(await r.metric('switchyard_requests_total', { track: 'stable', code_class: '2xx' })).toBe(1);
  });

  it('a call the client cancels mid-stream counts as 499 (CANCELLED) and leaves the router serving', async () => {
    const r = await stableRouter({ stable: 100, canary: 0 });
    const call = client(r.url).makeBidiStreamRequest(CHAT.path, identity, identity);
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => {});
    const first = new Promise<Buffer>((resolve) => call.once('data', resolve));
    call.write(Buffer.from('one'));
    await first;
    call.cancel();
    expect((await status).code).toBe(grpc.status.CANCELLED);
    await waitFor(
      'the cancelled call counted',
      () => r.metric('switchyard_requests_total', { track: 'stable', code_class: '4xx' }),
      equalTo(1),
    );
    expect(await r.metric('switchyard_requests_total', { track: 'stable', code_class: '2xx' })).toBe(0);
    expect((await say(r.url, 'after')).text).toBe('stable:after');
  });

  it('hops to the canary router, which serves and counts the call', async () => {
    const c = await h2cRouter({ local: canary.url, track: 'canary', hopSecret: 'hop-token' });
    const s = await h2cRouter({ local: stable.url, hopSecret: 'hop-token' });
    await shareTable({ tracks: { stable: s.url, canary: c.url }, weights: { stable: 90, canary: 10 } }, s, c);
    expect((await say(s.url, 'hello', { 'x-canary': 'always' })).text).toBe('canary:hello');
    expect(canary.seen[0]?.['x-switchyard-hop']).toBeUndefined();
    expect(await c.metric('switchyard_routing_decisions_total', { reason: 'hop' })).toBe(1);
    expect(await c.metric('switchyard_requests_total', { track: 'canary', code_class: '2xx' })).toBe(1);
    expect(await s.metric('switchyard_requests_total', {})).toBe(0);
  });

  it('mirrors calls with their bodies; copies count by their grpc-status', async () => {
    const c = await h2cRouter({ local: canary.url, track: 'canary', hopSecret: 'hop-token' });
    const s = await h2cRouter({ local: stable.url, hopSecret: 'hop-token' });
    const table = {
      tracks: { stable: s.url, canary: c.url },
      weights: { stable: 100, canary: 0 },
      mirror: { track: 'canary', percent: 100 },
    };
    await shareTable(table, s, c);
    expect((await say(s.url, 'hello')).text).toBe('stable:hello');
    expect((await say(s.url, 'unavailable')).code).toBe(grpc.status.UNAVAILABLE);
    const copies = async () => [
      await c.metric('switchyard_mirrored_requests_total', { track: 'canary', code_class: '2xx' }),
      await c.metric('switchyard_mirrored_requests_total', { track: 'canary', code_class: '5xx' }),
    ];
    await waitFor('both copies counted at the canary router', copies, equalTo([1, 1]));
    // A call reaching the canary router goes on to stable; its copy goes to the canary router's
    // own app, and that router counts it the same way.
    expect((await say(c.url, 'unavailable')).details).toBe('stable says unavailable');
    await waitFor('the local copy counted', copies, equalTo([1, 2]));
    expect(canary.seen).toHaveLength(3);
  });

  it("a mirrored call with a deadline runs to it, not to the router's timeouts; one without keeps them", async () => {
    const config = { headersTimeoutMs: 100, bodyTimeoutMs: 100 };
    const c = await h2cRouter({ local: canary.url, track: 'canary', hopSecret: 'hop-token', config });
    const s = await h2cRouter({ local: stable.url, hopSecret: 'hop-token', config });
    const table = {
      tracks: { stable: s.url, canary: c.url },
      weights: { stable: 100, canary: 0 },
      mirror: { track: 'canary', percent: 100 },
    };
    await shareTable(table, s, c);
    const copies = async () => [
      await c.metric('switchyard_mirrored_requests_total', { track: 'canary', code_class: '2xx' }),
      await c.metric('switchyard_mirrored_requests_total', { track: 'canary', code_class: '4xx' }),
    ];
    // "slow" answers after 200 ms, past the 100 ms headers timeout.
    expect((await say(s.url, 'slow', {}, { deadline: Date.now() + 5000 })).text).toBe('stable:slow');
    await waitFor('the copy answered and counted', copies, equalTo([1, 0]));
    // Without a deadline nothing but the router's timeout ends a copy: cut, and counted as cancelled.
    expect((await say(s.url, 'slow')).text).toBe('stable:slow');
    await waitFor('the copy cut and counted', copies, equalTo([1, 1]));
  });

  it('drains on close: an open stream finishes, then the router stops', async () => {
    const r = await stableRouter({ stable: 100, canary: 0 });
    const call = client(r.url).makeBidiStreamRequest(CHAT.path, identity, identity);
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    const first = new Promise<Buffer>((resolve) => call.once('data', resolve));
    call.write(Buffer.from('before'));
    expect((await first).toString()).toBe('stable:before');
    routers.splice(routers.indexOf(r), 1);
    const closed = r.close();
    const second = new Promise<Buffer>((resolve) => call.once('data', resolve));
    call.write(Buffer.from('during'));
    expect((await second).toString()).toBe('stable:during');
    call.end();
    expect((await status).code).toBe(grpc.status.OK);
    await closed;
    expect((await say(r.url, 'after')).code).toBe(grpc.status.UNAVAILABLE);
  });

  it('a gRPC client of an HTTP/1.1 router fails, and the router says once which setting is missing', async () => {
    const r = await startTestRouter({
      local: stable.url,
      table: { tracks: { stable: await deadUrl() }, weights: { stable: 100 } },
    });
    routers.push(r);
    for (let i = 0; i < 2; i++) expect((await say(r.url, 'hello')).code).toBe(grpc.status.UNAVAILABLE);
    const warnings = r.logs.filter((line) => line.level === 40 && String(line.msg).includes('protocol: h2c'));
    expect(warnings).toHaveLength(1);
  });

  it('the CLI serves gRPC with --protocol h2c', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-grpc-'));
    const routes = join(dir, 'routes.json');
    writeFileSync(routes, tableJson({ tracks: { stable: await deadUrl() }, weights: { stable: 100 } }));
    const cli = await spawnRouterCli({
      local: stable.url,
      args: ['--protocol', 'h2c'],
      env: { SWITCHYARD_ROUTES_FILE: routes },
    });
    try {
      expect((await say(`http://127.0.0.1:${cli.port}`, 'hello')).text).toBe('stable:hello');
    } finally {
      cli.child.kill('SIGTERM');
      await cli.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * An app that serves HTTP/1.1 and HTTP/2 on one port, like Go's cmux: it answers with the protocol
 * a request reached it in. It tells them apart by the first byte ("P" of the HTTP/2 preface).
 */
async function startBilingualApp(name: string): Promise<{ url: string; close(): Promise<void> }> {
  const answer = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({ app: name, version: req.httpVersion, forwardedFor: req.headers['x-forwarded-for'] }),
      );
    });
  };
  const http1 = createHttpServer(answer);
  const http2 = createHttp2Server(answer as never);
  const server: TcpServer = createTcpServer((socket) => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      if (chunk[0] === 0x50) http2.emit('connection', socket);
      else {
        http1.emit('connection', socket);
        socket.resume();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function http2Get(url: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const session = connectHttp2(url);
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': '/', ...headers });
    let body = '';
    stream.on('data', (chunk: Buffer) => {
      body += chunk;
    });
    stream.on('end', () => {
      session.close();
      resolve(JSON.parse(body) as Record<string, unknown>);
    });
    stream.on('error', reject);
    stream.end();
  });
}

describe('HTTP/1.1 and HTTP/2 on one --protocol h2c port', () => {
  let stableApp: Awaited<ReturnType<typeof startBilingualApp>>;
  let canaryApp: Awaited<ReturnType<typeof startBilingualApp>>;
  beforeAll(async () => {
    stableApp = await startBilingualApp('stable');
    canaryApp = await startBilingualApp('canary');
  });
  afterAll(async () => {
    await stableApp.close();
    await canaryApp.close();
  });

  it('each request reaches the app, and the other track through its router, in the protocol it came in', async () => {
    const c = await h2cRouter({ local: canaryApp.url, track: 'canary', hopSecret: 'hop-token' });
    const s = await h2cRouter({ local: stableApp.url, hopSecret: 'hop-token' });
    await shareTable({ tracks: { stable: s.url, canary: c.url }, weights: { stable: 100, canary: 0 } }, s, c);
    const viaHttp1 = async (headers: Record<string, string> = {}) => (await fetch(s.url, { headers })).json();
    expect(await viaHttp1()).toEqual({ app: 'stable', version: '1.1', forwardedFor: '127.0.0.1' });
    expect(await http2Get(s.url)).toEqual({ app: 'stable', version: '2.0', forwardedFor: '127.0.0.1' });
    expect(await viaHttp1({ 'x-canary': 'always' })).toMatchObject({ app: 'canary', version: '1.1' });
    expect(await http2Get(s.url, { 'x-canary': 'always' })).toMatchObject({ app: 'canary', version: '2.0' });
    expect(await c.metric('switchyard_routing_decisions_total', { reason: 'hop' })).toBe(2);
    expect(await c.metric('switchyard_requests_total', { track: 'canary', code_class: '2xx' })).toBe(2);
  });

  it('survives a client that resets its connection before sending anything', async () => {
    const r = await h2cRouter({
      local: stableApp.url,
      table: { tracks: { stable: await deadUrl() }, weights: { stable: 100 } },
    });
    for (let i = 0; i < 3; i++) {
      const socket = connectTcp(Number(new URL(r.url).port), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.resetAndDestroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await (await fetch(r.url)).json()).toMatchObject({ app: 'stable', version: '1.1' });
  });

  it('closes a connection that sends nothing within the idle timeout', async () => {
    const r = await h2cRouter({
      local: stableApp.url,
      table: { tracks: { stable: await deadUrl() }, weights: { stable: 100 } },
      config: { idleTimeoutMs: 200 },
    });
    const socket = connectTcp(Number(new URL(r.url).port), '127.0.0.1');
    const started = Date.now();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('drains: close() ends idle HTTP/1.1 keep-alive connections and HTTP/2 sessions and resolves', async () => {
    const r = await h2cRouter({
      local: stableApp.url,
      table: { tracks: { stable: await deadUrl() }, weights: { stable: 100 } },
    });
    routers.splice(routers.indexOf(r), 1);
    const keptAlive = connectTcp(Number(new URL(r.url).port), '127.0.0.1');
    keptAlive.write('GET / HTTP/1.1\r\nhost: shop\r\n\r\n');
    await new Promise((resolve) => keptAlive.once('data', resolve));
    const session = connectHttp2(r.url);
    await new Promise((resolve) => session.once('connect', resolve));
    const started = Date.now();
    const closedBoth = Promise.all([
      new Promise((resolve) => keptAlive.once('close', resolve)),
      new Promise((resolve) => session.once('close', resolve)),
    ]);
    await r.close();
    await closedBoth;
    // Well under the test routers' 2 s drain timeout: nothing was in flight.
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
