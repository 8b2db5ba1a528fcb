// The router's HTTP/1.1 front on the wire (router/http1.ts): what node's http server did for it
// before, now the router's own: framing for HTTP/1.1 and 1.0 clients, keep-alive and Connection:
// close, pipelined requests answered in order, HEAD, the answers to requests it cannot serve, and
// the idle timeout.
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Http1Request, type Http1Response, Http1Server } from '../../../router/http1.js';
import type { DataPlane } from '../../../router/proxy.js';
import { handleUpgrade } from '../../../router/upgrade.js';
import { type App, startApp, startTestRouter, type TestRouter } from './helpers.js';

let app: App;
let router: TestRouter;

beforeAll(async () => {
  app = await startApp('stable', (req, res) => {
    if (req.url === '/slow') {
      setTimeout(() => res.end('slow'), 150);
      return true;
    }
    if (req.url === '/unsized') {
      // No Content-Length: node's server sends it chunked to the router, which must frame it anew.
      res.write('part one, ');
      setTimeout(() => res.end('part two'), 20);
      return true;
    }
    if (req.url?.startsWith('/sized')) {
      res.writeHead(200, { 'content-length': '5' });
      res.end(req.method === 'HEAD' ? undefined : 'sized');
      return true;
    }
    if (req.url === '/latin1') {
      // A header value with bytes above 0x7f (obs-text, RFC 9110 5.5): node sends é as UTF-8, C3 A9.
      res.writeHead(200, { 'x-word': 'caf\u00e9', 'content-length': '2' });
      res.end('ok');
      return true;
    }
    if (req.url === '/early') {
      // Answers before reading the upload, as an app refusing a too large body does.
      res.writeHead(413, { 'content-length': '0' });
      res.end();
      return true;
    }
    return false;
  });
  router = await startTestRouter({
    local: app.url,
    table: { tracks: { stable: app.url }, weights: { stable: 100 } },
    config: { idleTimeoutMs: 400 },
  });
});
afterAll(async () => {
  await router?.close();
  await app?.close();
});

/** A raw connection to the router: what it receives, and whether the router closed it. */
class Wire {
  readonly socket: Socket;
  received = '';
  ended = false;
  readonly #closed: Promise<void>;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (data: Buffer) => {
      this.received += data.toString('latin1');
    });
    this.#closed = new Promise((resolve) => {
      this.socket.on('end', () => {
        this.ended = true;
        resolve();
      });
      this.socket.on('close', () => resolve());
    });
    this.socket.on('error', () => {});
  }

  send(text: string): this {
    this.socket.write(text);
    return this;
  }

  /** Resolves once `count` answers' status lines have arrived and their bodies with them. */
  async answers(count: number, body: RegExp): Promise<string> {
    const deadline = Date.now() + 5000;
    while (
      (this.received.match(/HTTP\/1\.1 [2-5]\d\d /g)?.length ?? 0) < count ||
      !body.test(this.received)
    ) {
      if (Date.now() > deadline) throw new Error(`no ${count} answers in: ${this.received}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.received;
  }

  /** Resolves once the router has closed the connection; the whole answer by then. */
  async closed(): Promise<string> {
    await this.#closed;
    return this.received;
  }
}

const port = (): number => router.router.listenAddress.port;

describe('the HTTP/1.1 front', () => {
  it('keeps a connection alive, says so, and answers each request on it', async () => {
    const wire = new Wire(port()).send('GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
    const first = await wire.answers(1, /"url":"\/one"/);
    expect(first).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(first).toMatch(/\r\nconnection: keep-alive\r\nkeep-alive: timeout=0\r\n/);
    wire.send('GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const both = await wire.closed();
    expect(both.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(both.slice(first.length)).toMatch(/\r\nconnection: close\r\n/);
    expect(both).toContain('"url":"/two"');
    expect(wire.ended).toBe(true);
  });

  it('answers pipelined requests in their order, whichever the app answers first', async () => {
    const wire = new Wire(port()).send(
      'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast-1 HTTP/1.1\r\nHost: x\r\n\r\n' +
        'GET /latin1 HTTP/1.1\r\nHost: x\r\n\r\nGET /fast-2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const raw = await wire.closed();
    const slow = raw.indexOf('\r\n\r\nslow');
    const fast1 = raw.indexOf('"url":"/fast-1"');
    // The app's bytes, unchanged (Wire reads each byte as one character).
    const latin1 = raw.indexOf('\r\nx-word: caf\u00c3\u00a9\r\n');
    const fast2 = raw.indexOf('"url":"/fast-2"');
    expect(slow).toBeGreaterThan(0);
    expect(fast1).toBeGreaterThan(slow);
    // Held while /slow was answered, its head kept its bytes.
    expect(latin1).toBeGreaterThan(fast1);
    expect(fast2).toBeGreaterThan(latin1);
  });

  it('frames an answer without a length as chunked for HTTP/1.1 and by closing for HTTP/1.0', async () => {
    const chunked = await new Wire(port())
      .send('GET /unsized HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      .closed();
    expect(chunked).toMatch(/\r\ntransfer-encoding: chunked\r\n/);
    expect(chunked).toMatch(/\r\n\r\na\r\npart one, \r\n8\r\npart two\r\n0\r\n\r\n$/);

    const old = await new Wire(port())
      .send('GET /unsized HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n')
      .closed();
    expect(old).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(old).not.toMatch(/transfer-encoding/i);
    expect(old).toMatch(/\r\nconnection: close\r\n\r\npart one, part two$/);
  });

  it('keeps an HTTP/1.0 connection only when the client asks, and says so', async () => {
    const wire = new Wire(port()).send('GET /sized HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const first = await wire.answers(1, /sized$/);
    expect(first).toMatch(/\r\nconnection: keep-alive\r\n/);
    wire.send('GET /sized-again HTTP/1.0\r\n\r\n');
    const both = await wire.closed();
    expect(both.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(both.slice(first.length)).toMatch(/\r\nconnection: close\r\n/);
  });

  it('answers HEAD with the headers only', async () => {
    const raw = await new Wire(port())
      .send('HEAD /sized HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      .closed();
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(raw).toMatch(/\r\ncontent-length: 5\r\n/i);
    expect(raw.endsWith('\r\n\r\n')).toBe(true);
  });

  it('closes the connection after an answer that came before the whole request body', async () => {
    const wire = new Wire(port()).send(
      'POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nfirst bytes of a large body',
    );
    const raw = await wire.closed();
    expect(raw).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(raw).toMatch(/\r\nconnection: close\r\n/);
  });

  it.each([
    ['an HTTP/1.1 request without Host', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['a request line that is not HTTP', 'HELLO THERE\r\n\r\n', 400],
    [
      'a head beyond the header size limit',
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
    ],
    ['an expectation other than 100-continue', 'GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n', 417],
    // What request smuggling needs: two framings the router and the app could read differently.
    [
      'Content-Length with Transfer-Encoding',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'two different Content-Lengths',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      400,
    ],
    ['lines ended by a bare LF', 'GET / HTTP/1.1\nHost: x\n\n', 400],
  ])('answers %s with %i and closes', async (_what, text, status) => {
    const seenBefore = app.seen.length;
    const raw = await new Wire(port()).send(text).closed();
    expect(raw).toMatch(new RegExp(`^HTTP/1\\.1 ${status} .*\\r\\nconnection: close\\r\\n\\r\\n$`));
    expect(app.seen.length).toBe(seenBefore);
  });

  it('closes a connection whose next request does not come within the idle timeout', async () => {
    const wire = new Wire(port()).send('GET /idle HTTP/1.1\r\nHost: x\r\n\r\n');
    await wire.answers(1, /"url":"\/idle"/);
    const started = Date.now();
    await wire.closed();
    // The idle timeout (400 ms) and the second node's http server adds to what it advertises.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1300);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('closes a connection whose request head does not complete within the idle timeout', async () => {
    const wire = new Wire(port()).send('GET /trickle HTTP/1.1\r\nHost: x\r\n');
    const started = Date.now();
    const timer = setInterval(() => wire.send('X-Slow: 1\r\n'), 100);
    await wire.closed();
    clearInterval(timer);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(app.seen.some(({ url }) => url === '/trickle')).toBe(false);
  });
});

describe('the HTTP/1.1 server on its own', () => {
  type Handlers = ConstructorParameters<typeof Http1Server>[1];
  let onRequest: Handlers['request'] = () => {};
  let onUpgrade: Handlers['upgrade'] = () => {};
  let server: Http1Server;
  let sniffer: Server;
  const accepted: Socket[] = [];

  beforeAll(async () => {
    server = new Http1Server(
      { idleTimeoutMs: 3000 },
      {
        request: (req, res) => onRequest(req, res),
        upgrade: (...args) => onUpgrade(...args),
        clientError: () => {},
      },
    );
    server.server.on('connection', (socket: Socket) => accepted.push(socket));
    // As the h2c front hands connections over: with the bytes it has already read.
    sniffer = createServer((socket) => {
      socket.once('data', (seen: Buffer) => {
        socket.pause();
        server.accept(socket, seen);
      });
    });
    await Promise.all([
      new Promise<void>((resolve) => server.server.listen(0, '127.0.0.1', resolve)),
      new Promise<void>((resolve) => sniffer.listen(0, '127.0.0.1', resolve)),
    ]);
  });
  afterAll(() => {
    server.closeAllConnections();
    server.server.close();
    sniffer.close();
  });

  const direct = (): number => (server.server.address() as AddressInfo).port;
  const sniffed = (): number => (sniffer.address() as AddressInfo).port;
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  const answer = (req: Http1Request, res: Http1Response, text = 'ok'): void => {
    const send = (): void => {
      res.writeHead(200, ['content-length', String(text.length)]);
      res.end(text);
    };
    if (req.body === null) send();
    else req.body.resume().on('end', send);
  };

  /** Answers every request "ok" and returns what `pick` reads of each, in order. */
  const answerRecording = (pick: (req: Http1Request) => string): string[] => {
    const picked: string[] = [];
    onRequest = (req, res) => {
      picked.push(pick(req));
      answer(req, res);
    };
    return picked;
  };

  it('closes its side of a connection it ends, without waiting for the client', async () => {
    onRequest = answer;
    const wire = new Wire(direct()).send('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await wire.closed();
    await sleep(100);
    expect(accepted.at(-1)!.destroyed).toBe(true);
    wire.socket.destroy();
  });

  it('reads on after a body whose reader came late', async () => {
    onRequest = (req, res) =>
      req.body === null ? answer(req, res) : setTimeout(() => answer(req, res, 'body'), 50);
    const wire = new Wire(direct()).send(
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n${'a'.repeat(20000)}`,
    );
    await wire.answers(1, /body$/);
    wire.send('GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
    await wire.answers(2, /bodyHTTP[\s\S]*ok$/);
    wire.socket.destroy();
  });

  it('keeps the next request clear of a chunked body’s trailers', async () => {
    const seen: Http1Request['headers'][] = [];
    onRequest = (req, res) => {
      seen.push(req.headers);
      answer(req, res);
    };
    const many = Array.from({ length: 40 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
    const wire = new Wire(direct()).send(
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nAuthorization: evil\r\n\r\n',
    );
    await wire.answers(1, /ok$/);
    wire.send(`GET /2 HTTP/1.1\r\nHost: x\r\nAuthorization: mine\r\n${many}\r\n`);
    await wire.answers(2, /okHTTP[\s\S]*ok$/);
    expect(seen[1]!.authorization).toBe('mine');
    wire.socket.destroy();
  });

  it('serves no request that follows one it refused', async () => {
    const urls = answerRecording((req) => req.url);
    const raw = await new Wire(direct())
      .send('GET / HTTP/1.1\r\n\r\nPOST /after HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n')
      .closed();
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(urls).toEqual([]);
  });

  it('leaves a connection whose request has begun open when closing idle ones', async () => {
    onRequest = answer;
    const wire = new Wire(direct()).send('POST /partial HTTP/1.1\r\nHost: x\r\nContent-Le');
    await sleep(100);
    server.closeIdleConnections();
    wire.send('ngth: 2\r\n\r\nhi');
    await wire.answers(1, /ok$/);
    wire.socket.destroy();
  });

  it('keeps a tunnel half-open after the client ends its side', async () => {
    let tunnel: Socket | null = null;
    onUpgrade = (_req, socket) => {
      tunnel = socket;
      socket.resume();
    };
    const client = connect({ port: direct(), host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    client.on('data', (data: Buffer) => {
      received += data.toString();
    });
    client.write('GET /t HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
    await sleep(100);
    client.end();
    await sleep(100);
    tunnel!.write('late reply');
    await sleep(100);
    expect(received).toBe('late reply');
    client.destroy();
  });

  it('knows every method llhttp parses, QUERY included', async () => {
    const methods = answerRecording((req) => req.method);
    await new Wire(direct())
      .send('QUERY /q HTTP/1.1\r\nHost: x\r\n\r\nPURGE /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      .closed();
    expect(methods).toEqual(['QUERY', 'PURGE']);
  });

  it('refuses an Upgrade pipelined behind a request still unanswered, handing nothing over', async () => {
    let handedOver = false;
    onUpgrade = () => {
      handedOver = true;
    };
    onRequest = (req, res) => setTimeout(() => answer(req, res), 100);
    await new Wire(direct())
      .send(
        'GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      )
      .closed();
    expect(handedOver).toBe(false);
  });

  it('lets an answer still in the socket buffer finish when closing idle connections, and says when all are out', async () => {
    const size = 32 * 1024 * 1024; // beyond what loopback buffers hold
    onRequest = (_req, res) => {
      res.writeHead(200, ['content-length', String(size)]);
      res.write(Buffer.alloc(size, 120));
      res.end();
    };
    const client = connect(direct(), '127.0.0.1');
    client.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    client.pause();
    await sleep(200);
    server.closeIdleConnections();
    let delivered = false;
    const allOut = server.delivered().then(() => {
      delivered = true;
    });
    await sleep(100);
    expect(delivered).toBe(false);
    let received = 0;
    client.on('data', (data: Buffer) => {
      received += data.length;
    });
    client.resume();
    await new Promise((resolve) => client.on('close', resolve));
    await allOut;
    expect(received).toBeGreaterThan(size);
  });

  it('survives a client that resets a handshake the router answers 503 (no route table yet)', async () => {
    const noTable = { state: null, draining: false } as unknown as DataPlane;
    onUpgrade = (req, socket, head) =>
      handleUpgrade(noTable, 'http://127.0.0.1:1', Math.random, new Set(), req, socket, head);
    const client = connect(direct(), '127.0.0.1');
    client.on('error', () => {});
    client.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', () =>
      client.resetAndDestroy(),
    );
    await sleep(300);
    // An 'error' without a listener would have failed this run as an unhandled error.
    onRequest = answer;
    const raw = await new Wire(direct())
      .send('GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      .closed();
    expect(raw).toMatch(/ok$/);
  });

  describe('with a connection handed over after its first bytes were read', () => {
    it('reads the rest of a body that came later, on a Connection: close request', async () => {
      onRequest = (req, res) => answer(req, res, 'whole');
      const wire = new Wire(sniffed()).send(
        'POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\n',
      );
      await sleep(100);
      wire.send('hello');
      expect(await wire.closed()).toMatch(/whole$/);
    });

    it('keeps a tunnel opened by those bytes out of the idle connections', async () => {
      let tunnel: Socket | null = null;
      onUpgrade = (_req, socket) => {
        tunnel = socket;
      };
      const wire = new Wire(sniffed()).send(
        'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      );
      await sleep(100);
      server.closeIdleConnections();
      await sleep(50);
      expect(tunnel!.destroyed).toBe(false);
      wire.socket.destroy();
    });
  });

  it('goes on after an h2c upgrade whose body spans reads, with the request pipelined after it', async () => {
    const urls = answerRecording((req) => req.url);
    const wire = new Wire(direct()).send(
      'POST /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
        'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 5\r\n\r\nhe',
    );
    await sleep(100);
    wire.send('lloGET /after HTTP/1.1\r\nHost: x\r\n\r\n');
    await wire.answers(2, /okHTTP[\s\S]*ok$/);
    expect(urls).toEqual(['/h2c', '/after']);
    wire.socket.destroy();
  });
});
