// The router's HTTP/2 upstream client (router/h2c-upstream.ts) and what it is for.
//
// The app going away under gRPC clients: a gRPC client keeps one HTTP/2 connection, and a Service
// (kube-proxy) balances connections, not calls. Without the router, the app's GOAWAY or its closed
// port sends the client to reconnect, to a pod whose app is there. The router holds the client's
// connection, so it has to pass that on, and must not lose the calls it has in flight meanwhile.
import {
  type ClientHttp2Session,
  connect as connectHttp2,
  constants,
  createServer as createHttp2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import {
  type AddressInfo,
  connect as connectTcp,
  createServer as createTcpServer,
  type Server,
} from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { equalTo, waitFor } from '../../support/wait-for.js';
import { CHAT, client, closeClients, type GrpcApp, identity, SAY, say, startGrpcApp } from './grpc-app.js';
import type { RouterConfig } from '../../../router/config.js';
import { H2cPool } from '../../../router/h2c-upstream.js';
import { request } from '../../../router/undici.js';
import { deadUrl, shareTable, startService, startTestRouter, type TestRouter } from './helpers.js';

const routers: TestRouter[] = [];
const apps: GrpcApp[] = [];
const servers: Server[] = [];

afterEach(async () => {
  closeClients();
  await Promise.all(routers.splice(0).map((router) => router.close()));
  await Promise.all(apps.splice(0).map((app) => app.close()));
  for (const server of servers.splice(0)) server.close();
});

async function app(name: string): Promise<GrpcApp> {
  const started = await startGrpcApp(name);
  apps.push(started);
  return started;
}

async function h2cRouter(options: Parameters<typeof startTestRouter>[0]): Promise<TestRouter> {
  const started = await startTestRouter({ ...options, config: { ...options.config, protocol: 'h2c' } });
  routers.push(started);
  return started;
}

/** A pod's h2c router whose table has only its own track: every request goes to `local`. */
async function appRouter(local: string, config: Partial<RouterConfig> = {}): Promise<TestRouter> {
  return h2cRouter({
    local,
    table: { tracks: { stable: await deadUrl() }, weights: { stable: 100 } },
    config,
  });
}

/** A pod: its app behind its injected router; `ready` while it is among the Service's endpoints. */
interface Pod {
  readonly app: GrpcApp;
  readonly router: TestRouter;
  ready: boolean;
}

async function pod(name: string): Promise<Pod> {
  const started = await app(name);
  const router = await appRouter(started.url);
  return { app: started, router, ready: true };
}

/** A Service whose new connections go to the URL `endpoint` picks: its URL, closed after each test. */
async function service(
  endpoint: () => string | undefined,
  refusedAs: 'close' | 'reset' = 'close',
): Promise<string> {
  const started = await startService(endpoint, refusedAs);
  servers.push(started.server);
  return started.url;
}

/** The Service's choice among pods: the first ready one's router. */
function firstReady(pods: readonly Pod[]): () => string | undefined {
  return () => pods.find((candidate) => candidate.ready)?.router.url;
}

/** One Hello-like call on `channel`: the answering app's name, or the gRPC error. */
function call(channel: grpc.Client, text = 'hi'): Promise<string> {
  return new Promise((resolve) => {
    channel.makeUnaryRequest(SAY.path, identity, identity, Buffer.from(text), (error, value) =>
      resolve(error ? `${grpc.status[error.code]}: ${error.details}` : value!.toString()),
    );
  });
}

describe('the app going away under gRPC clients (--protocol h2c)', () => {
  it('a call in flight when the app shuts down gracefully (GOAWAY) finishes', async () => {
    const { app: leaving, router } = await pod('a');
    const slow = say(router.url, 'slow');
    await waitFor('the call at the app', () => leaving.seen.length, equalTo(1));
    const closed = leaving.close();
    expect(await slow).toMatchObject({ text: 'a:slow', code: grpc.status.OK });
    await closed;
  });

  it("a client's one connection moves to the other pod when its pod's app shuts down; no call fails", async () => {
    const a = await pod('a');
    const b = await pod('b');
    const channel = new grpc.Client(
      new URL(await service(firstReady([a, b]))).host,
      grpc.credentials.createInsecure(),
    );
    const answers: string[] = [];
    let running = true;
    const caller = async (): Promise<void> => {
      while (running) {
        answers.push(await call(channel));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    };
    const callers = [caller(), caller()];
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      // As on a pod's deletion: out of the Service's endpoints, and its app told to stop.
      a.ready = false;
      const shutdown = a.app.close();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await shutdown;
      const shutAt = answers.length;
      await new Promise((resolve) => setTimeout(resolve, 200));
      running = false;
      await Promise.all(callers);
      expect(answers.filter((answer) => !/^[ab]:hi$/.test(answer))).toEqual([]);
      expect(answers.slice(0, 5)).toEqual(['a:hi', 'a:hi', 'a:hi', 'a:hi', 'a:hi']);
      expect(new Set(answers.slice(shutAt))).toEqual(new Set(['b:hi']));
    } finally {
      running = false;
      channel.close();
    }
  });

  it('after the app died, the next call is refused by the router and the client retries it on the other pod', async () => {
    const a = await pod('a');
    const b = await pod('b');
    const channel = new grpc.Client(
      new URL(await service(firstReady([a, b]))).host,
      grpc.credentials.createInsecure(),
    );
    try {
      expect(await call(channel)).toBe('a:hi');
      a.ready = false;
      a.app.kill();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await call(channel)).toBe('b:hi');
      expect(await call(channel)).toBe('b:hi');
    } finally {
      channel.close();
    }
  });

  it("an app refusing: the call goes to another pod of its version through the track's Service, without the client retrying", async () => {
    const b = await app('b');
    let connections = 0;
    const stableService = await service(() => {
      connections++;
      return bRouter.url;
    });
    const table = { tracks: { stable: stableService }, weights: { stable: 100 } };
    const bRouter = await h2cRouter({ local: b.url, hopSecret: 'hop-token', table });
    const leaving = await h2cRouter({ local: await deadUrl(), hopSecret: 'hop-token', table });
    expect(await say(leaving.url, 'hi')).toMatchObject({ text: 'b:hi', code: grpc.status.OK });
    expect(connections).toBe(1);
    // One attempt at the app (its error), then the call went on: no second attempt from the client.
    expect(await leaving.metric('switchyard_requests_total', { code_class: 'error' })).toBe(1);
    expect(
      await leaving.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'fallback' }),
    ).toBe(1);
    expect(await bRouter.metric('switchyard_routing_decisions_total', { reason: 'hop' })).toBe(1);
    expect(await bRouter.metric('switchyard_requests_total', { code_class: '2xx' })).toBe(1);
  });

  it('an app that is not there, nor another pod: each call is refused (REFUSED_STREAM), retried once by gRPC, then UNAVAILABLE', async () => {
    const lost = await appRouter(await deadUrl());
    expect((await say(lost.url, 'hello')).code).toBe(grpc.status.UNAVAILABLE);
    // The call and the client's transparent retry, each refused by the app, then by the track's
    // Service; each of the app's refusals counted as an error.
    expect(await lost.metric('switchyard_upstream_errors_total', { kind: 'connect' })).toBe(4);
    expect(await lost.metric('switchyard_requests_total', { code_class: 'error' })).toBe(2);
  });

  it.each(['close', 'reset'] as const)(
    "a call for the canary whose connection a Service's proxy accepts, then %ss (no pod), goes to stable, body and all",
    async (refusedAs) => {
      let connections = 0;
      const gone = await deadUrl();
      const canaryService = await service(() => {
        connections++;
        return gone;
      }, refusedAs);
      const s = await h2cRouter({
        local: (await app('stable')).url,
        table: {
          tracks: { stable: await deadUrl(), canary: canaryService },
          weights: { stable: 100, canary: 0 },
        },
      });
      // Nothing reached a canary (no HTTP/2 preface came back), and the router had held the body
      // back until one would: the call goes on, whole, without the client having to retry it.
      expect(await say(s.url, 'hi', { 'x-canary': 'always' })).toMatchObject({
        text: 'stable:hi',
        code: grpc.status.OK,
      });
      expect(connections).toBe(1);
      expect(await s.metric('switchyard_upstream_errors_total', { track: 'canary', kind: 'connect' })).toBe(
        1,
      );
      expect(
        await s.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'fallback' }),
      ).toBe(1);
    },
  );

  it('a call for the other track whose first connection through its Service meets a gone pod: the router asks the Service again', async () => {
    const stable = await pod('stable');
    const gone = await deadUrl();
    let connections = 0;
    const stableService = await service(() => (++connections === 1 ? gone : stable.router.url));
    const c = await h2cRouter({
      local: (await app('canary')).url,
      track: 'canary',
      table: {
        tracks: { stable: stableService, canary: await deadUrl() },
        weights: { stable: 100, canary: 0 },
      },
    });
    expect(await say(c.url, 'hi')).toMatchObject({ text: 'stable:hi', code: grpc.status.OK });
    expect(connections).toBe(2);
    expect(await c.metric('switchyard_upstream_errors_total', { track: 'stable', kind: 'connect' })).toBe(1);
    expect(
      await c.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'fallback' }),
    ).toBe(1);
  });

  it("a call hopping to the other track's router finishes while that router drains", async () => {
    const stableApp = await app('stable');
    const canaryApp = await app('canary');
    const c = await h2cRouter({ local: canaryApp.url, track: 'canary', hopSecret: 'hop-token' });
    const s = await h2cRouter({ local: stableApp.url, hopSecret: 'hop-token' });
    await shareTable({ tracks: { stable: s.url, canary: c.url }, weights: { stable: 100, canary: 0 } }, s, c);
    const slow = say(s.url, 'slow', { 'x-canary': 'always' });
    await waitFor('the call at the canary app', () => canaryApp.seen.length, equalTo(1));
    routers.splice(routers.indexOf(c), 1);
    const drained = c.close(); // GOAWAY to the stable router's connection
    expect(await slow).toMatchObject({ text: 'canary:slow', code: grpc.status.OK });
    await drained;
  });
});

describe('connections to the upstream', () => {
  it('concurrent calls to the app share one HTTP/2 connection', async () => {
    const upstream = await plainH2App(50);
    const router = await appRouter(upstream.url);
    const session = connectHttp2(router.url);
    try {
      const statuses = await Promise.all(
        Array.from({ length: 10 }, () => h2Status(session, { ':method': 'POST', ':path': '/' }, 'call')),
      );
      expect(statuses).toEqual(Array(10).fill(200));
      expect(upstream.sessions).toBe(1);
    } finally {
      session.close();
    }
  });

  it('an idle connection to the app is closed after the idle timeout; clients are not sent away for it', async () => {
    const local = await plainH2App(0);
    const other = await plainH2App(0);
    const router = await h2cRouter({
      local: local.url,
      table: { tracks: { stable: await deadUrl(), canary: other.url }, weights: { stable: 100, canary: 0 } },
      config: { idleTimeoutMs: 300 },
    });
    const session = connectHttp2(router.url);
    let goaway = false;
    session.on('goaway', () => {
      goaway = true;
    });
    try {
      expect(await h2Status(session, { ':method': 'GET', ':path': '/' })).toBe(200);
      expect(local.open).toBe(1);
      // The client stays busy, with the other track, while the connection to the app idles out.
      const busy = setInterval(() => {
        h2Status(session, { ':method': 'GET', ':path': '/', 'x-canary': 'always' }).catch(() => {});
      }, 50);
      try {
        await waitFor('the idle connection to the app closed', () => local.open, equalTo(0));
        await new Promise((resolve) => setTimeout(resolve, 100));
      } finally {
        clearInterval(busy);
      }
      expect(goaway).toBe(false);
    } finally {
      session.close();
    }
  });

  it("a connection to another track's routers takes new calls for maxAgeMs, then the next opens another", async () => {
    // Through the per-track Service, a new connection may reach another of that track's pods.
    const first = await plainH2App(0);
    const second = await plainH2App(0);
    let connections = 0;
    const address = await service(() => [first, second][connections++ % 2]!.url);
    const pool = new H2cPool(address, { idleTimeoutMs: 5000, maxAgeMs: 200 });
    const get = async (): Promise<number> => {
      const response = await request(pool, { method: 'GET', path: '/' });
      await response.body.dump();
      return response.statusCode;
    };
    try {
      for (let i = 0; i < 3; i++) expect(await get()).toBe(200);
      expect([first.sessions, second.sessions]).toEqual([1, 0]);
      await new Promise((resolve) => setTimeout(resolve, 250));
      for (let i = 0; i < 3; i++) expect(await get()).toBe(200);
      expect([first.sessions, second.sessions]).toEqual([1, 1]);
      // The old connection closed once its calls were done.
      await waitFor('the aged connection closed', () => first.open, equalTo(0));
    } finally {
      await pool.close();
    }
  });

  it('respects back-pressure: an upload the app does not read stops the client sending', async () => {
    let received = 0;
    let readAll: () => void = () => {};
    const upstream = createHttp2Server((req, res) => {
      req.pause();
      readAll = () => {
        req.on('data', (data: Buffer) => {
          received += data.length;
        });
        req.on('end', () => res.end('ok'));
        req.resume();
      };
    });
    const router = await appRouter(await listening(upstream));
    const session = connectHttp2(router.url);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/' });
      const answered = new Promise<number>((resolve, reject) => {
        stream.on('response', (headers) => resolve(Number(headers[':status'])));
        stream.on('error', reject);
      });
      stream.resume();
      const chunk = Buffer.alloc(64 * 1024, 'u');
      const total = 64 * 1024 * 1024;
      let sent = 0;
      const writing = (async () => {
        while (sent < total) {
          sent += chunk.length;
          if (!stream.write(chunk)) await new Promise((resolve) => stream.once('drain', resolve));
        }
        stream.end();
      })();
      await new Promise((resolve) => setTimeout(resolve, 500));
      // What the client got to send while the app read nothing: flow-control windows and stream
      // buffers on both sides of the router, a few MB at most.
      expect(sent).toBeLessThan(8 * 1024 * 1024);
      readAll();
      await writing;
      expect(await answered).toBe(200);
      expect(received).toBe(total);
    } finally {
      session.close();
    }
  });

  it('a request whose body came with its end goes on in one DATA frame that ends the stream', async () => {
    const upstream = createHttp2Server((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const wire = await recordingRelay(await listening(upstream));
    const router = await appRouter(wire.url);
    const session = connectHttp2(router.url);
    try {
      // A unary gRPC call's shape: HEADERS, then one DATA frame with END_STREAM. The second goes on
      // a connection to the app that is up (the first waited for it, its body with it).
      for (const body of ['hello', 'again']) {
        expect(await h2Status(session, { ':method': 'POST', ':path': '/' }, body)).toBe(200);
      }
    } finally {
      session.close();
    }
    // Piped, the body went as DATA "again" and an empty DATA frame with END_STREAM, in two writes.
    expect(dataFrames(wire.sent())).toEqual([
      { length: 5, endStream: true },
      { length: 5, endStream: true },
    ]);
  });

  it('passes 103 Early Hints on, then the answer', async () => {
    const upstream = createHttp2Server((_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.end('ok');
    });
    const router = await appRouter(await listening(upstream));
    const session = connectHttp2(router.url);
    try {
      const stream = session.request({ ':method': 'GET', ':path': '/' });
      const interim: IncomingHttpHeaders[] = [];
      stream.on('headers', (headers) => interim.push(headers));
      const status = await new Promise<number>((resolve, reject) => {
        stream.on('response', (headers) => resolve(Number(headers[':status'])));
        stream.on('error', reject);
      });
      stream.resume();
      expect(status).toBe(200);
      expect(interim).toMatchObject([{ ':status': 103, link: '</style.css>; rel=preload; as=style' }]);
    } finally {
      session.close();
    }
  });

  it('a client resetting its stream with an error code leaves the router serving', async () => {
    const slowApp = await plainH2App(200);
    const router = await appRouter(slowApp.url);
    const session = connectHttp2(router.url);
    try {
      const stream = session.request({ ':method': 'GET', ':path': '/' });
      stream.on('error', () => {});
      await new Promise((resolve) => setTimeout(resolve, 50));
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await h2Status(session, { ':method': 'GET', ':path': '/' })).toBe(200);
    } finally {
      session.close();
    }
  });

  it('respects back-pressure: an answer the client does not read stops the app writing', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let written = 0;
    let blocked: () => void = () => {};
    const appBlocked = new Promise<void>((resolve) => {
      blocked = resolve;
    });
    const upstream = createHttp2Server((_req, res) => {
      const write = (): void => {
        while (written < 64 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) {
            blocked();
            res.once('drain', write);
            return;
          }
        }
        res.end();
      };
      write();
    });
    const router = await appRouter(await listening(upstream));
    const session = connectHttp2(router.url);
    try {
      const stream = session.request({ ':method': 'GET', ':path': '/' });
      stream.pause();
      await appBlocked;
      await new Promise((resolve) => setTimeout(resolve, 300));
      // HTTP/2 flow-control windows and stream buffers on both sides of the router: a few MB at most.
      expect(written).toBeLessThan(8 * 1024 * 1024);
      let read = 0;
      stream.on('data', (data: Buffer) => {
        read += data.length;
      });
      stream.resume();
      await new Promise((resolve) => stream.once('end', resolve));
      expect(read).toBe(64 * 1024 * 1024);
    } finally {
      session.close();
    }
  });
});

describe('timeouts over HTTP/2', () => {
  it("a gRPC call runs to its own deadline: the router's headers and body timeouts do not cut it", async () => {
    const grpcApp = await app('stable');
    const config = { headersTimeoutMs: 100, bodyTimeoutMs: 100 };
    const router = await appRouter(grpcApp.url, config);
    // An answer that starts after the headers timeout (a server stream's first message, say).
    expect(await say(router.url, 'slow')).toMatchObject({ text: 'stable:slow', code: grpc.status.OK });
    // A stream silent for longer than the body timeout.
    const chat = client(router.url).makeBidiStreamRequest(CHAT.path, identity, identity);
    const status = new Promise<grpc.StatusObject>((resolve) => chat.on('status', resolve));
    const replies: string[] = [];
    for (const message of ['one', 'two']) {
      const reply = new Promise<Buffer>((resolve) => chat.once('data', resolve));
      chat.write(Buffer.from(message));
      replies.push((await reply).toString());
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    chat.end();
    expect(replies).toEqual(['stable:one', 'stable:two']);
    expect((await status).code).toBe(grpc.status.OK);

    // Other HTTP/2 requests keep the router's timeouts.
    const slowApp = await plainH2App(300);
    const plain = await appRouter(slowApp.url, config);
    const session = connectHttp2(plain.url);
    try {
      expect(await h2Status(session, { ':method': 'GET', ':path': '/' })).toBe(504);
    } finally {
      session.close();
    }
  });
});

/** A plain HTTP/2 app answering "ok" after `delayMs`; counts the connections it had and has open. */
async function plainH2App(delayMs: number): Promise<{ url: string; sessions: number; open: number }> {
  const counts = { url: '', sessions: 0, open: 0 };
  const upstream = createHttp2Server((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.end('ok'), delayMs));
  });
  upstream.on('session', (session) => {
    counts.sessions++;
    counts.open++;
    session.once('close', () => counts.open--);
  });
  counts.url = await listening(upstream);
  return counts;
}

/** A TCP relay to `target` that keeps the bytes its clients sent. */
async function recordingRelay(target: string): Promise<{ url: string; sent: () => Buffer }> {
  const chunks: Buffer[] = [];
  const relay = createTcpServer((client) => {
    const upstream = connectTcp({ port: Number(new URL(target).port), host: '127.0.0.1' });
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  servers.push(relay);
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    sent: () => Buffer.concat(chunks),
  };
}

/** The DATA frames of the requests in a client's bytes of an HTTP/2 connection (RFC 9113 4.1). */
function dataFrames(bytes: Buffer): { length: number; endStream: boolean }[] {
  const frames: { length: number; endStream: boolean }[] = [];
  for (let at = HTTP2_CLIENT_PREFACE_LENGTH; at + 9 <= bytes.length; ) {
    const length = bytes.readUIntBE(at, 3);
    const [type, flags] = [bytes[at + 3], bytes[at + 4]!];
    if (type === 0x0) frames.push({ length, endStream: (flags & 0x1) !== 0 });
    at += 9 + length;
  }
  return frames;
}

/** `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, before the client's first frame. */
const HTTP2_CLIENT_PREFACE_LENGTH = 24;

/** Starts `upstream` on a free port (closed after each test); its URL. */
async function listening(upstream: Http2Server): Promise<string> {
  servers.push(upstream as unknown as Server);
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
}

/** One request on `session`: its status. */
function h2Status(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    stream.on('response', (answer) => resolve(Number(answer[':status'])));
    stream.on('error', reject);
    stream.resume();
    if (body !== undefined) stream.end(body);
  });
}
