// HTTP Upgrade (WebSocket) pass-through: route the handshake like any request, then pipe raw bytes
// between the client socket and a fresh upstream socket until either side closes. h2c is no tunnel.

import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type * as Tls from 'node:tls';
import { Attempt, logUpstreamFailure } from './attempt.js';
import type { ClientRequest } from './exchange.js';
import { upstreamHeaders } from './headers.js';
import { HOP_HEADER, HopKind } from './hop.js';
import { CLIENT_CLOSED_REQUEST, codeClassOf } from './metrics.js';
import { type DataPlane, errorKind, hopDecision, IDEMPOTENT, type RouteState } from './proxy.js';

// Not `import`: an ESM facade loads more than the module on node 22+ (see router/start.ts).
const { connect: connectTcp, isIP } = process.getBuiltinModule('node:net');

// node:tls costs every pod ~4 MB of RSS; only an https upstream needs it, so it loads on first use.
const require = createRequire(import.meta.url);
function connectTls(options: Tls.ConnectionOptions): Tls.TLSSocket {
  return (require('node:tls') as typeof Tls).connect(options);
}

/** Enough for any status line ("HTTP/1.1 101 Switching Protocols\r\n"); longer is not HTTP. */
const MAX_STATUS_LINE = 256;

/** Answers a handshake and closes its connection once the answer is out (or the client is gone). */
function reject(socket: Socket, status: number, text: string, body: string): void {
  socket.on('error', ignoreError);
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

function ignoreError(): void {}

/** Handles an Upgrade request (router/http1.ts). Open tunnels are tracked in `tunnels` for shutdown. */
export function handleUpgrade(
  proxy: DataPlane,
  localOrigin: string,
  random: () => number,
  tunnels: Set<Socket>,
  req: ClientRequest,
  socket: Socket,
  head: Buffer,
): void {
  const state = proxy.state;
  if (state === null || proxy.draining) {
    reject(socket, 503, 'Service Unavailable', '{"error":"no_route_table"}');
    return;
  }
  const hop = proxy.hop.check(req.headers[HOP_HEADER]);
  const decision = hop !== HopKind.None ? hopDecision(state) : state.routes.decide(req.headers, random);
  const attempt = new Attempt(state, decision, hop);
  new Handshake(proxy, state, localOrigin, tunnels, req, socket, head, attempt).connect();
}

/**
 * One upgrade request: its handshake goes to the upstream of its decision and, when that fails
 * before any byte of an answer, once more where a request would (`fallbackTarget`); once the app
 * answers, bytes are piped both ways until either side closes.
 */
class Handshake {
  readonly #proxy: DataPlane;
  readonly #state: RouteState;
  readonly #localOrigin: string;
  readonly #req: ClientRequest;
  readonly #socket: Socket;
  readonly #head: Buffer;
  readonly #attempt: Attempt;
  #upstream: Socket | null = null;
  /** The bytes of the request as written upstream: more written means the client's bytes followed. */
  #requestBytes = 0;
  #started = 0;
  #statusLine = '';
  /** Whether this attempt has been measured (by the app's status line, as failed, or as 499). */
  #settled = false;
  /** Whether the upstream has sent a byte: from then on the tunnel is the client's and the app's. */
  #answered = false;
  #clientGone = false;

  constructor(
    proxy: DataPlane,
    state: RouteState,
    localOrigin: string,
    tunnels: Set<Socket>,
    req: ClientRequest,
    socket: Socket,
    head: Buffer,
    attempt: Attempt,
  ) {
    this.#proxy = proxy;
    this.#attempt = attempt;
    this.#state = state;
    this.#localOrigin = localOrigin;
    this.#req = req;
    this.#socket = socket;
    this.#head = head;
    tunnels.add(socket);
    socket.on('error', () => this.#upstream?.destroy());
    socket.on('end', () => {
      // The http server's sockets stay half-open: a client that ends its side before the app has
      // answered has left, and a silent app would otherwise hold the tunnel open for good.
      if (this.#answered) return;
      this.#settle(CLIENT_CLOSED_REQUEST);
      socket.destroy();
    });
    socket.on('close', () => {
      this.#clientGone = true;
      this.#settle(CLIENT_CLOSED_REQUEST);
      tunnels.delete(socket);
      this.#upstream?.destroy();
    });
  }

  /** Sends the handshake to the upstream of the current decision. */
  connect(): void {
    const attempt = this.#attempt;
    this.#settled = false;
    this.#statusLine = '';
    const state = this.#state;
    const origin = new URL(attempt.upstream(this.#localOrigin, state.ownTrackOrigin, state.origins));
    const hop = attempt.hopHeader(this.#proxy.hop);
    const req = this.#req;
    const headers = upstreamHeaders(req.headers, state.routes.canaryHeader, req.socket, hop, 'upgrade');
    const port = Number(origin.port) || (origin.protocol === 'https:' ? 443 : 80);
    // URL keeps the brackets of an IPv6 literal ("[::1]"); net and tls want the bare address.
    const host = origin.hostname.startsWith('[') ? origin.hostname.slice(1, -1) : origin.hostname;
    const upstream: Socket =
      origin.protocol === 'https:'
        ? connectTls({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}) })
        : connectTcp({ host, port });
    this.#upstream = upstream;
    this.#started = this.#proxy.hrtime();
    upstream.once(origin.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      let lines = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < headers.length; i += 2) lines += `${headers[i]}: ${headers[i + 1]}\r\n`;
      lines += '\r\n';
      this.#requestBytes = Buffer.byteLength(lines, 'latin1');
      upstream.write(lines, 'latin1');
      if (this.#head.length > 0) upstream.write(this.#head);
      this.#socket.pipe(upstream);
    });
    const onData = (chunk: Buffer): void => {
      if (!this.#answered) {
        // The answer's first byte goes by hand; pipe() passes on the rest (and ends the client's
        // side when the app ends its own).
        this.#answered = true;
        this.#socket.write(chunk);
        upstream.pipe(this.#socket);
      }
      this.#statusLine += chunk.toString('latin1', 0, Math.min(chunk.length, MAX_STATUS_LINE));
      if (this.#statusLine.includes('\r\n') || this.#statusLine.length >= MAX_STATUS_LINE) {
        upstream.off('data', onData);
        this.#settle(Number(/^HTTP\/1\.[01] (\d{3})[ \r]/.exec(this.#statusLine)?.[1] ?? 0));
      }
    };
    upstream.on('data', onData);
    let failure: Error | null = null;
    upstream.on('error', (error) => {
      failure = error;
    });
    upstream.on('close', () => {
      if (this.#upstream !== upstream || this.#clientGone) return;
      if (this.#answered) {
        if (failure !== null)
          this.#proxy.metrics.upstreamError(this.#attempt.decision.track, errorKind(failure));
        this.#settle(0); // the app closed without a whole status line
        this.#socket.destroy();
        return;
      }
      this.#failed(failure ?? closedUnanswered());
    });
  }

  /** The upstream failed before any byte of an answer: send the handshake again, or tell the client. */
  #failed(error: Error): void {
    const kind = errorKind(error);
    const proxy = this.#proxy;
    const attempt = this.#attempt;
    proxy.metrics.upstreamError(attempt.decision.track, kind);
    this.#settle(0);
    this.#socket.unpipe(this.#upstream!);
    if (kind === 'connect' && attempt.servedHere) proxy.appGoingAway('refused');
    // Safe to send again when nothing reached the upstream, or when only the request did (an
    // upgrade is a GET without a body; the client waits for the answer before sending more).
    const safe =
      kind === 'connect' ||
      (kind === 'reset' &&
        IDEMPOTENT[this.#req.method] === true &&
        this.#head.length === 0 &&
        this.#upstream!.bytesWritten <= this.#requestBytes);
    const target = safe ? attempt.fallback(kind === 'connect') : null;
    if (target !== null) {
      attempt.retryTo(target);
      this.connect();
      return;
    }
    const hopClosed = attempt.hop && kind !== 'timeout';
    logUpstreamFailure(proxy.logger, this.#req, attempt, error, kind, hopClosed ? 'closed' : 502);
    if (hopClosed) {
      // The router that sent the hop decides, as for an app that closed the connection unanswered.
      this.#socket.destroy();
      return;
    }
    const service = JSON.stringify(this.#state.routes.table.service);
    const track = JSON.stringify(attempt.decision.track);
    reject(
      this.#socket,
      502,
      'Bad Gateway',
      `{"error":"upstream_unavailable","service":${service},"track":${track},"kind":"${kind}"}`,
    );
  }

  /**
   * Measures the attempt once: by the status line the app answers with, as an error when it answers
   * none, or as 499 when the client leaves first. Only a handshake to this router's own app counts
   * (101 as 1xx), timed to that answer; the tunnel after it does not.
   */
  #settle(status: number): void {
    if (this.#settled) return;
    this.#settled = true;
    if (!this.#attempt.servedHere) return;
    const metrics = this.#proxy.metrics.local;
    metrics.requests[codeClassOf(status)]!.inc();
    metrics.duration.observe((this.#proxy.hrtime() - this.#started) / 1000);
  }
}

/** An upstream that closed its connection without an error and without an answer. */
function closedUnanswered(): Error {
  return Object.assign(new Error('the upstream closed the connection without an answer'), {
    code: 'UND_ERR_SOCKET',
  });
}
