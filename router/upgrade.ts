// HTTP Upgrade (WebSocket) pass-through: route the handshake like any request, then pipe raw bytes
// between the client socket and a fresh upstream socket until either side closes. h2c is no tunnel.

import type { IncomingMessage, Server } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type * as Tls from 'node:tls';
import { upstreamHeaders } from './headers.js';
import { HOP_HEADER, HopKind } from './hop.js';
import { CLIENT_CLOSED_REQUEST, codeClassOf } from './metrics.js';
import { errorKind, type DataPlane } from './proxy.js';

// Not `import`: an ESM facade loads more than the module on node 22+ (see router/start.ts).
const { connect: connectTcp, isIP } = process.getBuiltinModule('node:net');

// node:tls costs every pod ~4 MB of RSS; only an https upstream needs it, so it loads on first use.
const require = createRequire(import.meta.url);
function connectTls(options: Tls.ConnectionOptions): Tls.TLSSocket {
  return (require('node:tls') as typeof Tls).connect(options);
}

/** Enough for any status line ("HTTP/1.1 101 Switching Protocols\r\n"); longer is not HTTP. */
const MAX_STATUS_LINE = 256;

function reject(socket: Duplex, status: number, text: string, body: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * `Upgrade: h2c` (HTTP/2 over cleartext, dropped from RFC 9113) comes with plain requests from
 * curl --http2 and Java's HttpClient. The router speaks HTTP/1.1 only, so such a request is not a
 * tunnel: it must be routed and measured like any other, and so must the requests after it.
 */
export function isH2cUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return typeof upgrade === 'string' && upgrade.trim().toLowerCase() === 'h2c';
}

/**
 * Hands an upgrade request back to `server` as a plain request on the same connection: its head is
 * rebuilt without Upgrade (node already parsed and validated it) and put back in front of any bytes
 * that followed, so the body and later keep-alive requests are parsed as usual.
 */
export function replayWithoutUpgrade(
  server: Server,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'upgrade') text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  socket.unshift(
    head.length > 0
      ? Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), head])
      : Buffer.from(`${text}\r\n`, 'latin1'),
  );
  server.emit('connection', socket);
}

/** Handles the http server's 'upgrade' event. Open tunnels are tracked in `tunnels` for shutdown. */
export function handleUpgrade(
  proxy: DataPlane,
  localOrigin: string,
  random: () => number,
  tunnels: Set<Duplex>,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  const state = proxy.state;
  if (state === null || proxy.draining) {
    reject(socket, 503, 'Service Unavailable', '{"error":"no_route_table"}');
    return;
  }
  let local: boolean;
  let decision: ReturnType<typeof state.routes.decide>;
  if (proxy.hop.check(req.headers[HOP_HEADER]) !== HopKind.None) {
    const own = state.local.indexOf(true);
    decision = state.routes.decision(own >= 0 ? own : state.routes.baseline, 'hop');
    local = true;
  } else {
    decision = state.routes.decide(req.headers, random);
    local = state.local[decision.index]!;
  }
  state.decisionCounters[decision.slot]!.inc();
  const origin = new URL(local ? localOrigin : state.origins[decision.index]!);
  const hop = local ? null : proxy.hop.header(HopKind.Routed);
  const headers = upstreamHeaders(req.headers, state.routes.canaryHeader, req.socket, hop, 'upgrade');
  const port = Number(origin.port) || (origin.protocol === 'https:' ? 443 : 80);
  // URL keeps the brackets of an IPv6 literal ("[::1]"); net and tls want the bare address.
  const host = origin.hostname.startsWith('[') ? origin.hostname.slice(1, -1) : origin.hostname;
  const upstream: Socket =
    origin.protocol === 'https:'
      ? connectTls({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}) })
      : connectTcp({ host, port });
  // The handshake settles once: by the status line the app answers with, as an error when it
  // answers none, or as 499 when the client leaves first. A handshake to this router's own app is
  // then measured like a request (101 counts as 1xx); the tunnel after it is not.
  const started = proxy.hrtime();
  let statusLine = '';
  let settled = false;
  const settle = (status: number): void => {
    if (settled) return;
    settled = true;
    upstream.off('data', readStatusLine);
    if (!local) return;
    const metrics = proxy.metrics.local;
    metrics.requests[codeClassOf(status)]!.inc();
    metrics.duration.observe((proxy.hrtime() - started) / 1000);
  };
  const readStatusLine = (chunk: Buffer): void => {
    statusLine += chunk.toString('latin1', 0, Math.min(chunk.length, MAX_STATUS_LINE));
    if (statusLine.includes('\r\n') || statusLine.length >= MAX_STATUS_LINE) {
      settle(Number(/^HTTP\/1\.[01] (\d{3})[ \r]/.exec(statusLine)?.[1] ?? 0));
    }
  };
  let connected = false;
  let clientGone = false;
  tunnels.add(socket);
  upstream.once(origin.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
    connected = true;
    let lines = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) lines += `${headers[i]}: ${headers[i + 1]}\r\n`;
    upstream.write(`${lines}\r\n`);
    if (head.length > 0) upstream.write(head);
    upstream.on('data', readStatusLine);
    socket.pipe(upstream);
    upstream.pipe(socket);
  });
  upstream.on('error', (error) => {
    proxy.metrics.upstreamError(decision.track, errorKind(error));
    settle(0);
    if (!connected) {
      const body = `{"error":"upstream_unavailable","track":${JSON.stringify(decision.track)},"kind":"${errorKind(error)}"}`;
      reject(socket, 502, 'Bad Gateway', body);
    } else socket.destroy();
  });
  socket.on('error', () => upstream.destroy());
  socket.on('end', () => {
    // The http server's sockets stay half-open: a client that ends its side before the app has
    // answered has left, and a silent app would otherwise hold the tunnel open for good.
    if (settled) return;
    settle(CLIENT_CLOSED_REQUEST);
    socket.destroy();
  });
  socket.on('close', () => {
    clientGone = true;
    settle(CLIENT_CLOSED_REQUEST);
    tunnels.delete(socket);
    upstream.destroy();
  });
  upstream.on('close', () => {
    if (!clientGone) settle(0); // the app closed without a status line
    if (connected) socket.destroy();
  });
}
