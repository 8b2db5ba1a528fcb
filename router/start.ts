// Wires the router together: proxy server, admin server, route source (file or control), hop secret,
// metrics. `startRouter` is what the CLI, the demo and the tests embed.

import type { Http2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { AddressInfo, Server, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import { ErrorCode, errorMessage, SwitchyardError } from '../api/errors.js';
import { parseRouteTableJson, type RouteTable } from '../api/routes.js';
import { createAdminServer } from './admin.js';
import type { HostPort } from '../api/flags.js';
import type { RouterConfig } from './config.js';
import { type ControlClient, startControlClient } from './control.js';
import type { Random } from './decide.js';
import { H2cRequest, H2cResponse } from './h2c-stream.js';
import type { ForwardedFrom } from './headers.js';
import { HopSecret } from './hop.js';
import { createRouterMetrics } from './metrics.js';
import { DataPlane } from './proxy.js';
import { Http1Server } from './http1.js';
import { handleUpgrade } from './upgrade.js';
import { type FileWatch, watchFileContent } from './watch.js';
import type { Log } from './log.js';

// Built-ins whose ESM facade loads more than the module come through process.getBuiltinModule, not
// `import`: on node 22+ an import of node:http reads every export getter of the module and so loads
// crypto, tls, http2, zlib and node's own undici (~7 MB of RSS per router on node 24). The same
// holds for node:fs, node:util and node:net in the router's other modules; footprint.test.ts checks.
const { createServer: createNetServer } = process.getBuiltinModule('node:net');

export interface RouterClock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
  /** Monotonic milliseconds, fractional (for durations). */
  monotonic(): number;
}

export const systemClock: RouterClock = Object.freeze({
  now: () => Date.now(),
  // process.hrtime, not performance.now(): the `performance` global loads node:perf_hooks and its
  // timing modules, ~0.3 MB of RSS on node 20 and ~0.6 MB on node 24, for the same reading (~75 ns
  // either way).
  monotonic: () => {
    const [seconds, nanoseconds] = process.hrtime();
    return seconds * 1000 + nanoseconds / 1e6;
  },
});

export interface RouterDeps {
  readonly logger: Log;
  readonly registry: Registry;
  readonly random?: Random;
  readonly clock?: RouterClock;
}

export interface BoundAddress extends HostPort {
  /** http://host:port */
  readonly url: string;
}

export interface RunningRouter {
  readonly listenAddress: BoundAddress;
  readonly adminAddress: BoundAddress;
  /** Stops accepting, lets in-flight requests finish (up to the drain timeout), then releases everything. */
  close(): Promise<void>;
}

function listen(server: Server, at: HostPort): Promise<BoundAddress> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve({ host: address.address, port: address.port, url: `http://${host}:${address.port}` });
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * The server clients reach: the router's HTTP/1.1 server (router/http1.ts), or with `--protocol h2c`
 * a TCP server that hands each connection to it or to node's HTTP/2 server (h2cFront).
 */
interface Front {
  readonly server: Server;
  /**
   * Asks clients to reconnect: idle HTTP/1.1 connections are closed, HTTP/2 sessions get a GOAWAY
   * (their open streams finish). The server goes on accepting connections.
   */
  release(): void;
  /**
   * Resolves once the answers of settled requests are delivered: for HTTP/1.1 once each connection
   * has sent what was written to it; for HTTP/2, once the sessions told to close have sent their
   * last frames and closed.
   */
  delivered(): Promise<void>;
  /** Drops every connection, in-flight requests and tunnels included. */
  closeAll(): void;
}

interface Http1Front extends Front {
  readonly http1: Http1Server;
}

function http1Front(config: RouterConfig, proxy: DataPlane, random: Random, logger: Log): Http1Front {
  const tunnels = new Set<Socket>();
  let warnedHttp2 = false;
  const http1 = new Http1Server(
    { idleTimeoutMs: config.idleTimeoutMs },
    {
      request: proxy.handle,
      upgrade: (req, socket, head) => handleUpgrade(proxy, config.local, random, tunnels, req, socket, head),
      clientError: (error) => {
        if (error.code === 'HPE_PAUSED_H2_UPGRADE' && !warnedHttp2) {
          // The HTTP/2 preface: a gRPC client (or another h2c one) reached a router that speaks HTTP/1.1.
          warnedHttp2 = true;
          logger.warn(
            { listen: config.listen },
            'an HTTP/2 client (gRPC?) connected, but this router speaks HTTP/1.1: set switchyard.io/protocol: h2c on the Deployment (router flag --protocol h2c); reported once',
          );
        } else {
          logger.debug({ err: errorMessage(error) }, 'client error');
        }
      },
    },
  );
  return {
    http1,
    server: http1.server,
    release: () => http1.closeIdleConnections(),
    delivered: () => http1.delivered(),
    closeAll: () => {
      http1.closeAllConnections();
      for (const socket of tunnels) socket.destroy();
    },
  };
}

/** The first bytes an HTTP/2 client sends on a connection (RFC 9113 3.4). */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Hands a new connection to `http2` when its first bytes are the HTTP/2 preface (put back in the
 * socket), else to `http1` (with those bytes, which it parses first). Until then the connection is this function's: one that sends nothing
 * within `timeoutMs`, or fails (a reset), is closed here.
 */
function sniffProtocol(socket: Socket, timeoutMs: number, http2: Server, http1: Http1Server): void {
  let seen: Buffer = Buffer.alloc(0);
  const close = (): void => {
    socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const compared = Math.min(seen.length, HTTP2_PREFACE.length);
    const isHttp2 = seen.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared));
    if (isHttp2 && compared < HTTP2_PREFACE.length) return; // the preface is not complete yet
    socket.off('data', onData);
    socket.off('error', close);
    socket.off('timeout', close);
    socket.setTimeout(0);
    socket.pause();
    if (isHttp2) {
      // The HTTP/2 session reads what is buffered itself.
      socket.unshift(seen);
      http2.emit('connection', socket);
    } else {
      // Half-open, as the HTTP/1.1 front's own listener: a tunnel outlives the client's end.
      socket.allowHalfOpen = true;
      http1.accept(socket, seen);
    }
  };
  socket.on('data', onData);
  socket.on('error', close);
  socket.on('timeout', close);
  socket.setTimeout(timeoutMs);
}

/**
 * `--protocol h2c`: HTTP/2 by prior knowledge (gRPC's plaintext mode) and HTTP/1.1 on one port,
 * told apart by each connection's first bytes, as apps that serve gRPC and REST on one port do.
 * node:http2 is loaded only here: it costs a router ~5 MB of RSS (router/undici.ts).
 */
function h2cFront(config: RouterConfig, proxy: DataPlane, random: Random, logger: Log): Front {
  // Its server never listens: connections are handed to it.
  const http1 = http1Front(config, proxy, random, logger);
  const { createServer: createH2cServer } = process.getBuiltinModule('node:http2');
  const sessions = new Set<Http2Session>();
  // No request listener: node's compatibility layer stays out (router/h2c-stream.ts).
  const http2 = createH2cServer({});
  http2.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    const from: ForwardedFrom = { remoteAddress: session.socket.remoteAddress };
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      proxy.handle(new H2cRequest(stream, headers, from), new H2cResponse(stream));
    });
    // Idle sessions end like idle keep-alive connections; close() lets open streams finish.
    session.setTimeout(config.idleTimeoutMs, () => session.close());
    // A connection accepted just before the drain began: its GOAWAY goes out at once.
    if (proxy.draining) session.close();
  });
  http2.on('sessionError', (error) => logger.debug({ err: errorMessage(error) }, 'client error'));
  const server = createNetServer({ noDelay: true }, (socket) =>
    sniffProtocol(socket, config.idleTimeoutMs, http2, http1.http1),
  );
  return {
    server,
    release: () => {
      http1.release();
      for (const session of sessions) session.close();
    },
    delivered: () =>
      Promise.all([
        http1.delivered(),
        ...[...sessions].map((session) => new Promise((resolve) => session.once('close', resolve))),
      ]).then(() => undefined),
    closeAll: () => {
      http1.closeAll();
      for (const session of sessions) session.destroy();
    },
  };
}

export async function startRouter(config: RouterConfig, deps: RouterDeps): Promise<RunningRouter> {
  const logger = deps.logger.child({ component: 'router', service: config.service, track: config.track });
  const random = deps.random ?? Math.random;
  const clock = deps.clock ?? systemClock;
  const metrics = createRouterMetrics(deps.registry, config.service, config.track, clock.now);
  const hop = new HopSecret();
  const proxy = new DataPlane({ config, metrics, hop, random, hrtime: clock.monotonic, logger });

  const apply = (table: RouteTable, source: string): void => {
    if (table.service !== config.service) {
      throw new SwitchyardError(
        ErrorCode.RouteTableInvalid,
        `route table: service: "${table.service}" does not match --service "${config.service}"`,
        { field: 'service' },
      );
    }
    const first = proxy.state === null;
    proxy.applyTable(table);
    metrics.tableLoaded(table.generation, clock.now());
    logger.info(
      { generation: table.generation, weights: table.weights, source, first },
      'route table loaded',
    );
  };

  const watches: FileWatch[] = [];
  if (config.hopSecretFile !== null) {
    const path = config.hopSecretFile;
    watches.push(
      watchFileContent(
        path,
        (text) => {
          hop.set(text);
          logger.info(
            { path, loaded: hop.loaded },
            hop.loaded ? 'hop secret loaded' : 'no hop secret: hops not accepted',
          );
        },
        logger,
      ),
    );
  }
  let control: ControlClient | null = null;
  if (config.routesFile !== null) {
    const path = config.routesFile;
    watches.push(
      watchFileContent(
        path,
        (text) => {
          if (text === null) {
            logger.warn({ path }, 'routes file missing; keeping the current table');
            return;
          }
          try {
            apply(parseRouteTableJson(text), path);
          } catch (error) {
            const field = error instanceof SwitchyardError ? error.field : undefined;
            logger.error(
              { path, field, err: errorMessage(error) },
              'route table rejected; keeping the previous one',
            );
          }
        },
        logger,
      ),
    );
  } else if (config.control !== null) {
    control = await startControlClient({
      base: config.control,
      namespace: config.namespace,
      service: config.service,
      caFile: config.controlCaFile,
      tokenFile: config.controlTokenFile,
      random,
      logger: deps.logger.child({ component: 'control-client' }),
      onTable: (table) => {
        try {
          apply(table, 'control');
        } catch (error) {
          logger.error(
            { err: errorMessage(error) },
            'route table from control rejected; keeping the previous one',
          );
        }
      },
      onConnected: (connected) => metrics.controlConnected(connected),
    });
  }

  const front =
    config.protocol === 'h2c'
      ? h2cFront(config, proxy, random, logger)
      : http1Front(config, proxy, random, logger);
  proxy.releaseClients = front.release;
  const admin = createAdminServer(proxy, deps.registry);
  const listenAddress = await listen(front.server, config.listen);
  const adminAddress = await listen(admin, config.admin);
  logger.info(
    { listen: listenAddress.url, admin: adminAddress.url, local: config.local, protocol: config.protocol },
    'router listening',
  );

  let closing: Promise<void> | null = null;
  const close = async (): Promise<void> => {
    proxy.draining = true;
    const stopped = closeServer(front.server);
    front.release();
    const timeout = new AbortController();
    const drained = await Promise.race([
      proxy
        .idle()
        .then(() => front.delivered())
        .then(() => true),
      sleep(config.drainTimeoutMs, false, { signal: timeout.signal }).catch(() => false),
    ]);
    timeout.abort(); // the timer must not keep the process alive once drained
    if (!drained) logger.warn({ inFlight: proxy.active }, 'drain timeout: closing remaining connections');
    front.closeAll();
    await stopped;
    for (const watch of watches) watch.close();
    await control?.close();
    await proxy.close(!drained);
    admin.closeAllConnections();
    await closeServer(admin);
    logger.info({ drained }, 'router stopped');
  };
  return {
    listenAddress,
    adminAddress,
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}
