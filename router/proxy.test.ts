import { describe, expect, it } from 'vitest';
import { NoPrefaceError, StreamResetError } from './h2c-upstream.js';
import { errorKind } from './proxy.js';

/** An error as node's net and undici report it. */
function netError(code: string, syscall?: string): Error {
  return Object.assign(new Error(`${syscall ?? ''} ${code}`), { code, ...(syscall && { syscall }) });
}

describe('errorKind', () => {
  it.each([
    [netError('ECONNREFUSED', 'connect'), 'connect'],
    [netError('ENOTFOUND', 'getaddrinfo'), 'connect'],
    // Reset during the handshake: nothing was sent (a user-space proxy accepted, found no pod).
    [netError('ECONNRESET', 'connect'), 'connect'],
    [netError('ECONNRESET', 'read'), 'reset'],
    [netError('UND_ERR_SOCKET'), 'reset'],
    [netError('ETIMEDOUT', 'connect'), 'timeout'],
    [netError('UND_ERR_HEADERS_TIMEOUT'), 'timeout'],
    [new NoPrefaceError(netError('ECONNRESET', 'read')), 'connect'],
    [new StreamResetError('the upstream reset the stream'), 'reset'],
    [new Error('anything else'), 'reset'],
  ])('%s is %s', (error, kind) => {
    expect(errorKind(error)).toBe(kind);
  });
});
