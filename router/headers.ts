// Header hygiene between client, router and app: hop-by-hop headers (and those named by Connection)
// are dropped both ways, our own routing headers never reach the app, X-Forwarded-* are added.

import { HOP_HEADER } from './hop.js';

/** Hop-by-hop headers (RFC 9110 7.6.1): they describe one connection, never the message. */
const HOP_BY_HOP = {
  connection: true,
  'keep-alive': true,
  te: true,
  trailer: true,
  'transfer-encoding': true,
  upgrade: true,
} as const;

const DROP_REQUEST: Readonly<Record<string, true>> = Object.assign(Object.create(null), HOP_BY_HOP, {
  expect: true, // the router answers 100-continue itself; undici rejects the header
  [HOP_HEADER]: true,
  'x-forwarded-for': true,
  'x-forwarded-proto': true,
  'x-forwarded-host': true,
});

/** Over HTTP/2 the pseudo-headers are the request line: the client library writes them anew. */
const DROP_REQUEST_H2C: Readonly<Record<string, true>> = Object.assign(Object.create(null), DROP_REQUEST, {
  ':method': true,
  ':path': true,
  ':scheme': true,
  ':authority': true,
  ':protocol': true,
});

const DROP_RESPONSE: Readonly<Record<string, true>> = Object.assign(Object.create(null), HOP_BY_HOP);

function isProxyHeader(name: string): boolean {
  return name.length > 6 && name.charCodeAt(0) === 112 && name.startsWith('proxy-');
}

/** Header names listed in a Connection value, beyond the usual keep-alive/close/upgrade; null if none. */
export function connectionNamed(value: string | undefined): Set<string> | null {
  if (value === undefined) return null;
  const lower = value.toLowerCase();
  if (lower === 'keep-alive' || lower === 'close' || lower === 'upgrade') return null;
  let named: Set<string> | null = null;
  for (const part of lower.split(',')) {
    const name = part.trim();
    if (name.length === 0 || name === 'keep-alive' || name === 'close') continue;
    named ??= new Set();
    named.add(name);
  }
  return named;
}

export interface ForwardedFrom {
  readonly remoteAddress?: string | undefined;
  /** Present (true) on TLS sockets. */
  readonly encrypted?: boolean;
}

/**
 * How a request travels on: plain HTTP/1.1; an HTTP/1.1 Upgrade, which keeps Connection/Upgrade; or
 * HTTP/2, where `:authority` becomes Host and `te: trailers` (which gRPC requires) is kept.
 */
export type UpstreamMode = 'http' | 'upgrade' | 'h2c';

/**
 * Builds the flat [name, value, ...] header list for the app or the next router. `hop` is the
 * x-switchyard-hop value to add (null: none).
 */
export function upstreamHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  canaryHeader: string,
  from: ForwardedFrom,
  hop: string | null,
  mode: UpstreamMode,
): string[] {
  const named = connectionNamed(headers.connection as string | undefined);
  const drop = mode === 'h2c' ? DROP_REQUEST_H2C : DROP_REQUEST;
  const out: string[] = [];
  for (const name in headers) {
    if (drop[name] === true || name === canaryHeader || isProxyHeader(name)) continue;
    if (named?.has(name)) continue;
    const value = headers[name];
    if (typeof value === 'string') out.push(name, value);
    else if (value !== undefined) for (const item of value) out.push(name, item);
  }
  const xff = headers['x-forwarded-for'];
  const client = from.remoteAddress ?? '';
  out.push('x-forwarded-for', typeof xff === 'string' && xff.length > 0 ? `${xff}, ${client}` : client);
  const proto = headers['x-forwarded-proto'];
  out.push(
    'x-forwarded-proto',
    typeof proto === 'string' ? proto : from.encrypted === true ? 'https' : 'http',
  );
  const forwardedHost = headers['x-forwarded-host'] ?? headers.host ?? headers[':authority'];
  if (typeof forwardedHost === 'string') out.push('x-forwarded-host', forwardedHost);
  if (hop !== null) out.push(HOP_HEADER, hop);
  if (mode === 'h2c') {
    // The one TE value HTTP/2 allows; it says the client accepts trailers, where gRPC puts its status.
    if (headers.te === 'trailers') out.push('te', 'trailers');
    const authority = headers[':authority'];
    if (headers.host === undefined && typeof authority === 'string') out.push('host', authority);
  } else if (mode === 'upgrade') {
    out.push('connection', 'upgrade');
    const upgrade = headers.upgrade;
    if (typeof upgrade === 'string') out.push('upgrade', upgrade);
  }
  return out;
}

const CHAR_P = 112;
const CHAR_UPPER_P = 80;

/**
 * A response's headers as [name, value, ...]: Buffers as undici's HTTP/1.1 parser gives them, or
 * strings as the router's HTTP/2 client does (node decodes them; router/h2c-upstream.ts).
 */
export type RawHeaders = (Buffer | string)[];

/** The text of a raw header name or value (HTTP header bytes are latin1). */
export function headerText(raw: Buffer | string): string {
  return typeof raw === 'string' ? raw : raw.toString('latin1');
}

/** Cheap pre-check on the raw name: only names of these lengths, or starting with p, can be dropped. */
function mayDrop(name: Buffer | string): boolean {
  const length = name.length;
  const first = typeof name === 'string' ? name.charCodeAt(0) : name[0];
  return (
    length === 10 ||
    length === 2 ||
    length === 7 ||
    length === 17 ||
    first === CHAR_P ||
    first === CHAR_UPPER_P
  );
}

/**
 * Converts undici's raw response headers to a flat list for `res.writeHead`, dropping hop-by-hop
 * ones. Names keep the app's spelling; only candidates for dropping are lower-cased to compare.
 */
export function downstreamHeaders(
  raw: Readonly<RawHeaders>,
  setCookie: string | null,
  close: boolean,
): string[] {
  const out: string[] = [];
  let named: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const rawName = raw[i]!;
    const name = headerText(rawName);
    if (mayDrop(rawName)) {
      const lower = name.toLowerCase();
      if (lower === 'connection') {
        // Every Connection header counts; a response may carry several.
        const more = connectionNamed(headerText(raw[i + 1]!));
        if (named === null) named = more;
        else if (more !== null) for (const item of more) named.add(item);
      }
      if (DROP_RESPONSE[lower] === true || isProxyHeader(lower)) continue;
    }
    out.push(name, headerText(raw[i + 1]!));
  }
  if (named !== null) {
    const kept: string[] = [];
    for (let i = 0; i < out.length; i += 2) {
      if (!named.has(out[i]!.toLowerCase())) kept.push(out[i]!, out[i + 1]!);
    }
    if (setCookie !== null) kept.push('set-cookie', setCookie);
    if (close) kept.push('connection', 'close');
    return kept;
  }
  if (setCookie !== null) out.push('set-cookie', setCookie);
  if (close) out.push('connection', 'close');
  return out;
}

/** A flat [name, value, ...] list as an object of lower-case names; repeated names get arrays. */
export function headerObject(flat: readonly string[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    const seen = headers[name];
    headers[name] = seen === undefined ? flat[i + 1]! : [seen, flat[i + 1]!].flat();
  }
  return headers;
}
