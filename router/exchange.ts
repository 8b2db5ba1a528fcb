// What the data plane needs of a client's request and of its answer, whichever front it came
// through: HTTP/1.1 (router/http1.ts) or HTTP/2 (router/h2c-stream.ts).

import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { ForwardedFrom } from './headers.js';

export interface ClientRequest {
  readonly method: string;
  readonly url: string;
  /** Lower-case names; over HTTP/2 the pseudo-headers too. */
  readonly headers: IncomingHttpHeaders;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  /** The client's connection, for X-Forwarded-For and -Proto. */
  readonly socket: ForwardedFrom;
  /** The request body; null when the request has none. */
  readonly body: Readable | null;
  /** Drops the client's connection (HTTP/1.1) or stream (HTTP/2) without an answer. */
  abandon(): void;
}

export interface ClientResponse {
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  /** Headers as a flat [name, value, ...] list; the reason phrase is kept over HTTP/1.1 only. */
  writeHead(statusCode: number, headers: readonly string[]): this;
  writeHead(statusCode: number, statusText: string, headers: readonly string[]): this;
  writeProcessing(): void;
  writeEarlyHints(hints: Record<string, string | string[]>): void;
  /** false: stop until 'drain'. */
  write(chunk: Buffer): boolean;
  end(body?: string | Buffer): void;
  /** Cuts the answer short: the client learns it is incomplete. */
  destroy(): void;
  /** 'close': the client left (or the answer is over); 'drain': write more. `this` is the response. */
  on(event: 'close' | 'drain', listener: (this: ClientResponse) => void): this;
  once(event: 'close' | 'drain', listener: (this: ClientResponse) => void): this;
}
