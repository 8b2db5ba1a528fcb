// HTTP correctness through the router, on real sockets: streaming both ways, large and chunked
// uploads, Expect: 100-continue, WebSocket pass-through, forwarding headers, hop-by-hop hygiene,
// upstream keep-alive, client disconnects and timeouts.
import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, createServer as createTcpServer } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { equalTo, waitFor, waitUntil } from '../../support/wait-for.js';
import { type App, deadUrl, startApp, startTestRouter, type TestRouter } from './helpers.js';

let app: App;
let canaryApp: App;
let router: TestRouter;
let slowRouter: TestRouter;
let releaseStream: (() => void) | null = null;
let closedByClient = 0;
let firehoseWritten = 0;
let wss: WebSocketServer;

/** Answers `mebibytes` MiB as fast as the router accepts them, honouring back-pressure. */
function writeMebibytes(res: ServerResponse, mebibytes: number, written: (bytes: number) => void): void {
  const chunk = Buffer.alloc(1024 * 1024, 1);
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  let left = mebibytes;
  const pump = (): void => {
    while (left > 0) {
      left--;
      written(chunk.length);
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

beforeAll(async () => {
  app = await startApp('stable', (req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-app': 'stable' });
      res.write('first chunk\n');
      releaseStream = () => res.end('second chunk\n');
      return true;
    }
    if (req.url === '/stall') {
      // Headers and a first chunk, then nothing: the body stalls for good.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk\n');
      req.resume();
      return true;
    }
    if (req.url === '/sixteen-mib') {
      writeMebibytes(res, 16, () => {});
      return true;
    }
    if (req.url === '/hold') {
      res.on('close', () => {
        if (!res.writableFinished) closedByClient++;
      });
      req.resume();
      return true;
    }
    if (req.url === '/hop-by-hop-response') {
      res.writeHead(
        200,
        [
          ['connection', 'x-internal, keep-alive'],
          ['x-internal', 'secret'],
          ['keep-alive', 'timeout=5'],
          ['proxy-authenticate', 'Basic'],
          ['x-public', 'yes'],
        ].flat(),
      );
      res.end('ok');
      return true;
    }
    if (req.url === '/firehose') {
      writeMebibytes(res, 128, (bytes) => {
        firehoseWritten += bytes;
      });
      return true;
    }
    if (req.url === '/events') {
      // A server-sent event stream: only the client ever ends it.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: hello\n\n');
      req.resume();
      return true;
    }
    if (req.url === '/not-modified') {
      // RFC 9110 8.6: a 304 may carry the Content-Length of the 200 it stands for (ASP.NET Core does).
      res.writeHead(304, { etag: '"v1"', 'content-length': '55' });
      res.end();
      return true;
    }
    if (req.url === '/interim') {
      res.writeProcessing();
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.writeHead(200, { 'content-type': 'text/plain', 'x-app': 'stable' });
      res.end('final');
      return true;
    }
    if (req.url === '/no-read') {
      req.pause(); // never reads the upload
      return true;
    }
    if (req.url === '/never') {
      req.resume();
      return true;
    }
    return false;
  });
  canaryApp = await startApp('canary');
  wss = new WebSocketServer({ noServer: true });
  app.server.on('upgrade', (req, socket, head) => {
    if (req.url === '/ws-hold') {
      socket.on('end', () => socket.destroy()); // never answers the handshake; lets go when the router does
      return;
    }
    if (req.url === '/ws-refused') {
      socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(`hello from stable, canary header: ${req.headers['x-canary'] ?? 'absent'}`);
      ws.on('message', (data) => ws.send(`echo:${data.toString()}`));
    });
  });
  const table = { tracks: { stable: app.url, canary: canaryApp.url }, weights: { stable: 100, canary: 0 } };
  router = await startTestRouter({ local: app.url, table });
  slowRouter = await startTestRouter({
    local: app.url,
    table,
    config: { headersTimeoutMs: 300, bodyTimeoutMs: 300 },
  });
});

afterAll(async () => {
  await router.close();
  await slowRouter.close();
  wss.close();
  await app.close();
  await canaryApp.close();
});

/** Writes raw bytes to a router (the shared one by default) and returns all it answers until it closes. */
function rawExchange(text: string, to: TestRouter = router): Promise<string> {
  const { port } = to.router.listenAddress;
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.on('data', (data) => {
      answer += data;
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

/** The JSON object in a raw (possibly chunked) response: between the first '{' and the last '}'. */
function jsonBody(raw: string): unknown {
  return JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1));
}

describe('HTTP correctness', () => {
  it('streams the response: the first chunk arrives before the app has finished', async () => {
    const res = await request(`${router.url}/stream`);
    const reader = res.body[Symbol.asyncIterator]();
    const first = await reader.next();
    expect(Buffer.from(first.value as Buffer).toString()).toBe('first chunk\n');
    releaseStream!();
    let rest = '';
    for (let next = await reader.next(); !next.done; next = await reader.next())
      rest += Buffer.from(next.value as Buffer).toString();
    expect(rest).toBe('second chunk\n');
  });

  it('streams a large upload (48 MiB) without losing bytes', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < 48; i++) yield chunk;
      })(),
    );
    const res = await request(`${router.url}/upload`, {
      method: 'PUT',
      body,
      headers: { 'content-length': String(48 * chunk.length) },
    });
    const answer = (await res.body.json()) as { bytes: number; headers: Record<string, string> };
    expect(answer.bytes).toBe(48 * chunk.length);
  });

  it('passes chunked request bodies through', async () => {
    const raw = await rawExchange(
      'POST /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '9\r\npart one,\r\n9\r\npart two,\r\na\r\npart three\r\n0\r\n\r\n',
    );
    const answer = jsonBody(raw) as { bytes: number; headers: Record<string, string> };
    expect(answer.bytes).toBe('part one,part two,part three'.length);
    // undici may re-frame a body it already holds completely with content-length; the bytes must match.
    expect(answer.headers['content-length'] ?? answer.headers['transfer-encoding']).toBeDefined();
  });

  it('answers Expect: 100-continue so the client sends its body', async () => {
    const { port } = router.router.listenAddress;
    const answer = await new Promise<{ continued: boolean; status: number; body: string }>(
      (resolve, reject) => {
        let continued = false;
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/expect',
            headers: { expect: '100-continue', 'content-length': '5' },
          },
          (res) => {
            let text = '';
            res.on('data', (data: Buffer) => {
              text += data;
            });
            res.on('end', () => resolve({ continued, status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('continue', () => {
          continued = true;
          req.end('hello');
        });
        req.on('error', reject);
      },
    );
    expect(answer.continued).toBe(true);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ bytes: 5 });
  });

  it('passes WebSocket upgrades through, routed like requests, with X-Canary stripped', async () => {
    const ws = new WebSocket(`${router.url.replace('http', 'ws')}/socket`, {
      headers: { 'x-canary': 'never' },
    });
    const messages: string[] = [];
    ws.on('message', (data) => messages.push(data.toString()));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send('ping');
    await waitFor(
      'greeting and echo over the tunnel',
      () => messages,
      equalTo(['hello from stable, canary header: absent', 'echo:ping']),
    );
    ws.close();
    expect(
      await router.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'header' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('measures a WebSocket handshake to its own app by the status the app answers, once', async () => {
    const before = {
      upgraded: await router.metric('switchyard_requests_total', { code_class: '1xx' }),
      refused: await router.metric('switchyard_requests_total', { code_class: '5xx' }),
      timed: await router.metric('switchyard_request_duration_seconds_count'),
    };
    const ws = new WebSocket(`${router.url.replace('http', 'ws')}/socket`);
    await new Promise<void>((resolve, reject) => {
      ws.once('message', () => resolve());
      ws.once('error', reject);
    });
    ws.send('ping'); // tunnelled bytes are not requests
    ws.close();
    const refused = new WebSocket(`${router.url.replace('http', 'ws')}/ws-refused`);
    const status = await new Promise<number>((resolve, reject) => {
      refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      refused.once('open', () => reject(new Error('the refused upgrade opened')));
    });
    expect(status).toBe(503);
    await waitFor(
      'one 1xx and one 5xx, both timed',
      async () => [
        await router.metric('switchyard_requests_total', { code_class: '1xx' }),
        await router.metric('switchyard_requests_total', { code_class: '5xx' }),
        await router.metric('switchyard_request_duration_seconds_count'),
      ],
      equalTo([before.upgraded + 1, before.refused + 1, before.timed + 2]),
    );
  });

  it('counts a WebSocket handshake the client gives up on before any answer as 499', async () => {
    const before = await router.metric('switchyard_requests_total', { code_class: '4xx' });
    const ws = new WebSocket(`${router.url.replace('http', 'ws')}/ws-hold`);
    ws.on('error', () => {}); // terminate() before the answer reports one
    await new Promise((resolve) => setTimeout(resolve, 100));
    ws.terminate();
    await waitFor(
      'the abandoned handshake counted once',
      () => router.metric('switchyard_requests_total', { code_class: '4xx' }),
      equalTo(before + 1),
    );
  });

  it('counts a WebSocket handshake its own app cannot take as an error request', async () => {
    const dead = await deadUrl();
    const down = await startTestRouter({
      local: dead,
      table: { tracks: { stable: dead }, weights: { stable: 100 } },
    });
    try {
      const ws = new WebSocket(`${down.url.replace('http', 'ws')}/socket`);
      const status = await new Promise<number>((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      });
      expect(status).toBe(502);
      // The local app, then the track's Service: both refused; the app's failure is the track's error.
      await waitFor(
        'the failed handshake counted as an error',
        async () => [
          await down.metric('switchyard_requests_total', { code_class: 'error' }),
          await down.metric('switchyard_upstream_errors_total', { track: 'stable', kind: 'connect' }),
          await down.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'fallback' }),
        ],
        equalTo([1, 2, 1]),
      );
    } finally {
      await down.close();
    }
  });

  it('passes WebSocket upgrades to an app on an IPv6 literal address', async () => {
    const v6 = createServer();
    const v6wss = new WebSocketServer({ server: v6 });
    v6wss.on('connection', (ws) => ws.send('hello over ipv6'));
    await new Promise<void>((resolve) => v6.listen(0, '::1', resolve));
    const { port } = v6.address() as AddressInfo;
    const v6Router = await startTestRouter({
      local: `http://[::1]:${port}`,
      table: { tracks: { stable: `http://[::1]:${port}` }, weights: { stable: 100 } },
    });
    try {
      const ws = new WebSocket(`${v6Router.url.replace('http', 'ws')}/socket`);
      const message = await new Promise<string>((resolve, reject) => {
        ws.once('message', (data) => resolve(data.toString()));
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
      });
      expect(message).toBe('hello over ipv6');
      ws.close();
    } finally {
      await v6Router.close();
      v6wss.close();
      v6.closeAllConnections();
      await new Promise<void>((resolve) => v6.close(() => resolve()));
    }
  });

  it('serves an h2c upgrade request (curl --http2, Java HttpClient) as plain HTTP/1.1, keep-alive included', async () => {
    const okBefore = await router.metric('switchyard_requests_total', { code_class: '2xx' });
    const seenBefore = app.seen.length;
    const raw = await rawExchange(
      'POST /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
        'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 5\r\n\r\nhello' +
        'GET /after-h2c HTTP/1.1\r\nHost: x\r\nX-Canary: never\r\nConnection: close\r\n\r\n',
    );
    expect(raw.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    const seen = app.seen.slice(seenBefore);
    // node's server emits a pipelined request as soon as it is parsed: the app may see either first.
    expect(seen.map(({ method, url, bytes }) => [method, url, bytes])).toEqual(
      expect.arrayContaining([
        ['POST', '/h2c', 5],
        ['GET', '/after-h2c', 0],
      ]),
    );
    expect(seen).toHaveLength(2);
    for (const { headers } of seen) {
      expect(headers.upgrade).toBeUndefined();
      expect(headers['http2-settings']).toBeUndefined();
      expect(headers['x-canary']).toBeUndefined();
    }
    expect(await router.metric('switchyard_requests_total', { code_class: '2xx' })).toBe(okBefore + 2);
  });

  it('appends X-Forwarded-For and sets X-Forwarded-Proto/-Host', async () => {
    const res = await request(`${router.url}/fwd`, {
      headers: { 'x-forwarded-for': '203.0.113.9', host: 'shop.example' },
    });
    const { headers } = (await res.body.json()) as { headers: Record<string, string> };
    expect(headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-host']).toBe('shop.example');
    expect(headers.host).toBe('shop.example');
  });

  it('strips hop-by-hop request headers, including those named by Connection', async () => {
    const raw = await rawExchange(
      'GET /hop HTTP/1.1\r\nHost: x\r\nConnection: close, x-secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=9\r\n' +
        'TE: trailers\r\nProxy-Authorization: Basic Zm9v\r\nX-Kept: yes\r\n\r\n',
    );
    const { headers } = jsonBody(raw) as { headers: Record<string, string> };
    expect(headers['x-kept']).toBe('yes');
    for (const name of ['x-secret', 'keep-alive', 'te', 'proxy-authorization'])
      expect(headers[name]).toBeUndefined();
  });

  it('strips hop-by-hop response headers, including those named by Connection', async () => {
    const res = await request(`${router.url}/hop-by-hop-response`);
    await res.body.text();
    expect(res.headers['x-public']).toBe('yes');
    expect(res.headers['x-internal']).toBeUndefined();
    expect(res.headers['proxy-authenticate']).toBeUndefined();
  });

  it('passes interim responses (102, 103 Early Hints) through and then the final response', async () => {
    const errorsBefore = await router.metric('switchyard_upstream_errors_total');
    const okBefore = await router.metric('switchyard_requests_total', { code_class: '2xx' });
    const raw = await rawExchange('GET /interim HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 102 Processing\r\n\r\nHTTP\/1\.1 103 Early Hints\r\n/);
    expect(raw).toMatch(/\r\nlink: <\/style\.css>; rel=preload; as=style\r\n/i);
    expect(raw).toMatch(/\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(raw).toMatch(/final(\r\n0\r\n\r\n)?$/);
    expect(await router.metric('switchyard_requests_total', { code_class: '2xx' })).toBe(okBefore + 1);
    expect(await router.metric('switchyard_upstream_errors_total')).toBe(errorsBefore);
  });

  it('passes a 304 that carries the Content-Length of the full response', async () => {
    const notModifiedBefore = await router.metric('switchyard_requests_total', { code_class: '3xx' });
    const errorsBefore = await router.metric('switchyard_upstream_errors_total');
    // Raw, and a second request on the same connection: undici as a client rejects such a 304 too.
    const raw = await rawExchange(
      'GET /not-modified HTTP/1.1\r\nHost: x\r\nIf-None-Match: "v1"\r\n\r\n' +
        'GET /after-304 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(raw).toMatch(/^HTTP\/1\.1 304 Not Modified\r\n/);
    expect(raw).toMatch(/\r\netag: "v1"\r\n/i);
    expect(raw).toMatch(/\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(jsonBody(raw)).toMatchObject({ url: '/after-304' });
    expect(await router.metric('switchyard_requests_total', { code_class: '3xx' })).toBe(
      notModifiedBefore + 1,
    );
    expect(await router.metric('switchyard_upstream_errors_total')).toBe(errorsBefore);
  });

  it('keeps connections to the app alive: sequential requests reuse one upstream socket', async () => {
    const before = app.seen.length;
    for (let i = 0; i < 5; i++) await (await request(`${router.url}/ka-${i}`)).body.text();
    const ports = new Set(app.seen.slice(before).map((seen) => seen.remotePort));
    expect(ports.size).toBe(1);
  });

  it('respects back-pressure: a client that stops reading stops the app, nothing is buffered unbounded', async () => {
    const { port } = router.router.listenAddress;
    const socket = connect(port, '127.0.0.1', () =>
      socket.write('GET /firehose HTTP/1.1\r\nHost: x\r\n\r\n'),
    );
    socket.pause(); // never read
    try {
      // Wait until the app is stuck waiting for 'drain': the count stops moving.
      let last = -1;
      await waitUntil(
        'the app to stall on back-pressure',
        async () => {
          await new Promise((resolve) => setTimeout(resolve, 200));
          const stalled = firehoseWritten > 0 && firehoseWritten === last;
          last = firehoseWritten;
          return stalled;
        },
        { timeoutMs: 20_000 },
      );
      expect(firehoseWritten).toBeLessThan(48 * 1024 * 1024);
    } finally {
      socket.destroy();
    }
  });

  it('respects back-pressure on uploads: an app that does not read stalls the client', async () => {
    const { port } = router.router.listenAddress;
    const total = 128 * 1024 * 1024;
    const socket = connect(port, '127.0.0.1');
    let sent = 0;
    const chunk = Buffer.alloc(1024 * 1024, 2);
    socket.on('connect', () => {
      socket.write(`PUT /no-read HTTP/1.1\r\nHost: x\r\nContent-Length: ${total}\r\n\r\n`);
      const pump = (): void => {
        while (sent < total) {
          sent += chunk.length;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    try {
      let last = -1;
      await waitUntil(
        'the client to stall on back-pressure',
        async () => {
          await new Promise((resolve) => setTimeout(resolve, 200));
          const stalled = sent > 0 && sent === last;
          last = sent;
          return stalled;
        },
        { timeoutMs: 20_000 },
      );
      expect(sent).toBeLessThan(48 * 1024 * 1024);
    } finally {
      socket.destroy();
    }
  });

  it('a client disconnect before any answer aborts the upstream request and counts as 499, timed', async () => {
    const before = {
      left: await router.metric('switchyard_requests_total', { code_class: '4xx' }),
      timed: await router.metric('switchyard_request_duration_seconds_count'),
      waited: await router.metric('switchyard_request_duration_seconds_sum'),
    };
    const controller = new AbortController();
    const pending = request(`${router.url}/hold`, { signal: controller.signal }).catch(
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort();
    await pending;
    await waitFor('the app to see its request aborted', () => closedByClient, equalTo(1));
    await waitFor(
      'the abandoned request counted once as a 4xx',
      async () => [
        await router.metric('switchyard_requests_total', { code_class: '4xx' }),
        await router.metric('switchyard_request_duration_seconds_count'),
      ],
      equalTo([before.left + 1, before.timed + 1]),
    );
    // Timed to the moment the client gave up (~100 ms), so a slow canary shows in its latency.
    expect(
      (await router.metric('switchyard_request_duration_seconds_sum')) - before.waited,
    ).toBeGreaterThanOrEqual(0.09);
  });

  it('a client that leaves a streaming response is measured once, with the status the app gave', async () => {
    const okBefore = await router.metric('switchyard_requests_total', { code_class: '2xx' });
    const countBefore = await router.metric('switchyard_request_duration_seconds_count');
    const controller = new AbortController();
    const res = await request(`${router.url}/events`, { signal: controller.signal });
    expect(res.statusCode).toBe(200);
    const reader = res.body[Symbol.asyncIterator]();
    expect(Buffer.from((await reader.next()).value as Buffer).toString()).toBe('data: hello\n\n');
    controller.abort();
    await reader.next().catch(() => undefined);
    await waitFor(
      'the stream measured as a 2xx once the client left',
      async () => [
        await router.metric('switchyard_requests_total', { code_class: '2xx' }),
        await router.metric('switchyard_request_duration_seconds_count'),
      ],
      equalTo([okBefore + 1, countBefore + 1]),
    );
  });

  it('times out waiting for response headers (configurable) with 504 JSON', async () => {
    const res = await request(`${slowRouter.url}/never`);
    expect(res.statusCode).toBe(504);
    expect(await res.body.json()).toMatchObject({
      error: 'upstream_timeout',
      kind: 'timeout',
      track: 'stable',
    });
    expect(
      await slowRouter.metric('switchyard_upstream_errors_total', { track: 'stable', kind: 'timeout' }),
    ).toBe(1);
  });

  it('cuts a response whose body stalls longer than the body timeout, counted as an error', async () => {
    const errorsBefore = await slowRouter.metric('switchyard_requests_total', { code_class: 'error' });
    const res = await request(`${slowRouter.url}/stall`);
    expect(res.statusCode).toBe(200);
    const started = performance.now();
    await expect(res.body.text()).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(3000);
    expect(
      await slowRouter.metric('switchyard_upstream_errors_total', { track: 'stable', kind: 'timeout' }),
    ).toBe(2);
    expect(await slowRouter.metric('switchyard_requests_total', { code_class: 'error' })).toBe(
      errorsBefore + 1,
    );
  });

  it('does not time out a body while a slow client holds it back', async () => {
    const { port } = slowRouter.router.listenAddress;
    const received = await new Promise<number>((resolve, reject) => {
      httpRequest({ port, host: '127.0.0.1', path: '/sixteen-mib' }, (res) => {
        res.pause(); // the router fills the socket and waits for drain, well past the 300 ms timeout
        let bytes = 0;
        setTimeout(() => {
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
          });
          res.on('end', () => resolve(bytes));
          res.on('error', reject);
          res.resume();
        }, 1000);
      })
        .on('error', reject)
        .end();
    });
    expect(received).toBe(16 * 1024 * 1024);
  });
});

describe('WebSocket handshakes whose upstream fails before any answer', () => {
  /** The first message over a WebSocket to `url`, or the status its handshake was answered with. */
  async function firstMessage(url: string): Promise<string> {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/socket`);
    try {
      return await new Promise<string>((resolve, reject) => {
        ws.once('message', (data) => resolve(data.toString()));
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => resolve(`status ${res.statusCode}`));
      });
    } finally {
      ws.terminate();
    }
  }

  /** An upstream that reads the handshake and closes the connection without a byte of an answer. */
  async function closingUrl(): Promise<{ url: string; close(): void }> {
    const server = createTcpServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => server.close(),
    };
  }

  it('the canary refusing, or closing the connection unanswered: the handshake goes to stable', async () => {
    const closing = await closingUrl();
    try {
      for (const [canary, kind] of [
        [await deadUrl(), 'connect'],
        [closing.url, 'reset'],
      ] as const) {
        const r = await startTestRouter({
          local: app.url,
          table: { tracks: { stable: app.url, canary }, weights: { stable: 0, canary: 100 } },
        });
        try {
          expect(await firstMessage(r.url)).toBe('hello from stable, canary header: absent');
          expect(
            await r.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'fallback' }),
          ).toBe(1);
          expect(await r.metric('switchyard_upstream_errors_total', { track: 'canary', kind })).toBe(1);
          // Measured once, by the router that called its own app: the 101.
          expect(await r.metric('switchyard_requests_total', { track: 'stable', code_class: '1xx' })).toBe(1);
        } finally {
          await r.close();
        }
      }
    } finally {
      closing.close();
    }
  });

  it('the local app refusing: the handshake goes to another pod of its track, served there as a hop', async () => {
    const other = await startTestRouter({
      local: app.url,
      hopSecret: 'hop-token',
      table: { tracks: { stable: app.url }, weights: { stable: 100 } },
    });
    const leavingApp = await startApp('leaving');
    const leaving = await startTestRouter({
      local: leavingApp.url,
      hopSecret: 'hop-token',
      table: { tracks: { stable: other.url }, weights: { stable: 100 } },
    });
    try {
      // A client kept on a connection is asked to reconnect (through the Service, to a pod whose app
      // is there), as after a refused request.
      const kept = connect(leaving.router.listenAddress.port, '127.0.0.1');
      const keptClosed = new Promise<void>((resolve) => kept.once('close', () => resolve()));
      await new Promise<void>((resolve) => {
        kept.once('data', () => resolve());
        kept.write('GET / HTTP/1.1\r\nhost: shop\r\n\r\n');
      });
      await leavingApp.close();
      expect(await firstMessage(leaving.url)).toBe('hello from stable, canary header: absent');
      await keptClosed;
      expect(
        await leaving.metric('switchyard_requests_total', { track: 'stable', code_class: 'error' }),
      ).toBe(1);
      expect(
        await leaving.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'fallback' }),
      ).toBe(1);
      expect(await other.metric('switchyard_routing_decisions_total', { reason: 'hop' })).toBe(1);
      expect(await other.metric('switchyard_requests_total', { track: 'stable', code_class: '1xx' })).toBe(1);
    } finally {
      await leaving.close();
      await other.close();
    }
  });

  it('a handshake the client sent more bytes after is not sent again: 502', async () => {
    // The upstream closes unanswered once those bytes have reached it: they cannot be taken back.
    const closing = createTcpServer((socket) => {
      let received = '';
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (received.includes('later bytes')) socket.destroy();
      });
    });
    await new Promise<void>((resolve) => closing.listen(0, '127.0.0.1', resolve));
    const r = await startTestRouter({
      local: app.url,
      table: {
        tracks: { stable: app.url, canary: `http://127.0.0.1:${(closing.address() as AddressInfo).port}` },
        weights: { stable: 0, canary: 100 },
      },
    });
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(r.router.listenAddress.port, '127.0.0.1', () => {
          socket.write(
            'GET /socket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
              'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
          );
          // Apart from the handshake, so they reach the router after it (not as the upgrade's head).
          setTimeout(() => socket.write('later bytes'), 50);
        });
        let text = '';
        socket.on('data', (data) => {
          text += data;
        });
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 502 /);
      expect(answer).toContain('"kind":"reset"');
      expect(await r.metric('switchyard_routing_decisions_total', { reason: 'fallback' })).toBe(0);
      expect(r.logs.filter((line) => line.msg === 'upstream failed')).toEqual([
        expect.objectContaining({
          track: 'canary',
          upstream: 'hop',
          method: 'GET',
          path: '/socket',
          upgrade: 'websocket',
          kind: 'reset',
          answered: 502,
        }),
      ]);
    } finally {
      await r.close();
      closing.close();
    }
  });
});
