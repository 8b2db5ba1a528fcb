// The HTTP/1.1 server clients reach: node's own request parser (llhttp, as node's http server runs
// it, with its limits and its checks against request smuggling) reads straight from each
// connection's socket handle; a request goes to the data plane as a plain object, its body as a
// stream only when it has one, and the answer goes out as bytes. node's http server wraps every
// request in an IncomingMessage and a ServerResponse, two streams with their own buffering, events
// and header checks: behind it, a request through the router cost twice the main thread's
// instructions (router/README.md, "The HTTP/1.1 front").

import type { IncomingHttpHeaders } from 'node:http';
import type { Server, Socket } from 'node:net';
import type { Readable as ReadableType } from 'node:stream';
import type { ClientRequest, ClientResponse } from './exchange.js';

// Not `import`: an ESM facade loads more than the module on node 22+ (see router/start.ts).
const { createServer } = process.getBuiltinModule('node:net');
const { METHODS, STATUS_CODES } = process.getBuiltinModule('node:http');
const { Readable } = process.getBuiltinModule('node:stream');

/** node's binding of llhttp, the parser its http server and client run (lib/_http_common.js). */
interface HttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  consume(handle: unknown): void;
  unconsume(): void;
  execute(data: Buffer): number | ParseError;
  getCurrentBuffer(): Buffer;
  close(): void;
  [callback: number]: unknown;
}
interface HttpParserClass {
  new (): HttpParser;
  readonly REQUEST: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
}
type ParseError = Error & { code?: string };

const httpCommon = process.getBuiltinModule('_http_common') as unknown as
  | { HTTPParser?: HttpParserClass }
  | undefined;
if (httpCommon?.HTTPParser === undefined) {
  throw new Error(
    `switchyard router: node ${process.version} has no _http_common HTTPParser, the parser the router's HTTP/1.1 front runs on (router/README.md, "The HTTP/1.1 front"); run it on node 20.18 to 24`,
  );
}
const { HTTPParser } = httpCommon;

/**
 * llhttp's method numbers to names. `_http_common` lists only some methods, in another order (node's
 * server reads an internal list), so each name node knows, and QUERY, is parsed once to learn its
 * number; a method missing here is refused (400).
 */
const METHOD_BY_NUMBER: readonly string[] = (() => {
  const names: string[] = [];
  const parser = new HTTPParser();
  for (const name of new Set([...METHODS, 'QUERY'])) {
    parser.initialize(HTTPParser.REQUEST, {}, 0, 0);
    parser[HTTPParser.kOnHeadersComplete] = (
      _major: number,
      _minor: number,
      _fields: unknown,
      method: number,
    ) => {
      names[method] = name;
      return 0;
    };
    parser.execute(
      Buffer.from(`${name} ${name === 'CONNECT' ? 'x:1' : '/'} HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1'),
    );
  }
  parser.close();
  return names;
})();

/** A socket's native handle, which the parser reads from while it is consumed. */
interface SocketHandle {
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const PROCESSING = Buffer.from('HTTP/1.1 102 Processing\r\n\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

/** The answers to requests the router cannot read, as node's http server sends them. */
function closingAnswer(status: number): Buffer {
  return Buffer.from(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\n\r\n`, 'latin1');
}
const ANSWER_BY_PARSE_ERROR: Readonly<Record<string, Buffer>> = {
  HPE_HEADER_OVERFLOW: closingAnswer(431),
  HPE_CHUNK_EXTENSIONS_OVERFLOW: closingAnswer(413),
};
const BAD_REQUEST = closingAnswer(400);
const EXPECTATION_FAILED = closingAnswer(417);

/**
 * How a repeated request header joins its first value, as node's IncomingMessage does: most are
 * joined with ", ", Cookie with "; ", Set-Cookie kept as a list, and these (whose repetition makes
 * no sense) keep their first value.
 */
const FIRST_WINS: Readonly<Record<string, true>> = Object.assign(Object.create(null), {
  'content-type': true,
  'content-length': true,
  'user-agent': true,
  referer: true,
  host: true,
  authorization: true,
  'proxy-authorization': true,
  'if-modified-since': true,
  'if-unmodified-since': true,
  from: true,
  location: true,
  'max-forwards': true,
  'retry-after': true,
  etag: true,
  'last-modified': true,
  server: true,
  age: true,
  expires: true,
});

/** The request's headers as node gives them: lower-case names, repeated ones joined (FIRST_WINS). */
export function headersOf(raw: readonly string[]): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    // Only own values: a name like `constructor` finds Object.prototype's, as in node's own check.
    const seen = headers[name];
    if (typeof seen === 'string') {
      if (FIRST_WINS[name] !== true) headers[name] = `${seen}${name === 'cookie' ? '; ' : ', '}${value}`;
    } else if (Array.isArray(seen)) seen.push(value);
    else headers[name] = name === 'set-cookie' ? [value] : value;
  }
  return headers;
}

/** `Expect: 100-continue` as node's http server recognizes it. */
const CONTINUE_EXPECTATION = /(?:^|\W)100-continue(?:$|\W)/i;

export interface Http1Handlers {
  /** A request: answered through `res`, its body (if any) read from `req.body`. */
  request(req: Http1Request, res: Http1Response): void;
  /** An Upgrade request (WebSocket): the connection is the handler's from now on. */
  upgrade(req: Http1Request, socket: Socket, head: Buffer): void;
  /** A request that could not be parsed, answered 400 (431, 413) and closed. */
  clientError(error: ParseError): void;
}

export interface Http1Options {
  /** How long a connection may wait for (the whole head of) its next request. */
  readonly idleTimeoutMs: number;
}

/**
 * A request body, pushed as the parser reads it. When its reader falls behind, the connection stops
 * reading from the socket until it asks for more: the client's TCP window does the rest.
 */
class RequestBody extends Readable {
  readonly #connection: Connection;
  constructor(connection: Connection) {
    super();
    this.#connection = connection;
  }
  override _read(): void {
    this.#connection.bodyWanted();
  }
}

/** A request as the data plane reads it (router/exchange.ts). */
export class Http1Request implements ClientRequest {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly headers: IncomingHttpHeaders,
    readonly httpVersionMajor: number,
    readonly httpVersionMinor: number,
    readonly socket: Socket,
    readonly body: ReadableType | null,
    /** Whether the client keeps the connection after this exchange (HTTP/1.1 default, 1.0 by asking). */
    readonly keepAlive: boolean,
  ) {
    this.complete = body === null;
  }

  /** Whether the whole request, body included, has been read. */
  complete: boolean;

  /** Drops the client's connection without an answer. */
  abandon(): void {
    this.socket.destroy();
  }
}

type Listener = (this: Http1Response) => void;

/**
 * The answer, written as HTTP/1.1 bytes: the head with the first body bytes (one write for a small
 * answer), the body as given when the app gave a length, chunked otherwise (closed after it for an
 * HTTP/1.0 client). The connection's answers go out in the order of their requests: an answer to a
 * pipelined request waits, held, until the ones before it are complete.
 */
export class Http1Response implements ClientResponse {
  readonly #connection: Connection;
  readonly #req: Http1Request;
  /** The head, written with the first body bytes or at the end. */
  #head: string | null = null;
  #chunked = false;
  #noBody = false;
  /** Whether the connection ends after this answer. */
  close: boolean;
  headersSent = false;
  #ended = false;
  /** Bytes written while an earlier answer on the connection is still going out; null once active. */
  #held: (Buffer | string)[] | null;
  #onClose: Listener | null = null;
  #onDrain: Listener | null = null;

  constructor(connection: Connection, req: Http1Request, active: boolean) {
    this.#connection = connection;
    this.#req = req;
    this.close = !req.keepAlive;
    this.#held = active ? null : [];
  }

  get writableEnded(): boolean {
    return this.#ended;
  }

  get writableFinished(): boolean {
    return this.#ended;
  }

  writeHead(
    statusCode: number,
    textOrHeaders?: string | readonly string[],
    maybeHeaders?: readonly string[],
  ): this {
    if (this.headersSent) return this;
    this.headersSent = true;
    const text = typeof textOrHeaders === 'string' ? textOrHeaders : (STATUS_CODES[statusCode] ?? 'Unknown');
    const headers = (typeof textOrHeaders === 'string' ? maybeHeaders : textOrHeaders) ?? [];
    const req = this.#req;
    let head = `HTTP/1.1 ${statusCode} ${text}\r\n`;
    let length = false;
    let closeSaid = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      if (name.length === 14 && name.toLowerCase() === 'content-length') length = true;
      else if (name.length === 10 && value === 'close' && name.toLowerCase() === 'connection')
        closeSaid = true;
      head += `${name}: ${value}\r\n`;
    }
    // Answered before the whole request body came (an app refusing an upload): the connection ends
    // with the answer, as the rest of the body is not worth reading.
    if (closeSaid || !req.complete) this.close = true;
    this.#noBody = req.method === 'HEAD' || statusCode === 204 || statusCode === 304;
    if (!this.#noBody && !length) {
      // Without a length the body ends with the connection for an HTTP/1.0 client.
      if (req.httpVersionMinor === 1) {
        head += 'transfer-encoding: chunked\r\n';
        this.#chunked = true;
      } else this.close = true;
    }
    if (this.close) {
      if (!closeSaid) head += 'connection: close\r\n';
    } else head += this.#connection.keepAliveHint;
    this.#head = `${head}\r\n`;
    return this;
  }

  /** 102 Processing, an interim answer. */
  writeProcessing(): void {
    this.#send(PROCESSING);
  }

  /** 103 Early Hints, an interim answer. */
  writeEarlyHints(hints: Record<string, string | string[]>): void {
    let head = 'HTTP/1.1 103 Early Hints\r\n';
    for (const name in hints) {
      const value = hints[name]!;
      for (const item of typeof value === 'string' ? [value] : value) head += `${name}: ${item}\r\n`;
    }
    this.#send(`${head}\r\n`);
  }

  /** 100 Continue: the client may send the body it holds back. */
  writeContinue(): void {
    this.#send(CONTINUE);
  }

  write(chunk: Buffer): boolean {
    if (this.#ended) return false;
    if (!this.headersSent) this.writeHead(200);
    if (this.#noBody || chunk.length === 0) return this.#send(null);
    if (!this.#chunked) return this.#send(chunk);
    return this.#send(`${chunk.length.toString(16)}\r\n`, chunk, CRLF);
  }

  end(body?: string | Buffer): void {
    if (this.#ended) return;
    if (!this.headersSent) this.writeHead(200);
    if (body !== undefined && body.length > 0)
      this.write(typeof body === 'string' ? Buffer.from(body) : body);
    this.#send(this.#chunked ? LAST_CHUNK : null);
    this.#ended = true;
    if (this.#held === null) this.#connection.answered(this);
  }

  /** Cuts the answer: the connection goes, as a client must learn that the body is incomplete. */
  destroy(): void {
    this.#connection.socket.destroy();
  }

  /** 'close' (the client left before the answer was complete) and 'drain' (write more). */
  on(event: 'close' | 'drain', listener: Listener): this {
    if (event === 'close') this.#onClose = listener;
    else this.#onDrain = listener;
    return this;
  }

  once(event: 'close' | 'drain', listener: Listener): this {
    return this.on(event, listener);
  }

  /** The connection's socket drained: a writer held back may go on. */
  drained(): void {
    const listener = this.#onDrain;
    this.#onDrain = null;
    listener?.call(this);
  }

  /** The client left: called once, if this answer was not complete. */
  clientGone(): void {
    if (!this.#ended) this.#onClose?.call(this);
  }

  /** The answers before this one are complete: what it holds goes out, and it writes directly. */
  activate(): void {
    const held = this.#held;
    this.#held = null;
    if (held === null) return;
    const socket = this.#connection.socket;
    socket.cork();
    for (const data of held) socket.write(data, 'latin1');
    socket.uncork();
    if (this.#ended) this.#connection.answered(this);
    // Not at once: this runs when the answer before it completes, inside undici's parser, which must
    // not be entered again by the writer this wakes.
    else if (!socket.writableNeedDrain) process.nextTick(drainedLater, this);
  }

  /**
   * Writes `data` (null: nothing but a head not yet written) and what follows it in one system
   * call, after the head if that has not gone out yet; holds it all while the answer waits its turn.
   */
  #send(data: Buffer | string | null, ...more: (Buffer | string)[]): boolean {
    const head = this.#head;
    this.#head = null;
    const held = this.#held;
    if (held !== null) {
      if (head !== null) held.push(head);
      if (data !== null) held.push(data, ...more);
      return false;
    }
    const socket = this.#connection.socket;
    if (head === null && more.length === 0) return data === null || socket.write(data, 'latin1');
    socket.cork();
    let flowing = head === null || socket.write(head, 'latin1');
    if (data !== null) flowing = socket.write(data, 'latin1');
    for (const part of more) flowing = socket.write(part, 'latin1');
    socket.uncork();
    return flowing;
  }
}

/**
 * One client connection: the parser consumes its socket, requests go to the handlers, answers go
 * out in order; it waits at most the idle timeout for each next request's head.
 */
class Connection {
  readonly socket: Socket;
  readonly #server: Http1Server;
  readonly #parser: HttpParser;
  readonly #handle: SocketHandle;
  /** Answers not yet complete, in request order; the first is the one writing. */
  readonly #answers: Http1Response[] = [];
  /** The request whose body the parser is reading; null between requests. */
  #reading: Http1Request | null = null;
  /** A request's first bytes have come and its head is not complete yet. */
  #begun = false;
  /** Head fields that came in pieces (a head across several reads): names and values, and the URL. */
  #pieces: string[] = [];
  #url = '';
  /** No request after the current one is served: it said Connection: close, or was refused. */
  #done = false;
  #bodyPaused = false;
  #queuePaused = false;
  /** An Upgrade request, handed over after the parser stopped at its end. */
  #upgrade: Http1Request | null = null;
  /** The request being read asked for an h2c upgrade, which is served as a plain request. */
  #readingH2cUpgrade = false;
  /**
   * An h2c upgrade request is complete: the parser stopped after it, as after any upgrade, and goes on
   * with the bytes that followed it in the same read.
   */
  #afterH2cUpgrade = false;
  #consumed = false;
  /** The socket went to a tunnel (or closed): this connection is over. */
  #released = false;

  constructor(server: Http1Server, socket: Socket) {
    this.#server = server;
    this.socket = socket;
    const parser = new HTTPParser();
    this.#parser = parser;
    parser.initialize(HTTPParser.REQUEST, this, 0, 0);
    parser[HTTPParser.kOnMessageBegin] = this.#onBegin;
    parser[HTTPParser.kOnHeaders] = this.#onHeadPiece;
    parser[HTTPParser.kOnHeadersComplete] = this.#onHead;
    parser[HTTPParser.kOnBody] = this.#onBody;
    parser[HTTPParser.kOnMessageComplete] = this.#onMessageComplete;
    parser[HTTPParser.kOnExecute] = this.#onExecute;
    socket.on('error', ignoreError);
    socket.on('close', this.#onClose);
    socket.on('drain', this.#onDrain);
    socket.on('end', this.#onEnd);
    socket.on('timeout', this.#onTimeout);
    socket.setTimeout(server.idleTimeoutMs);
    this.#handle = (socket as unknown as { _handle: SocketHandle })._handle;
  }

  /** Starts reading: first `seen`, the bytes already read from the socket (null: none). */
  start(seen: Buffer | null): void {
    const socket = this.socket;
    if (seen !== null) {
      // What the socket read after `seen` and before the parser took over waits in its stream.
      const buffered = socket.read() as Buffer | null;
      const first = buffered === null ? seen : Buffer.concat([seen, buffered]);
      this.#onExecute(this.#parser.execute(first), first);
    }
    if (!this.#released && !socket.destroyed) {
      this.#parser.consume(this.#handle);
      this.#consumed = true;
    }
  }

  get keepAliveHint(): string {
    return this.#server.keepAliveHint;
  }

  /**
   * Closes the connection if it waits for a next request that has not begun: at once, or once the
   * last answer's bytes are out.
   */
  closeIfIdle(): void {
    if (this.#answers.length > 0 || this.#reading !== null || this.#begun) return;
    if (this.socket.writableLength === 0) this.socket.destroy();
    else this.#closeSoon();
  }

  readonly #onBegin = (): void => {
    this.#begun = true;
  };

  readonly #onHeadPiece = (fields: string[], url: string): void => {
    this.#pieces.push(...fields);
    this.#url += url;
  };

  readonly #onHead = (
    versionMajor: number,
    versionMinor: number,
    fields: string[] | undefined,
    method: number,
    url: string | undefined,
    _statusCode: unknown,
    _statusMessage: unknown,
    upgrade: boolean,
    keepAlive: boolean,
  ): number => {
    const raw = fields ?? this.#pieces;
    this.#pieces = [];
    const path = url ?? this.#url;
    this.#url = '';
    this.#begun = false;
    // A request pipelined after one the connection ends with: never answered, so never served.
    if (this.#done) return 0;
    const headers = headersOf(raw);
    const methodName = METHOD_BY_NUMBER[method];
    this.socket.setTimeout(0);
    if (methodName === undefined) {
      this.#refuse(BAD_REQUEST);
      return 0;
    }
    const h2cUpgrade = upgrade && methodName !== 'CONNECT' && isH2cUpgrade(headers);
    const tunnel = upgrade && methodName !== 'CONNECT' && !h2cUpgrade;
    const hasBody =
      !tunnel &&
      (headers['transfer-encoding'] !== undefined ||
        (headers['content-length'] !== undefined && headers['content-length'] !== '0'));
    const req = new Http1Request(
      methodName,
      path,
      headers,
      versionMajor,
      versionMinor,
      this.socket,
      hasBody ? new RequestBody(this) : null,
      keepAlive && !tunnel,
    );
    if (tunnel) {
      if (this.#answers.length > 0) {
        // Behind an answer still to come, which would land inside the tunnel: no client does this.
        this.#refuse(BAD_REQUEST);
        return 0;
      }
      this.#done = true;
      this.#upgrade = req;
      return 2; // the rest of the bytes are the tunnel's
    }
    this.#readingH2cUpgrade = h2cUpgrade;
    this.#reading = req;
    if (methodName === 'CONNECT' || (versionMinor === 1 && headers.host === undefined)) {
      // node's http server: CONNECT only with a listener for it; HTTP/1.1 requires Host (RFC 9112 3.2).
      this.#refuse(BAD_REQUEST);
      return 0;
    }
    const expect = versionMinor === 1 ? headers.expect : undefined;
    if (expect !== undefined && !CONTINUE_EXPECTATION.test(expect)) {
      this.#refuse(EXPECTATION_FAILED);
      return 0;
    }
    if (!keepAlive) this.#done = true;
    const res = new Http1Response(this, req, this.#answers.length === 0);
    this.#answers.push(res);
    // Pipelined requests are read on only while at most one answer waits behind the one writing.
    if (this.#answers.length > 2) this.#pauseQueue(true);
    // As node's http server does: the body is asked for at once, the app sees no Expect (headers.ts).
    if (expect !== undefined) res.writeContinue();
    this.#server.handlers.request(req, res);
    return 0;
  };

  readonly #onBody = (chunk: Buffer): void => {
    const body = this.#reading?.body;
    if (body != null && !body.push(chunk)) this.#pauseBody(true);
  };

  readonly #onMessageComplete = (): void => {
    // Trailers of a chunked body come as head pieces: they are not the next request's.
    this.#pieces = [];
    this.#url = '';
    const req = this.#reading;
    this.#reading = null;
    this.#afterH2cUpgrade = this.#readingH2cUpgrade;
    this.#readingH2cUpgrade = false;
    if (req !== null) {
      req.complete = true;
      req.body?.push(null);
    }
    // An ended body never asks for more: reading goes on for the next request.
    this.#bodyPaused = false;
    if (this.#upgrade !== null) return; // the tunnel reads on
    if (this.#done) this.#stopReading();
    else {
      this.#updateReading();
      this.#awaitRequest();
    }
  };

  readonly #onExecute = (result: number | ParseError, data?: Buffer): void => {
    if (typeof result !== 'number') {
      // Bytes after the last request the connection serves: ignored.
      if (this.#done && this.#reading === null) return;
      this.#server.handlers.clientError(result);
      this.#reading?.body?.destroy(result);
      this.#refuse(ANSWER_BY_PARSE_ERROR[result.code ?? ''] ?? BAD_REQUEST);
      return;
    }
    if (this.#afterH2cUpgrade) {
      this.#afterH2cUpgrade = false;
      const rest = (data ?? this.#parser.getCurrentBuffer()).subarray(result);
      if (rest.length > 0) this.#onExecute(this.#parser.execute(rest), rest);
      return;
    }
    const upgrade = this.#upgrade;
    if (upgrade === null) return;
    this.#upgrade = null;
    const head = (data ?? this.#parser.getCurrentBuffer()).subarray(result);
    this.#release();
    this.socket.setTimeout(0);
    this.#server.handlers.upgrade(upgrade, this.socket, head);
  };

  /** Answers a request the router will not serve, and closes the connection. */
  #refuse(answer: Buffer): void {
    if (this.#answers.length > 0 || !this.socket.writable) {
      this.socket.destroy();
      return;
    }
    this.socket.write(answer);
    this.#closeSoon();
  }

  /** Ends the connection once what is written has gone out, as node's http server does. */
  #closeSoon(): void {
    this.#done = true;
    this.#stopReading();
    const socket = this.socket;
    socket.end();
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', destroySocket);
  }

  /** An answer is complete: the next one goes on, or the connection waits for a request or ends. */
  answered(res: Http1Response): void {
    const answers = this.#answers;
    answers.shift();
    if (res.close) {
      this.#closeSoon();
      return;
    }
    if (answers.length <= 2) this.#pauseQueue(false);
    const next = answers[0];
    if (next !== undefined) next.activate();
    else this.#awaitRequest();
  }

  /** With no request in flight, the next one's head has the idle timeout to come. */
  #awaitRequest(): void {
    if (this.#answers.length === 0 && this.#reading === null)
      this.socket.setTimeout(this.#server.idleTimeoutMs);
  }

  bodyWanted(): void {
    this.#pauseBody(false);
  }

  #pauseBody(paused: boolean): void {
    this.#bodyPaused = paused;
    this.#updateReading();
  }

  #pauseQueue(paused: boolean): void {
    this.#queuePaused = paused;
    this.#updateReading();
  }

  #updateReading(): void {
    const handle = this.#handle;
    if (this.#done && this.#reading === null) return;
    const reading = !this.#bodyPaused && !this.#queuePaused;
    if (handle.reading === reading || this.socket.destroyed) return;
    handle.reading = reading;
    if (reading) handle.readStart();
    else handle.readStop();
  }

  #stopReading(): void {
    const handle = this.#handle;
    if (handle.reading && !this.socket.destroyed) {
      handle.reading = false;
      handle.readStop();
    }
  }

  /** Gives the socket back to node's stream (for a tunnel) and lets the parser go. */
  #release(): void {
    const socket = this.socket;
    socket.off('close', this.#onClose);
    socket.off('drain', this.#onDrain);
    socket.off('end', this.#onEnd);
    socket.off('timeout', this.#onTimeout);
    socket.off('error', ignoreError);
    this.#forget();
  }

  #forget(): void {
    this.#released = true;
    this.#server.forget(this);
    if (this.#consumed) this.#parser.unconsume();
    this.#consumed = false;
    // After the parser's callbacks have returned, as node's http server frees its parsers.
    setImmediate(closeParser, this.#parser);
  }

  readonly #onDrain = (): void => {
    this.#answers[0]?.drained();
  };

  readonly #onTimeout = (): void => {
    this.socket.destroy();
  };

  /** The client ended its side: as node's http server does, the router ends its own. */
  readonly #onEnd = (): void => {
    if (this.socket.writable) this.#closeSoon();
  };

  readonly #onClose = (): void => {
    this.#forget();
    for (const res of this.#answers.splice(0)) res.clientGone();
    const body = this.#reading?.body;
    if (body != null && !body.readableEnded)
      body.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    this.#reading = null;
  };
}

function destroySocket(this: Socket): void {
  this.destroy();
}

function drainedLater(res: Http1Response): void {
  res.drained();
}

function closeParser(parser: HttpParser): void {
  parser.close();
}

function ignoreError(): void {}

/**
 * `Upgrade: h2c` (HTTP/2 over cleartext, dropped from RFC 9113) comes with plain requests from
 * curl --http2 and Java's HttpClient. The router answers in HTTP/1.1, so such a request is no tunnel:
 * it is routed and measured like any other, and so are the requests after it.
 */
export function isH2cUpgrade(headers: IncomingHttpHeaders): boolean {
  const upgrade = headers.upgrade;
  return typeof upgrade === 'string' && upgrade.trim().toLowerCase() === 'h2c';
}

/** The listening side: accepts connections (or takes them from the h2c front) and tracks them. */
export class Http1Server {
  readonly server: Server;
  readonly handlers: Http1Handlers;
  readonly idleTimeoutMs: number;
  /** Sent with every answer that keeps its connection, as node's http server does. */
  readonly keepAliveHint: string;
  readonly #connections = new Set<Connection>();

  constructor(options: Http1Options, handlers: Http1Handlers) {
    this.handlers = handlers;
    // node's http server waits one second more than it advertises, so a client that reuses a
    // connection at the last moment does not meet it closing.
    this.idleTimeoutMs = options.idleTimeoutMs + 1000;
    this.keepAliveHint = `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(options.idleTimeoutMs / 1000)}\r\n`;
    // Half-open, as node's http server: a tunnel outlives the client's end of its side (upgrade.ts).
    this.server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket, null));
  }

  /** Serves a connection; `seen` are bytes already read from it (by the h2c front's sniffing). */
  accept(socket: Socket, seen: Buffer | null): void {
    const connection = new Connection(this, socket);
    this.#connections.add(connection);
    connection.start(seen);
  }

  /** Resolves once every connection has sent what was written to it (or closed). */
  delivered(): Promise<void> {
    const sending = [...this.#connections]
      .map(({ socket }) => socket)
      .filter((socket) => socket.writableLength > 0 && !socket.destroyed)
      .map(
        (socket) =>
          new Promise((resolve) => {
            socket.once('close', resolve);
            // An empty write's callback comes once the bytes before it are out ('drain' comes only
            // after a full buffer); an ended socket says so with 'finish'.
            if (socket.writableEnded) socket.once('finish', resolve);
            else socket.write(EMPTY, resolve);
          }),
      );
    return Promise.all(sending).then(() => undefined);
  }

  forget(connection: Connection): void {
    this.#connections.delete(connection);
  }

  /** Closes the connections waiting for their next request (Connection.closeIfIdle). */
  closeIdleConnections(): void {
    for (const connection of this.#connections) connection.closeIfIdle();
  }

  closeAllConnections(): void {
    for (const connection of this.#connections) connection.socket.destroy();
  }
}
