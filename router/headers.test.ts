import { describe, expect, it } from 'vitest';
import { connectionNamed, downstreamHeaders, type RawHeaders, upstreamHeaders } from './headers.js';

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

describe('connectionNamed', () => {
  it.each([
    [undefined, null],
    ['keep-alive', null],
    ['Close', null],
    ['keep-alive, X-Secret', ['x-secret']],
    ['close, a ,b', ['a', 'b']],
  ])('%j → %j', (value, expected) => {
    const named = connectionNamed(value);
    expect(named === null ? null : [...named]).toEqual(expected);
  });
});

describe('upstreamHeaders', () => {
  it('drops hop-by-hop, Connection-named, proxy-*, our routing headers; adds X-Forwarded-*', () => {
    const out = upstreamHeaders(
      {
        host: 'shop.example',
        connection: 'keep-alive, x-secret',
        'x-secret': '1',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        'proxy-authorization': 'Basic x',
        expect: '100-continue',
        'x-canary': 'always',
        'x-switchyard-hop': 'forged',
        'x-forwarded-for': '198.51.100.1',
        accept: 'text/html',
        'set-cookie': ['a=1', 'b=2'],
      },
      'x-canary',
      { remoteAddress: '10.0.0.7' },
      'hop-token',
      'http',
    );
    expect(pairs(out)).toEqual([
      ['host', 'shop.example'],
      ['accept', 'text/html'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['x-forwarded-for', '198.51.100.1, 10.0.0.7'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'shop.example'],
      ['x-switchyard-hop', 'hop-token'],
    ]);
  });

  it('keeps Connection: upgrade and Upgrade for upgrade requests, honours a custom canary header', () => {
    const out = upstreamHeaders(
      {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'x-test-version': 'canary',
        'x-forwarded-proto': 'https',
      },
      'x-test-version',
      { remoteAddress: '::1', encrypted: false },
      null,
      'upgrade',
    );
    expect(pairs(out)).toEqual([
      ['x-forwarded-for', '::1'],
      ['x-forwarded-proto', 'https'],
      ['connection', 'upgrade'],
      ['upgrade', 'websocket'],
    ]);
  });

  it('over HTTP/2 drops the pseudo-headers, turns :authority into Host and keeps te: trailers', () => {
    const headers = {
      ':method': 'POST',
      ':path': '/shop.Cart/Add',
      ':scheme': 'http',
      ':authority': 'cart.shop:8080',
      'content-type': 'application/grpc',
      te: 'trailers',
      'x-canary': 'always',
    };
    const out = upstreamHeaders(headers, 'x-canary', { remoteAddress: '10.0.0.7' }, null, 'h2c');
    expect(pairs(out)).toEqual([
      ['content-type', 'application/grpc'],
      ['x-forwarded-for', '10.0.0.7'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'cart.shop:8080'],
      ['te', 'trailers'],
      ['host', 'cart.shop:8080'],
    ]);
    // Any other TE value is not HTTP/2's to send (RFC 9113 8.2.2); a Host the client sent wins.
    const other = upstreamHeaders(
      { ...headers, te: 'gzip', host: 'cart' },
      'x-canary',
      { remoteAddress: '10.0.0.7' },
      null,
      'h2c',
    );
    expect(pairs(other).filter(([name]) => name === 'te' || name === 'host')).toEqual([['host', 'cart']]);
  });
});

describe.each([
  ['Buffers, as undici parses them', (...values: string[]) => values.map((v) => Buffer.from(v, 'latin1'))],
  ['strings, as the HTTP/2 client gives them', (...values: string[]) => values],
])('downstreamHeaders of raw headers as %s', (_kind, raw: (...values: string[]) => RawHeaders) => {
  it('drops hop-by-hop and Connection-named response headers, appends the sticky cookie and close', () => {
    const out = downstreamHeaders(
      raw(
        'Content-Type',
        'text/plain',
        'Connection',
        'x-internal',
        'X-Internal',
        '1',
        'Keep-Alive',
        'timeout=5',
        'Transfer-Encoding',
        'chunked',
        'Set-Cookie',
        'a=1',
      ),
      'switchyard-track=canary; Path=/',
      true,
    );
    expect(pairs(out)).toEqual([
      ['Content-Type', 'text/plain'],
      ['Set-Cookie', 'a=1'],
      ['set-cookie', 'switchyard-track=canary; Path=/'],
      ['connection', 'close'],
    ]);
  });

  it('passes ordinary headers through unchanged, in the app’s spelling', () => {
    expect(
      pairs(downstreamHeaders(raw('ETag', '"1"', 'Content-Length', '2', 'Pragma', 'no-cache'), null, false)),
    ).toEqual([
      ['ETag', '"1"'],
      ['Content-Length', '2'],
      ['Pragma', 'no-cache'],
    ]);
  });

  it('drops Connection-named headers whatever their case, and proxy-* headers', () => {
    const out = downstreamHeaders(
      raw('connection', 'X-Trace', 'x-trace', '1', 'PROXY-Authenticate', 'Basic', 'Te', 'x'),
      null,
      false,
    );
    expect(out).toEqual([]);
  });

  it('drops the headers named by every Connection header, not only the last', () => {
    const out = downstreamHeaders(
      raw('Connection', 'x-a', 'Connection', 'x-b', 'X-A', '1', 'X-B', '2', 'X-C', '3'),
      null,
      false,
    );
    expect(pairs(out)).toEqual([['X-C', '3']]);
  });
});
