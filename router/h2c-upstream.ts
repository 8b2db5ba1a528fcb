// The router's HTTP/2 cleartext client (`--protocol h2c`): a request that came in over HTTP/2 goes
// on to the app or to another track's router over HTTP/2, through one H2cPool per upstream.
//
// Not undici, which carries every HTTP/1.1 request: undici 7, the line that runs on Node 20, fails
// every request in flight on a connection when the upstream sends GOAWAY, a graceful one included
// (nodejs/undici#5089; fixed in undici 8, which needs Node 22.19). An app shutting down gracefully,
// a router draining, or a gRPC server's max connection age would each fail the calls the router had
// in flight. undici 7 also runs one non-idempotent request per HTTP/2 connection at a time, so every
// concurrent gRPC call (a POST) took a connection of its own. Here streams share a session, and a
// GOAWAY retires the session: its streams finish, new ones open another.
//
// Handlers are undici's (Dispatcher.DispatchHandler), so the data plane drives both clients alike.

import type {
  ClientHttp2Session,
  ClientHttp2Stream,
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
} from 'node:http2';
import type { RawHeaders } from './headers.js';
import type { Dispatcher } from './undici.js';

/** The upstream closed the stream unprocessed (REFUSED_STREAM, or above a GOAWAY's last stream). */
export class StreamRefusedError extends Error {
  readonly code = 'ERR_HTTP2_REFUSED_STREAM';
  constructor() {
    super('the upstream refused the stream before processing it (REFUSED_STREAM)');
  }
}

/** The upstream reset the stream, or its connection ended, before the answer was complete. */
export class StreamResetError extends Error {
  readonly code = 'ECONNRESET';
}

/**
 * The connection ended before the upstream's HTTP/2 preface (its SETTINGS): nothing was processed,
 * as with a refused connection. A user-space proxy in between (a Service's, a TCP load balancer)
 * accepts the connection and then closes it when its backend refuses.
 */
export class NoPrefaceError extends Error {
  readonly code = 'UPSTREAM_NO_PREFACE';
  constructor(cause: Error) {
    super(`the connection ended before the upstream's HTTP/2 preface: ${cause.message}`, { cause });
  }
}

/**
 * Whether `error` came while connecting (a refused or reset handshake, an unknown host): nothing was
 * sent on that connection.
 */
export function failedConnecting(error: Error): boolean {
  const { syscall } = error as NodeJS.ErrnoException;
  return syscall === 'connect' || syscall === 'getaddrinfo';
}

/** Streams a session takes before the upstream's SETTINGS say how many it allows (node's default). */
const DEFAULT_MAX_STREAMS = 100;

export interface H2cPoolOptions {
  /** An idle session (no stream) is closed after this long, like an idle keep-alive connection. */
  readonly idleTimeoutMs: number;
  /** Called when the upstream sends GOAWAY on a session: it is closing that connection. */
  readonly onGoaway?: () => void;
  /**
   * A session this old takes no new streams and closes once its streams finish; the next request
   * opens a new connection. Through a Service, that is how calls spread over its pods: kube-proxy
   * balances connections, and one HTTP/2 connection would carry every call to one pod.
   */
  readonly maxAgeMs?: number;
}

type Http2 = typeof import('node:http2');

/** One connection to the upstream and how many streams it carries. */
class Session {
  readonly http2: ClientHttp2Session;
  streams = 0;
  /** No new streams: the upstream sent GOAWAY, or the session is closing or failed. */
  retired = false;
  /** Why the session failed (a refused connection): what its streams report. */
  error: Error | null = null;
  /** The upstream's SETTINGS arrived: from now on a stream may have been processed. */
  established = false;
  /** Date.now() after which the session takes no new streams (maxAgeMs). */
  readonly #retiresAt: number;
  /** What waits for the upstream's SETTINGS (request bodies, see Exchange). */
  #onEstablished: (() => void)[] = [];

  constructor(http2: Http2, origin: string, pool: H2cPool, options: H2cPoolOptions) {
    const session = http2.connect(origin, { settings: { enablePush: false } });
    this.http2 = session;
    this.#retiresAt = Date.now() + (options.maxAgeMs ?? Number.POSITIVE_INFINITY);
    session.on('error', (error: Error) => {
      this.error ??= error;
      this.retired = true;
    });
    session.once('remoteSettings', () => {
      this.established = true;
      for (const start of this.#onEstablished) start();
      this.#onEstablished = [];
    });
    session.on('goaway', () => {
      this.retired = true;
      options.onGoaway?.();
    });
    session.once('close', () => {
      this.retired = true;
      pool.forget(this);
    });
    session.setTimeout(options.idleTimeoutMs, () => {
      if (this.streams === 0) this.close();
    });
  }

  /** Whether a new stream has to go to another session; one past its max age is closed here. */
  get unusable(): boolean {
    const http2 = this.http2;
    if (!this.retired && Date.now() >= this.#retiresAt) this.close();
    return (
      this.retired ||
      http2.closed ||
      http2.destroyed ||
      this.streams >= (http2.remoteSettings.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS)
    );
  }

  /** Runs `start` once the upstream's SETTINGS have arrived (at once if they have); never if they do not. */
  whenEstablished(start: () => void): void {
    if (this.established) start();
    else this.#onEstablished.push(start);
  }

  close(): void {
    this.retired = true;
    this.http2.close();
  }
}

/** A flat [name, value, ...] list as HTTP/2 request headers: Host becomes :authority. */
function requestHeaders(options: Dispatcher.DispatchOptions): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ':method': options.method, ':path': options.path };
  const flat = (options.headers ?? []) as readonly string[];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    const key = name === 'host' ? ':authority' : name;
    const seen = headers[key];
    if (seen === undefined) headers[key] = value;
    else if (key === 'cookie') headers[key] = [seen as string | string[], value].flat();
    else headers[key] = `${seen}, ${value}`;
  }
  return headers;
}

/**
 * HTTP/2 response headers as undici's raw list, pseudo-headers left out. As strings: node decoded
 * them already, and the data plane reads raw headers of either kind (router/headers.ts RawHeaders).
 */
function rawHeaders(headers: IncomingHttpHeaders): Buffer[] {
  const raw: RawHeaders = [];
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const value = headers[name];
    if (typeof value === 'string') raw.push(name, value);
    else if (value !== undefined) for (const item of value) raw.push(name, item);
  }
  return raw as Buffer[];
}

/**
 * Streams a request body to the upstream, each chunk held until the end of the event-loop turn it
 * came in. A unary gRPC call arrives as HEADERS and one DATA frame that ends the stream, so its end
 * comes in that turn too, and the chunk goes out with END_STREAM: one frame and one write, where
 * piping it sent an empty DATA frame in a write of its own that woke the app once more (node ends a
 * stream only once its pending writes are on the wire). node writes a session's frames at the end
 * of the turn anyway (setImmediate), so holding a chunk that long delays nothing.
 */
function sendBody(body: NodeJS.ReadableStream, stream: ClientHttp2Stream): void {
  let held: Buffer | null = null;
  const flush = (): void => {
    const chunk = held;
    held = null;
    if (chunk === null || stream.destroyed) return;
    if (!stream.write(chunk)) {
      body.pause();
      stream.once('drain', () => body.resume());
    }
  };
  body.on('data', (chunk: Buffer) => {
    if (held === null) setImmediate(flush);
    else flush();
    held = chunk;
  });
  body.on('end', () => {
    const chunk = held;
    held = null;
    if (stream.destroyed) return;
    if (chunk === null) stream.end();
    else stream.end(chunk);
  });
}

/** One request's stream, reporting to its undici handler. */
class Exchange {
  readonly #session: Session;
  readonly #stream: ClientHttp2Stream;
  readonly #handler: Dispatcher.DispatchHandler;
  readonly #refusedCode: number;
  readonly #cancelCode: number;
  #responded = false;
  #done = false;
  #trailers: IncomingHttpHeaders | null = null;
  #error: Error | null = null;

  constructor(
    http2: Http2,
    session: Session,
    options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ) {
    this.#session = session;
    this.#handler = handler;
    this.#refusedCode = http2.constants.NGHTTP2_REFUSED_STREAM;
    this.#cancelCode = http2.constants.NGHTTP2_CANCEL;
    const body = options.body as NodeJS.ReadableStream | Buffer | null | undefined;
    const stream = session.http2.request(requestHeaders(options), { endStream: body == null });
    this.#stream = stream;
    session.streams++;
    stream.on('headers', (headers) => {
      // Interim (1xx) answers; the final one follows.
      handler.onHeaders?.(Number(headers[':status']), rawHeaders(headers), this.#resume, '');
    });
    stream.on('response', (headers) => {
      if (this.#done) return;
      this.#responded = true;
      if (handler.onHeaders?.(Number(headers[':status']), rawHeaders(headers), this.#resume, '') === false)
        stream.pause();
    });
    stream.on('data', (chunk: Buffer) => {
      if (!this.#done && handler.onData?.(chunk) === false) stream.pause();
    });
    stream.on('trailers', (trailers) => {
      this.#trailers = trailers;
    });
    stream.on('end', () => this.#complete());
    stream.on('error', (error: Error) => {
      this.#error ??= error;
    });
    stream.once('close', () => {
      session.streams--;
      if (!this.#done) this.#fail(this.#closeError());
    });
    handler.onConnect?.(this.#abort);
    if (Buffer.isBuffer(body)) stream.end(body);
    else if (body != null) {
      body.on('error', (error: Error) => this.#abort(error));
      // Not before the upstream's SETTINGS: until then it has processed nothing, and a call whose
      // connection fails (refused, or closed by a Service's proxy) still has its whole body, so the
      // data plane can send it elsewhere (router/proxy.ts fallbackTarget), as undici does over HTTP/1.1.
      session.whenEstablished(() => {
        if (!this.#done) sendBody(body, stream);
      });
    }
  }

  readonly #resume = (): void => {
    this.#stream.resume();
  };

  /** The handler's abort: the stream is cancelled at the upstream, the handler told once. */
  readonly #abort = (error?: Error): void => {
    if (this.#done) return;
    this.#fail(error ?? new StreamResetError('request aborted'));
    this.#stream.close(this.#cancelCode);
  };

  #complete(): void {
    if (this.#done) return;
    // A stream closed with its session (the connection ended cleanly) reads as ended: no answer.
    if (!this.#responded) {
      this.#fail(this.#closeError());
      return;
    }
    this.#done = true;
    // undici hands HTTP/2 trailers over as the object node gives (router/grpc.ts reads them so).
    this.#handler.onComplete?.((this.#trailers ?? {}) as unknown as string[]);
  }

  #fail(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#handler.onError?.(error);
  }

  /** Why a stream closed without its end: refused (safe to retry), the connection's error, or a reset. */
  #closeError(): Error {
    if (!this.#responded && this.#stream.rstCode === this.#refusedCode) return new StreamRefusedError();
    const session = this.#session;
    const reason = session.error ?? this.#streamError();
    return session.established || failedConnecting(reason) ? reason : new NoPrefaceError(reason);
  }

  #streamError(): Error {
    const error = this.#error;
    // Streams of a session that failed to connect are cancelled with the session's error as cause.
    const cause = (error as { cause?: unknown } | null)?.cause;
    if (cause instanceof Error) return cause;
    return error ?? new StreamResetError(`the upstream reset the stream (code ${this.#stream.rstCode})`);
  }
}

/** HTTP/2 by prior knowledge to one upstream origin: streams multiplexed on its sessions. */
export class H2cPool {
  readonly #http2: Http2;
  readonly #origin: string;
  readonly #options: H2cPoolOptions;
  readonly #sessions = new Set<Session>();
  /** The session new streams go to while it has room and is not retired. */
  #current: Session | null = null;
  #closed = false;

  constructor(origin: string, options: H2cPoolOptions) {
    // Loaded here, not imported: node:http2 costs an HTTP/1.1 router ~5 MB of RSS (router/undici.ts).
    this.#http2 = process.getBuiltinModule('node:http2');
    this.#origin = origin;
    this.#options = options;
  }

  /** undici's Dispatcher.dispatch, for the router's handlers: true when the request was started. */
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.#closed) {
      handler.onError?.(new StreamResetError(`HTTP/2 pool for ${this.#origin} is closed`));
      return false;
    }
    let session = this.#current;
    if (session === null || session.unusable) {
      session = new Session(this.#http2, this.#origin, this, this.#options);
      this.#sessions.add(session);
      this.#current = session;
    }
    try {
      new Exchange(this.#http2, session, options, handler);
    } catch (error) {
      // node refused to open the stream (a header it will not send, a session gone meanwhile).
      handler.onError?.(error as Error);
      return false;
    }
    return true;
  }

  /** A closed session leaves the pool. */
  forget(session: Session): void {
    this.#sessions.delete(session);
    if (this.#current === session) this.#current = null;
  }

  /** No new streams; resolves once the open ones have finished and every session has closed. */
  close(): Promise<void> {
    return this.#end((session) => session.close());
  }

  /** Drops every session, streams in flight included. */
  destroy(): Promise<void> {
    return this.#end((session) => session.http2.destroy());
  }

  #end(each: (session: Session) => void): Promise<void> {
    this.#closed = true;
    const closed = [...this.#sessions].map(
      (session) => new Promise<void>((resolve) => session.http2.once('close', () => resolve())),
    );
    for (const session of this.#sessions) each(session);
    return Promise.all(closed).then(() => undefined);
  }
}
