// A client's HTTP/2 stream (`--protocol h2c`) as the data plane handles requests (router/exchange.ts),
// over node's core http2 API. node's compatibility layer (Http2ServerRequest and
// Http2ServerResponse) gave the same members as two more streams per call, with their own
// buffering, listeners and header validation on top of the Http2Stream.

import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { ClientRequest, ClientResponse } from './exchange.js';
import { type ForwardedFrom, headerObject } from './headers.js';

/** The request: its headers (pseudo-headers included, as node gives them), path, method and body. */
export class H2cRequest implements ClientRequest {
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  readonly url: string;
  readonly method: string;
  /** The stream's readable side; null when the HEADERS frame ended it (gRPC bodies have no length). */
  readonly body: ServerHttp2Stream | null;

  constructor(
    /** The request body is the stream's readable side; the answer goes on its writable side. */
    readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    /** The client's connection, for X-Forwarded-For. */
    readonly socket: ForwardedFrom,
  ) {
    this.url = headers[':path'] ?? '/';
    this.method = headers[':method'] ?? 'GET';
    this.body = stream.endAfterHeaders ? null : stream;
  }

  /** Resets the stream. */
  abandon(): void {
    this.stream.destroy();
  }
}

type Listener = (this: H2cResponse) => void;

/**
 * The answer: response headers, body and trailers on the stream. As node's compatibility response
 * does, it waits for trailers after the body (gRPC's status is one) and ends the stream with them,
 * or with an empty DATA frame when there are none; and it does nothing once the stream is gone
 * (the client reset it).
 */
export class H2cResponse implements ClientResponse {
  readonly stream: ServerHttp2Stream;
  #trailers: OutgoingHttpHeaders = {};
  #ended = false;

  constructor(stream: ServerHttp2Stream) {
    this.stream = stream;
    // A client's RST_STREAM with an error code is an 'error' on the stream; 'close' follows, which
    // is what the data plane acts on.
    stream.on('error', ignoreError);
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  /**
   * Whether this response ended the stream. Not the stream's own flag: node ends the writable side
   * of a stream the client reset, and the data plane tells a client that left by that.
   */
  get writableEnded(): boolean {
    return this.#ended;
  }

  get writableFinished(): boolean {
    return this.stream.writableFinished;
  }

  writeHead(
    statusCode: number,
    textOrHeaders?: string | readonly string[] | OutgoingHttpHeaders,
    maybeHeaders?: readonly string[] | OutgoingHttpHeaders,
  ): this {
    const stream = this.stream;
    if (gone(stream) || stream.headersSent) return this;
    // HTTP/2 has no reason phrase.
    const given = typeof textOrHeaders === 'string' ? maybeHeaders : textOrHeaders;
    const headers: OutgoingHttpHeaders = Array.isArray(given)
      ? headerObject(given)
      : { ...(given as OutgoingHttpHeaders) };
    headers[':status'] = statusCode;
    stream.respond(headers, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers(this.#trailers));
    return this;
  }

  /** 102 Processing, an interim answer. */
  writeProcessing(): void {
    if (!gone(this.stream)) this.stream.additionalHeaders({ ':status': 102 });
  }

  /** 103 Early Hints, an interim answer. */
  writeEarlyHints(hints: Record<string, string | string[]>): void {
    if (!gone(this.stream)) this.stream.additionalHeaders({ ...hints, ':status': 103 });
  }

  write(chunk: Buffer): boolean {
    const stream = this.stream;
    if (gone(stream)) return false;
    if (!stream.headersSent) this.writeHead(200);
    return stream.write(chunk);
  }

  end(body?: string | Buffer): void {
    const stream = this.stream;
    if (gone(stream) || stream.writableEnded) return;
    this.#ended = true;
    if (!stream.headersSent) this.writeHead(200);
    if (body === undefined) stream.end();
    else stream.end(body);
  }

  /**
   * A gRPC Trailers-Only answer (an error without messages): clients read its status only from a
   * HEADERS frame that ends the stream, which a response waiting for trailers never sends. A
   * client that reset the stream meanwhile gets nothing.
   */
  respondTrailersOnly(statusCode: number, flat: readonly string[]): void {
    const stream = this.stream;
    if (gone(stream)) return;
    const headers: OutgoingHttpHeaders = headerObject(flat);
    headers[':status'] = statusCode;
    stream.respond(headers, { endStream: true });
  }

  /** REFUSED_STREAM: nothing upstream processed the request, so the client may send it again. */
  refuse(): void {
    if (gone(this.stream)) return;
    this.stream.close(process.getBuiltinModule('node:http2').constants.NGHTTP2_REFUSED_STREAM);
  }

  addTrailers(trailers: OutgoingHttpHeaders): void {
    this.#trailers = trailers;
  }

  destroy(): void {
    this.stream.destroy();
  }

  /** 'close' (the stream is over, answered or reset) and 'drain', called with this response as `this`. */
  on(event: 'close' | 'drain', listener: Listener): this {
    this.stream.on(event, () => listener.call(this));
    return this;
  }

  once(event: 'close' | 'drain', listener: Listener): this {
    this.stream.once(event, () => listener.call(this));
    return this;
  }
}

function ignoreError(): void {}

/** Closed (by an RST_STREAM either way) or destroyed: node throws on anything sent on it. */
function gone(stream: ServerHttp2Stream): boolean {
  return stream.closed || stream.destroyed;
}
