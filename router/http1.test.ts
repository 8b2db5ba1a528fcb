import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { headersOf, isH2cUpgrade } from './http1.js';

/** The headers node's http server gives a request with these raw lines. */
function nodeHeaders(raw: string[]): IncomingMessage['headers'] {
  const message = new IncomingMessage(new Socket());
  (message as unknown as { _addHeaderLines(raw: string[], n: number): void })._addHeaderLines(
    raw,
    raw.length,
  );
  return message.headers;
}

describe('headersOf', () => {
  it.each([
    [['Host', 'a', 'X-Canary', 'always'], { host: 'a', 'x-canary': 'always' }],
    [['Accept', 'a', 'accept', 'b'], { accept: 'a, b' }],
    [['Cookie', 'a=1', 'Cookie', 'b=2'], { cookie: 'a=1; b=2' }],
    [['Host', 'first', 'HOST', 'second'], { host: 'first' }],
    [
      ['Content-Length', '5', 'Content-Type', 'x', 'content-type', 'y'],
      { 'content-length': '5', 'content-type': 'x' },
    ],
    [['Set-Cookie', 'a', 'Set-Cookie', 'b'], { 'set-cookie': ['a', 'b'] }],
    [['Constructor', 'x', 'toString', 'y'], { constructor: 'x', tostring: 'y' }],
  ])('%j → %j', (raw, expected) => {
    expect(headersOf(raw)).toEqual(expected);
  });

  it('gives what node http server gives, for any repeated names', () => {
    const name = fc.constantFrom(
      'Host',
      'cookie',
      'Set-Cookie',
      'Accept',
      'X-A',
      'user-agent',
      'Authorization',
      'ETag',
    );
    const value = fc.stringMatching(/^[a-z0-9=]{0,6}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 12 }), (lines) => {
        const raw = lines.flat();
        expect(headersOf(raw)).toEqual({ ...nodeHeaders(raw) });
      }),
    );
  });
});

describe('isH2cUpgrade', () => {
  it.each([
    [{ upgrade: 'h2c' }, true],
    [{ upgrade: ' H2C ' }, true],
    [{ upgrade: 'websocket' }, false],
    [{}, false],
  ])('%j → %s', (headers, expected) => {
    expect(isH2cUpgrade(headers)).toBe(expected);
  });
});
