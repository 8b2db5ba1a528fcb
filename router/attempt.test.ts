import { describe, expect, it } from 'vitest';
import { parseRouteTable } from '../api/routes.js';
import { Attempt, type FailedAttempt, fallbackTarget } from './attempt.js';
import { compileRoutes } from './decide.js';
import { HopKind, HopSecret } from './hop.js';
import type { RouteState } from './proxy.js';
import type { Pool } from './undici.js';

const routes = compileRoutes(
  parseRouteTable({
    service: 'shop',
    generation: 1,
    tracks: { stable: { upstream: 'http://shop-stable' }, canary: { upstream: 'http://shop-canary' } },
    weights: { stable: 90, canary: 10 },
  }),
);
const STABLE = 0;
const CANARY = 1;

describe('fallbackTarget', () => {
  const withOwnTrack = { routes, ownTrack: {} as Pool };
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

describe('Attempt', () => {
  /** The route state of a stable router; upstreams are named, decisions counted by slot. */
  function stableRouter(): { state: RouteState; counted: number[] } {
    const counted: number[] = [];
    const state = {
      routes,
      pools: [],
      h2cPools: [],
      origins: ['http://shop-stable', 'http://shop-canary'],
      local: [true, false],
      ownTrack: {} as Pool,
      ownTrackH2c: null,
      ownTrackOrigin: 'http://shop-stable',
      decisionCounters: Array.from({ length: 64 }, (_, slot) => ({ inc: () => counted.push(slot) })),
    };
    return { state, counted };
  }
  const secret = new HopSecret();
  secret.set('s3cret');
  const upstreamOf = (attempt: Attempt) => attempt.upstream('app', 'own track Service', ['stable', 'canary']);

  it('sends a request the own app refused to the own track Service, marked as sent again', () => {
    const { state, counted } = stableRouter();
    const first = routes.decision(STABLE, 'weight');
    const attempt = new Attempt(state, first, HopKind.None);
    expect(counted).toEqual([first.slot]);
    expect([attempt.servedHere, upstreamOf(attempt), attempt.hopHeader(secret)]).toEqual([true, 'app', null]);
    expect(attempt.upstreamName).toBe('app');

    const target = attempt.fallback(true);
    expect(target).toEqual({ index: STABLE, elsewhere: true });
    attempt.retryTo(target!);
    expect(attempt.decision).toMatchObject({ track: 'stable', reason: 'fallback' });
    expect(counted).toEqual([first.slot, attempt.decision.slot]);
    expect([attempt.servedHere, attempt.elsewhere, upstreamOf(attempt)]).toEqual([
      false,
      true,
      'own track Service',
    ]);
    expect(attempt.hopHeader(secret)).toBe('s3cret; fallback');
    expect(attempt.upstreamName).toBe('own track');
    expect(attempt.fallback(true)).toBeNull();
  });

  it("sends a canary request to the canary's routers, and to the own app when they fail", () => {
    const { state } = stableRouter();
    const attempt = new Attempt(state, routes.decision(CANARY, 'weight'), HopKind.None);
    expect([attempt.servedHere, upstreamOf(attempt), attempt.hopHeader(secret)]).toEqual([
      false,
      'canary',
      's3cret',
    ]);
    expect(attempt.upstreamName).toBe('hop');

    attempt.retryTo(attempt.fallback(false)!);
    expect([attempt.servedHere, attempt.elsewhere, upstreamOf(attempt)]).toEqual([true, false, 'app']);
    expect(attempt.hopHeader(secret)).toBeNull();
  });

  it('serves a hop here until the own app refuses it; then it is a hop no more', () => {
    const { state } = stableRouter();
    const attempt = new Attempt(state, routes.decision(STABLE, 'hop'), HopKind.Routed);
    expect([attempt.hop, attempt.servedHere]).toEqual([true, true]);
    expect(attempt.fallback(false)).toBeNull(); // closed on: the sender decides
    attempt.retryTo(attempt.fallback(true)!);
    expect([attempt.hop, attempt.servedHere, upstreamOf(attempt)]).toEqual([
      false,
      false,
      'own track Service',
    ]);
  });

  it('never sends on a hop that was already sent again', () => {
    const { state } = stableRouter();
    const attempt = new Attempt(state, routes.decision(STABLE, 'hop'), HopKind.Fallback);
    expect(attempt.servedHere).toBe(true);
    expect(attempt.fallback(true)).toBeNull();
  });
});
