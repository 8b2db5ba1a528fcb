// The data plane: takes a request from the HTTP/1.1 or HTTP/2 front, decides its track, streams it to the app
// or the next router through one undici Pool per upstream and streams the answer back.

import type { Readable, TransformCallback } from 'node:stream';
import type { RouteTable } from '../api/routes.js';
import { Attempt, type FailureAnswer, type FallbackTarget, logUpstreamFailure } from './attempt.js';
import type { RouterConfig } from './config.js';
import { type CompiledRoutes, compileRoutes, type Decision, type Random } from './decide.js';
import { GrpcAnswer, isGrpcContentType, type Trailers } from './grpc.js';
import { failedConnecting, H2cPool, StreamRefusedError } from './h2c-upstream.js';
import type { H2cResponse } from './h2c-stream.js';
import type { ClientRequest, ClientResponse } from './exchange.js';
import { downstreamHeaders, headerObject, type RawHeaders, upstreamHeaders } from './headers.js';
import { HOP_HEADER, HopKind, type HopSecret } from './hop.js';
import { CLIENT_CLOSED_REQUEST, codeClassOf, type RouterMetrics, type UpstreamErrorKind } from './metrics.js';
import { Expiring, Timeouts } from './timeouts.js';
import { type Dispatcher, Pool } from './undici.js';
import type { Log } from './log.js';

/** A route table made ready for traffic: decision core, one pool per track, pre-bound counters. */
export interface RouteState {
  readonly routes: CompiledRoutes;
  readonly pools: readonly Pool[];
  /** `--protocol h2c`: the HTTP/2 pools, indexed like `pools`, for requests that came over HTTP/2. */
  readonly h2cPools: readonly H2cPool[];
  readonly origins: readonly string[];
  /** true where a track's requests go to this router's own app (--local). */
  readonly local: readonly boolean[];
  /**
   * The upstream the table names for this router's own track (its per-track Service: the other
   * pods of this version); null when the table has no such track.
   */
  readonly ownTrack: Pool | null;
  /** `--protocol h2c`: the HTTP/2 pool to `ownTrack`'s origin, for requests that came over HTTP/2. */
  readonly ownTrackH2c: H2cPool | null;
  /** The origin of `ownTrack`, for WebSocket tunnels (router/upgrade.ts). */
  readonly ownTrackOrigin: string | null;
  readonly decisionCounters: readonly { inc(): void }[];
}

const KIND_BY_CODE: Readonly<Record<string, UpstreamErrorKind>> = {
  ECONNREFUSED: 'connect',
  ENOTFOUND: 'connect',
  EAI_AGAIN: 'connect',
  EHOSTUNREACH: 'connect',
  ENETUNREACH: 'connect',
  EADDRNOTAVAIL: 'connect',
  UPSTREAM_NO_PREFACE: 'connect',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ETIMEDOUT: 'timeout',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  UND_ERR_SOCKET: 'reset',
  UND_ERR_CLOSED: 'reset',
};

export function errorKind(error: Error): UpstreamErrorKind {
  const code = (error as { code?: unknown }).code;
  const kind = (typeof code === 'string' && KIND_BY_CODE[code]) || 'reset';
  // A handshake reset by the peer (a Service's user-space proxy finding no pod) sent nothing either.
  return kind === 'reset' && failedConnecting(error) ? 'connect' : kind;
}

export const IDEMPOTENT: Readonly<Record<string, true>> = {
  GET: true,
  HEAD: true,
  OPTIONS: true,
  TRACE: true,
  PUT: true,
  DELETE: true,
};

/**
 * Request bodies held at once for mirror copies, across all requests of a router. A copy is sent
 * when its body has fully arrived; one that would not fit is dropped (`reason="body"`).
 */
export const MIRROR_BODY_BUDGET_BYTES = 8 * 1024 * 1024;

/**
 * How long an HTTP/2 connection to another track's routers (through its per-track Service) takes new
 * calls: each new connection may reach another of that track's pods (see H2cPoolOptions.maxAgeMs).
 * HTTP/1.1 spreads by itself: undici opens a connection per concurrent request.
 */
const HOP_CONNECTION_MAX_AGE_MS = 30_000;

// node:stream's ESM facade loads more than the module (see router/start.ts).
const { Transform, pipeline } = process.getBuiltinModule('node:stream');

const kRequest = Symbol('switchyard.request');
type TaggedResponse = ClientResponse & { [kRequest]?: ProxyRequest };

// Listeners hoisted out of the request path: `this` is the response, the request hangs off it.
function onResponseClose(this: TaggedResponse): void {
  this[kRequest]?.clientClosed();
}
function onResponseDrain(this: TaggedResponse): void {
  this[kRequest]?.drained();
}

const ERROR_BODY: Readonly<Record<UpstreamErrorKind, { status: number; error: string }>> = {
  connect: { status: 502, error: 'upstream_unavailable' },
  reset: { status: 502, error: 'upstream_unavailable' },
  timeout: { status: 504, error: 'upstream_timeout' },
};

const NO_ROUTE_TABLE = '{"error":"no_route_table"}';
const NO_ROUTE_TABLE_HEADERS = [
  'content-type',
  'application/json',
  'content-length',
  String(NO_ROUTE_TABLE.length),
];

/** A valid hop's decision: this router's own track, served by its app. */
export function hopDecision(state: RouteState): Decision {
  const own = state.local.indexOf(true);
  // Own track missing from the table (e.g. just removed): still serve locally, labelled baseline.
  return state.routes.decision(own >= 0 ? own : state.routes.baseline, 'hop');
}

class ProxyRequest extends Expiring implements Dispatcher.DispatchHandler {
  readonly #proxy: DataPlane;
  readonly #state: RouteState;
  readonly #req: ClientRequest;
  readonly #res: TaggedResponse;
  readonly #started: number;
  /** A mirrored copy another router sent (a hop marked `mirror`). */
  readonly #mirror: boolean;
  /** What the app gets as the body: the request's, its mirror tee, or null. */
  readonly #body: Readable | null;
  readonly #attempt: Attempt;
  #abort: ((error?: Error) => void) | null = null;
  #resume: (() => void) | null = null;
  #responded = false;
  #done = false;
  #waitingDrain = false;
  #status = 0;
  /** h2c: the answer, measured by its grpc-status when it is gRPC's; null over HTTP/1.1. */
  readonly #answer: GrpcAnswer | null;
  /** The router's headers and body timeouts; null for a gRPC call, which runs to its own deadline. */
  readonly #timeouts: Timeouts | null;

  constructor(
    proxy: DataPlane,
    state: RouteState,
    req: ClientRequest,
    res: TaggedResponse,
    decision: Decision,
    hop: HopKind,
    body: Readable | null,
  ) {
    super();
    this.#proxy = proxy;
    this.#body = body;
    this.#mirror = hop === HopKind.Mirror;
    this.#state = state;
    this.#req = req;
    this.#res = res;
    this.#attempt = new Attempt(state, decision, hop);
    const h2 = req.httpVersionMajor === 2;
    this.#answer = h2 ? new GrpcAnswer() : null;
    // A gRPC call carries its deadline (grpc-timeout), which client and app keep: a server stream
    // may be silent for minutes, and its response headers may come only with its first message.
    this.#timeouts = h2 && isGrpcContentType(req.headers['content-type']) ? null : proxy.timeouts;
    this.#started = proxy.hrtime();
    res[kRequest] = this;
    res.on('close', onResponseClose);
  }

  dispatch(): void {
    const attempt = this.#attempt;
    const req = this.#req;
    // A request goes on in the protocol it came in: the app may speak both on one port (cmux).
    const h2 = this.#answer !== null;
    const state = this.#state;
    const local = this.#proxy.localPool(h2);
    const pool = h2
      ? attempt.upstream(local, state.ownTrackH2c, state.h2cPools)
      : attempt.upstream(local, state.ownTrack, state.pools);
    pool.dispatch(
      {
        path: req.url,
        method: req.method,
        headers: upstreamHeaders(
          req.headers,
          state.routes.canaryHeader,
          req.socket,
          attempt.hopHeader(this.#proxy.hop),
          h2 ? 'h2c' : 'http',
        ),
        body: this.#body,
      },
      this,
    );
  }

  onConnect(abort: (error?: Error) => void): void {
    if (this.#done) {
      abort(new Error('client closed the connection'));
      return;
    }
    this.#abort = abort;
    // Like undici's own headers timeout: from the moment the request is written.
    this.#timeouts?.awaitHeaders(this);
  }

  expire(error: Error): void {
    this.#abort?.(error);
  }

  onHeaders(statusCode: number, rawHeaders: RawHeaders, resume: () => void, statusText: string): boolean {
    if (this.#done) return false;
    if (statusCode < 200) {
      // An interim response: the final one follows on the same exchange, so nothing is committed.
      this.#interim(statusCode, rawHeaders);
      return true;
    }
    this.#resume = resume;
    this.#responded = true;
    this.#status = statusCode;
    this.#timeouts?.awaitBody(this);
    const answer = this.#answer;
    // HTTP/2 has no Connection header: a draining router sends GOAWAY instead (router/start.ts).
    // Answered by another pod because this one's app went away: the client had better reconnect.
    const close = (this.#proxy.draining || this.#attempt.elsewhere) && answer === null;
    const headers = downstreamHeaders(rawHeaders, this.#attempt.decision.setCookie, close);
    if (answer?.readHeaders(rawHeaders)) {
      // A gRPC Trailers-Only answer (an error without messages): one HEADERS frame ends the stream.
      (this.#res as H2cResponse).respondTrailersOnly(statusCode, headers);
      this.#finish(answer.countedStatus(statusCode));
      return true;
    }
    if (statusText) this.#res.writeHead(statusCode, statusText, headers);
    else this.#res.writeHead(statusCode, headers);
    if (statusCode === 304 || statusCode === 204) {
      // No body by definition, so the answer is complete now. undici would later fail a 304 whose
      // Content-Length gives the full representation's size (RFC 9110 allows it) as a length mismatch.
      this.#res.end();
      this.#finish(statusCode);
    }
    return true;
  }

  /** Forwards 102 and 103 (RFC 9110: a proxy forwards 1xx), never to HTTP/1.0 clients; drops others. */
  #interim(statusCode: number, rawHeaders: RawHeaders): void {
    const req = this.#req;
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return;
    if (statusCode === 102) this.#res.writeProcessing();
    if (statusCode !== 103) return;
    const hints = headerObject(downstreamHeaders(rawHeaders, null, false));
    try {
      this.#res.writeEarlyHints(hints);
    } catch {
      // node rejects some valid Link syntax (e.g. comma-joined values); hints are advisory, the
      // final response still follows.
    }
  }

  onData(chunk: Buffer): boolean {
    if (this.#res.write(chunk)) {
      this.#timeouts?.awaitBody(this);
      return true;
    }
    // A slow client is not a slow app: no body timeout while waiting for the client to drain.
    this.#timeouts?.unwatch(this);
    if (!this.#waitingDrain) {
      this.#waitingDrain = true;
      this.#res.once('drain', onResponseDrain);
    }
    return false;
  }

  drained(): void {
    this.#waitingDrain = false;
    if (!this.#done) this.#timeouts?.awaitBody(this);
    this.#resume?.();
  }

  /** HTTP/2 trailers are passed on (see Trailers); HTTP/1.1 trailers are not. */
  onComplete(trailers: unknown[] | null): void {
    if (this.#done) return;
    const answer = this.#answer;
    if (answer !== null && trailers != null) {
      answer.readTrailers(trailers as unknown as Trailers);
      this.#forwardTrailers(trailers as unknown as Trailers);
    }
    this.#res.end();
    this.#finish(answer === null ? this.#status : answer.countedStatus(this.#status));
  }

  #forwardTrailers(trailers: Trailers): void {
    const out: Record<string, string | string[]> = {};
    let any = false;
    for (const name in trailers) {
      const value = trailers[name];
      if (value === undefined || name.charCodeAt(0) === 58 /* : */) continue;
      out[name] = value;
      any = true;
    }
    if (any) (this.#res as H2cResponse).addTrailers(out);
  }

  onError(error: Error): void {
    if (this.#done) return;
    const attempt = this.#attempt;
    const track = attempt.decision.track;
    const kind = errorKind(error);
    this.#proxy.metrics.upstreamError(track, kind);
    const appRefused = kind === 'connect' && attempt.servedHere;
    if (appRefused) this.#proxy.appGoingAway('refused');
    if (this.#responded) {
      // Mid-stream: the status line is gone; all the client can learn is an aborted response.
      this.#logFailure(error, kind, 'aborted');
      this.#res.destroy();
      this.#finish(0);
      return;
    }
    const next = this.#retryTarget(kind);
    if (next !== null) {
      this.#retry(next);
      return;
    }
    if (attempt.hop && this.#answer === null && kind !== 'timeout') {
      // The router that sent the hop decides, as for an app that closed the connection unanswered:
      // it sends the request again where that is safe (#retryTarget), or answers its client.
      this.#logFailure(error, kind, 'closed');
      this.#req.abandon();
      this.#finish(0);
      return;
    }
    if (this.#answer !== null && (kind === 'connect' || error instanceof StreamRefusedError)) {
      // Nothing upstream processed the request: HTTP/2 says so with REFUSED_STREAM, and clients may
      // retry such a stream themselves (gRPC does, once), after a GOAWAY on a new connection.
      this.#logFailure(error, kind, 'refused');
      (this.#res as H2cResponse).refuse();
      this.#finish(0);
      return;
    }
    const { status, error: code } = ERROR_BODY[kind];
    this.#logFailure(error, kind, status);
    const body = `{"error":"${code}","service":${JSON.stringify(this.#state.routes.table.service)},"track":${JSON.stringify(track)},"kind":"${kind}"}`;
    if (!this.#res.headersSent) {
      const headers = ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body))];
      // A client keeping this connection would keep reaching a pod whose app is gone.
      if ((appRefused || attempt.elsewhere) && this.#answer === null) headers.push('connection', 'close');
      this.#res.writeHead(status, headers);
    }
    this.#res.end(body);
    this.#finish(0);
  }

  #logFailure(error: Error, kind: UpstreamErrorKind, answered: FailureAnswer): void {
    logUpstreamFailure(this.#proxy.logger, this.#req, this.#attempt, error, kind, answered);
  }

  /** Sends the request again, once (reason `fallback`): to track `index`, or to the own track's Service. */
  #retry(target: FallbackTarget): void {
    // When it was this router's own app that failed, that call counts as an error of its track:
    // analysis has to see a canary that refuses connections, although the client gets an answer.
    this.#measure(0);
    this.#attempt.retryTo(target);
    this.#abort = null;
    this.#timeouts?.unwatch(this);
    this.dispatch();
  }

  /**
   * Where a request that failed before any answer goes again, once (`fallbackTarget`); null if not.
   * Only when a second attempt is safe, as with nginx's proxy_next_upstream: nothing reached the
   * upstream (it refused the connection), or the method is idempotent (RFC 9110 9.2.2) and the
   * request has no body (the first attempt took it). A refused request keeps its body: undici reads it
   * only once connected, H2cPool only once the upstream's SETTINGS came.
   */
  #retryTarget(kind: UpstreamErrorKind): FallbackTarget | null {
    // A mirrored copy is fire-and-forget: sent on, it would be served twice by the live version.
    if (kind === 'timeout' || this.#mirror) return null;
    const safe = kind === 'connect' || (this.#body === null && IDEMPOTENT[this.#req.method] === true);
    if (!safe) return null;
    return this.#attempt.fallback(kind === 'connect');
  }

  clientClosed(): void {
    if (this.#done) return;
    // Over HTTP/2 a stream the client reset reads as finished but never ended.
    if (this.#res.writableEnded && this.#res.writableFinished) return;
    // Once the app has answered, a client leaving mid-body (a stream, server-sent events) does not
    // change what the app did: measure it by its status. Before any answer: 499, like nginx; and a
    // gRPC call whose status never came: CANCELLED, which gRPC's gateways also map to 499.
    this.#finish(this.#responded && this.#answer?.grpc !== true ? this.#status : CLIENT_CLOSED_REQUEST);
    this.#abort?.(new Error('client closed the connection'));
  }

  #finish(status: number): void {
    if (this.#done) return;
    this.#done = true;
    this.#timeouts?.unwatch(this);
    this.#measure(status);
    this.#proxy.settled();
  }

  /** Counts the call if it went to this router's own app (its track, or a hop it serves); 0 = no answer. */
  #measure(status: number): void {
    if (!this.#attempt.servedHere) return;
    const metrics = this.#proxy.metrics.local;
    const codeClass = codeClassOf(status);
    metrics.requests[codeClass]!.inc();
    metrics.duration.observe((this.#proxy.hrtime() - this.#started) / 1000);
    if (this.#mirror) metrics.mirrored[codeClass]!.inc();
  }
}

/** Fire-and-forget copy for mirroring: the response is read and discarded. */
class MirrorCopy extends Expiring implements Dispatcher.DispatchHandler {
  readonly #proxy: DataPlane;
  readonly #track: string;
  /** Set when the mirror track is this router's own: then this router measures the copy. */
  readonly #local: boolean;
  readonly #started: number;
  /** Bytes of the mirror body budget this copy's body holds until the exchange is over. */
  readonly #bodyBytes: number;
  /** h2c and measured here: the answer, counted by its grpc-status when it is gRPC's. */
  readonly #answer: GrpcAnswer | null;
  /** The router's timeouts; null for a gRPC call with a deadline, which bounds it instead. */
  readonly #timeouts: Timeouts | null;
  #abort: ((error?: Error) => void) | null = null;
  #status = 0;

  constructor(
    proxy: DataPlane,
    track: string,
    local: boolean,
    h2: boolean,
    bodyBytes: number,
    timeouts: Timeouts | null,
  ) {
    super();
    this.#proxy = proxy;
    this.#timeouts = timeouts;
    this.#track = track;
    this.#local = local;
    this.#bodyBytes = bodyBytes;
    this.#started = local ? proxy.hrtime() : 0;
    this.#answer = local && h2 ? new GrpcAnswer() : null;
  }
  onConnect(abort: (error?: Error) => void): void {
    this.#abort = abort;
    this.#timeouts?.awaitHeaders(this);
  }
  expire(error: Error): void {
    this.#abort?.(error);
  }
  onHeaders(statusCode: number, rawHeaders: RawHeaders): boolean {
    this.#status = statusCode;
    this.#answer?.readHeaders(rawHeaders);
    if (statusCode >= 200) this.#timeouts?.awaitBody(this);
    return true;
  }
  onData(): boolean {
    this.#timeouts?.awaitBody(this);
    return true;
  }
  onComplete(trailers: unknown[] | null): void {
    this.#over();
    if (!this.#local) return;
    const answer = this.#answer;
    if (answer !== null && trailers != null) answer.readTrailers(trailers as unknown as Trailers);
    this.#measure(codeClassOf(answer === null ? this.#status : answer.countedStatus(this.#status)));
  }
  onError(error: Error): void {
    this.#over();
    this.#proxy.metrics.mirrorDropped(this.#track, 'error');
    if (!this.#local) return;
    this.#proxy.metrics.upstreamError(this.#track, errorKind(error));
    // Like a live request to this app that fails: an `error` request, so analysis sees it.
    this.#measure(0);
  }
  #over(): void {
    this.#timeouts?.unwatch(this);
    this.#proxy.releaseMirrorBytes(this.#bodyBytes);
  }
  #measure(codeClass: number): void {
    const metrics = this.#proxy.metrics.local;
    metrics.requests[codeClass]!.inc();
    metrics.mirrored[codeClass]!.inc();
    metrics.duration.observe((this.#proxy.hrtime() - this.#started) / 1000);
  }
}

/**
 * Passes a request body on to its app unchanged while keeping a copy within the router's mirror
 * budget; when the body has fully arrived, `send` gets the copy. A body that outgrows the budget, or
 * an upload that never completes, drops the copy and counts it.
 */
class MirrorTee extends Transform {
  readonly #proxy: DataPlane;
  readonly #track: string;
  readonly #send: (body: Buffer) => void;
  /** The copy so far; null once it is sent or dropped. */
  #chunks: Buffer[] | null = [];
  #bytes = 0;

  constructor(proxy: DataPlane, track: string, send: (body: Buffer) => void) {
    super();
    this.#proxy = proxy;
    this.#track = track;
    this.#send = send;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#chunks !== null) {
      if (this.#proxy.holdMirrorBytes(chunk.length)) {
        this.#chunks.push(chunk);
        this.#bytes += chunk.length;
      } else {
        this.#drop('body');
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const chunks = this.#chunks;
    if (chunks !== null) {
      this.#chunks = null;
      this.#send(Buffer.concat(chunks, this.#bytes));
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#chunks !== null) this.#drop('error');
    callback(error);
  }

  #drop(why: 'body' | 'error'): void {
    this.#chunks = null;
    this.#proxy.releaseMirrorBytes(this.#bytes);
    this.#proxy.metrics.mirrorDropped(this.#track, why);
  }
}

function ignoreError(): void {}

/** The pool for `origin` in `next`: the one `current` has, or a new one. */
function reuse<P>(next: Map<string, P>, current: ReadonlyMap<string, P>, origin: string, create: () => P): P {
  const found = next.get(origin) ?? current.get(origin) ?? create();
  next.set(origin, found);
  return found;
}

export interface ProxyDeps {
  readonly config: RouterConfig;
  readonly metrics: RouterMetrics;
  readonly hop: HopSecret;
  readonly random: Random;
  /** Monotonic milliseconds (the router clock's `monotonic`). */
  readonly hrtime: () => number;
  readonly logger: Log;
}

export class DataPlane {
  readonly metrics: RouterMetrics;
  readonly hop: HopSecret;
  readonly hrtime: () => number;
  readonly timeouts: Timeouts;
  readonly #config: RouterConfig;
  readonly #random: Random;
  readonly logger: Log;
  readonly #localPool: Pool;
  /** `--protocol h2c`: the app's HTTP/2 pool; null otherwise. */
  readonly #localH2cPool: H2cPool | null;
  /** Upstream pools by origin. */
  #pools = new Map<string, Pool>();
  #h2cPools = new Map<string, H2cPool>();
  state: RouteState | null = null;
  draining = false;
  active = 0;
  /**
   * Asks clients to reconnect (router/start.ts): called when the app goes away, so that clients
   * holding connections to this router reach, through the Service, a pod whose app is there.
   */
  releaseClients: () => void = () => {};
  #onIdle: (() => void) | null = null;
  /** Bytes of request bodies held for mirror copies now, at most MIRROR_BODY_BUDGET_BYTES. */
  #mirrorBodyBytes = 0;

  constructor(deps: ProxyDeps) {
    this.#config = deps.config;
    this.metrics = deps.metrics;
    this.hop = deps.hop;
    this.#random = deps.random;
    this.hrtime = deps.hrtime;
    this.timeouts = new Timeouts(deps.hrtime, deps.config.headersTimeoutMs, deps.config.bodyTimeoutMs);
    this.logger = deps.logger;
    this.#localPool = this.#newPool(deps.config.local);
    this.#localH2cPool =
      deps.config.protocol === 'h2c'
        ? new H2cPool(deps.config.local, {
            idleTimeoutMs: deps.config.idleTimeoutMs,
            // The app's graceful shutdown (or its max connection age) as clients would have seen it.
            onGoaway: () => this.appGoingAway('goaway'),
          })
        : null;
  }

  #newPool(origin: string): Pool {
    const config = this.#config;
    return new Pool(origin, {
      // The router keeps these timeouts itself (router/timeouts.ts); undici's would cost every
      // request old-generation garbage.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: config.idleTimeoutMs,
      keepAliveMaxTimeout: Math.max(config.idleTimeoutMs, 1000),
    });
  }

  /** The app's pool for requests that came over HTTP/2 (`h2`) or HTTP/1.1. */
  localPool(h2: boolean): Pool | H2cPool {
    return h2 ? this.#localH2cPool! : this.#localPool;
  }

  /** The pool the readiness probe asks the app through: HTTP/2 with `--protocol h2c`. */
  get probePool(): Pool | H2cPool {
    return this.#localH2cPool ?? this.#localPool;
  }

  /**
   * The app refused a connection or sent GOAWAY: it is shutting down (or restarting). Without the
   * router its clients would have lost or been told to leave their connections and reconnected,
   * through the Service, to a pod whose app is there; the router's own connections would keep them
   * here, so it asks them to reconnect.
   */
  appGoingAway(signal: 'refused' | 'goaway'): void {
    this.logger.debug({ signal }, 'local app going away: asking clients to reconnect');
    this.releaseClients();
  }

  /** Switches to a new table: new pools for new upstreams, old ones closed once their requests finish. */
  applyTable(table: RouteTable): void {
    const routes = compileRoutes(table);
    const next = new Map<string, Pool>();
    const nextH2c = new Map<string, H2cPool>();
    const pools: Pool[] = [];
    const h2cPools: H2cPool[] = [];
    const origins: string[] = [];
    const local: boolean[] = [];
    const idleTimeoutMs = this.#config.idleTimeoutMs;
    const pool = (origin: string): Pool => reuse(next, this.#pools, origin, () => this.#newPool(origin));
    const h2cPool = (origin: string): H2cPool =>
      reuse(
        nextH2c,
        this.#h2cPools,
        origin,
        () => new H2cPool(origin, { idleTimeoutMs, maxAgeMs: HOP_CONNECTION_MAX_AGE_MS }),
      );
    const h2c = this.#localH2cPool !== null;
    for (const name of routes.tracks) {
      const isLocal = name === this.#config.track;
      const origin = isLocal ? this.#config.local : table.tracks[name]!.upstream;
      pools.push(isLocal ? this.#localPool : pool(origin));
      if (h2c) h2cPools.push(isLocal ? this.#localH2cPool! : h2cPool(origin));
      origins.push(origin);
      local.push(isLocal);
    }
    const own = table.tracks[this.#config.track];
    const ownTrack = own === undefined ? null : pool(own.upstream);
    const ownTrackH2c = own !== undefined && h2c ? h2cPool(own.upstream) : null;
    this.#closeUnused(this.#pools, next);
    this.#closeUnused(this.#h2cPools, nextH2c);
    this.#pools = next;
    this.#h2cPools = nextH2c;
    this.state = {
      routes,
      pools,
      h2cPools,
      origins,
      local,
      ownTrack,
      ownTrackH2c,
      ownTrackOrigin: own?.upstream ?? null,
      decisionCounters: this.metrics.bindDecisions(routes),
    };
  }

  /** Closes the pools of `current` that `next` no longer has, once their requests finish. */
  #closeUnused(current: ReadonlyMap<string, Pool | H2cPool>, next: ReadonlyMap<string, unknown>): void {
    for (const [origin, pool] of current) {
      if (next.has(origin)) continue;
      pool
        .close()
        .catch((error: unknown) => this.logger.warn({ err: error, origin }, 'closing old pool failed'));
    }
  }

  /** The fronts' request handler (bound once). */
  readonly handle = (req: ClientRequest, res: ClientResponse): void => {
    const state = this.state;
    if (state === null) {
      res.writeHead(503, NO_ROUTE_TABLE_HEADERS);
      res.end(NO_ROUTE_TABLE);
      return;
    }
    this.active++;
    let decision: Decision;
    let body = req.body;
    const hopValue = req.headers[HOP_HEADER];
    const hop = hopValue === undefined ? HopKind.None : this.hop.check(hopValue);
    if (hop !== HopKind.None) {
      decision = hopDecision(state);
    } else {
      decision = state.routes.decide(req.headers, this.#random);
      if (state.routes.mirror >= 0 && state.routes.shouldMirror(decision, this.#random))
        body = this.#mirror(state, req, body);
    }
    new ProxyRequest(this, state, req, res as TaggedResponse, decision, hop, body).dispatch();
  };

  /**
   * Sends a copy of the request to the mirror track; returns the body the live request sends: the
   * request's own, or a tee that passes it on while keeping the copy's body.
   */
  #mirror(state: RouteState, req: ClientRequest, body: Readable | null): Readable | null {
    const index = state.routes.mirror;
    const track = state.routes.tracks[index]!;
    const local = state.local[index]!;
    const hop = local ? null : this.hop.header(HopKind.Mirror);
    if (!local && hop === null) {
      this.metrics.mirrorDropped(track, 'no_hop_token');
      return body;
    }
    const h2 = req.httpVersionMajor === 2;
    const pool = (h2 ? state.h2cPools : state.pools)[index]!;
    // A gRPC call runs to its deadline, as live calls do; a copy of one without a deadline keeps the
    // router's timeouts: no client would ever cancel it.
    const timeouts =
      h2 && isGrpcContentType(req.headers['content-type']) && req.headers['grpc-timeout'] !== undefined
        ? null
        : this.timeouts;
    const copy = {
      path: req.url,
      method: req.method,
      headers: upstreamHeaders(req.headers, state.routes.canaryHeader, req.socket, hop, h2 ? 'h2c' : 'http'),
      body: null as Buffer | null,
    };
    if (body === null) {
      pool.dispatch(copy, new MirrorCopy(this, track, local, h2, 0, timeouts));
      return null;
    }
    // A declared length that cannot fit is dropped at once; a chunked body is checked as it arrives.
    if (Number(req.headers['content-length'] ?? 0) > MIRROR_BODY_BUDGET_BYTES - this.#mirrorBodyBytes) {
      this.metrics.mirrorDropped(track, 'body');
      return body;
    }
    const tee = new MirrorTee(this, track, (copied) => {
      copy.body = copied;
      // The copy's bytes stay held from the budget until its exchange is over.
      pool.dispatch(copy, new MirrorCopy(this, track, local, h2, copied.length, timeouts));
    });
    // Errors reach the live request through the tee (undici fails it); the copy is dropped by the tee.
    pipeline(body, tee, ignoreError);
    return tee;
  }

  /** Reserves mirror budget for `bytes` of a copy's body; false when they do not fit. */
  holdMirrorBytes(bytes: number): boolean {
    if (this.#mirrorBodyBytes + bytes > MIRROR_BODY_BUDGET_BYTES) return false;
    this.#mirrorBodyBytes += bytes;
    return true;
  }

  releaseMirrorBytes(bytes: number): void {
    this.#mirrorBodyBytes -= bytes;
  }

  /** Called once per request when it is over (answered, failed or abandoned by the client). */
  settled(): void {
    this.active--;
    if (this.active === 0 && this.#onIdle !== null) this.#onIdle();
  }

  /** Resolves when no request is in flight (at once if none is). */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onIdle = () => {
        this.#onIdle = null;
        resolve();
      };
    });
  }

  /** Closes every pool; `force` destroys in-flight upstream requests instead of waiting. */
  async close(force: boolean): Promise<void> {
    const pools = [
      this.#localPool,
      ...(this.#localH2cPool ? [this.#localH2cPool] : []),
      ...this.#pools.values(),
      ...this.#h2cPools.values(),
    ];
    this.#pools.clear();
    this.#h2cPools.clear();
    await Promise.all(pools.map((pool) => (force ? pool.destroy() : pool.close()).catch(() => undefined)));
  }
}
