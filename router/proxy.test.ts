import { describe, expect, it } from 'vitest';
import { parseRouteTable } from '../api/routes.js';
import { compileRoutes } from './decide.js';
import { NoPrefaceError, StreamResetError } from './h2c-upstream.js';
import { errorKind, type FailedAttempt, fallbackTarget } from './proxy.js';
import type { Pool } from './undici.js';

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

describe('fallbackTarget', () => {
  const routes = compileRoutes(
    parseRouteTable({
      service: 'shop',
      generation: 1,
      tracks: { stable: { upstream: 'http://shop-stable' }, canary: { upstream: 'http://shop-canary' } },
      weights: { stable: 90, canary: 10 },
    }),
  );
  const withOwnTrack = { routes, ownTrack: {} as Pool };
  const STABLE = 0;
  const CANARY = 1;
  const attempt = (failed: Partial<FailedAttempt>): FailedAttempt => ({
    servedHere: false,
    hop: false,
    sentAgain: false,
    refused: false,
    ...failed,
  });

  it.each([
    [
      'a canary request, sent to the canary routers',
      CANARY,
      attempt({}),
      { index: STABLE, elsewhere: false },
    ],
    [
      'a hop the canary app refused',
      CANARY,
      attempt({ servedHere: true, hop: true, refused: true }),
      { index: STABLE, elsewhere: false },
    ],
    [
      'a request the own app refused',
      STABLE,
      attempt({ servedHere: true, refused: true }),
      { index: STABLE, elsewhere: true },
    ],
    [
      'a request the own app closed on',
      STABLE,
      attempt({ servedHere: true }),
      { index: STABLE, elsewhere: true },
    ],
    [
      'a hop the own app refused',
      STABLE,
      attempt({ servedHere: true, hop: true, refused: true }),
      { index: STABLE, elsewhere: true },
    ],
    [
      'a hop the own app closed on (its sender decides)',
      STABLE,
      attempt({ servedHere: true, hop: true }),
      null,
    ],
    ["a request to the baseline's routers", STABLE, attempt({}), { index: STABLE, elsewhere: false }],
    [
      'a hop that was already sent again',
      STABLE,
      attempt({ servedHere: true, hop: true, sentAgain: true, refused: true }),
      null,
    ],
    [
      'a canary hop that was already sent again',
      CANARY,
      attempt({ servedHere: true, hop: true, sentAgain: true }),
      null,
    ],
  ] as const)('%s', (_what, index, failed, target) => {
    expect(fallbackTarget(withOwnTrack, routes.decision(index, 'weight'), failed)).toEqual(target);
  });

  it('never sends a retry again', () => {
    for (const index of [STABLE, CANARY]) {
      for (const servedHere of [false, true]) {
        const failed = attempt({ servedHere, refused: true });
        expect(fallbackTarget(withOwnTrack, routes.decision(index, 'fallback'), failed)).toBeNull();
      }
    }
  });

  it('has nowhere to send what the own app failed when the table has no upstream for the own track', () => {
    const failed = attempt({ servedHere: true, refused: true });
    expect(fallbackTarget({ routes, ownTrack: null }, routes.decision(STABLE, 'weight'), failed)).toBeNull();
  });
});
