// Where one request or WebSocket handshake is sent, and where it goes again when that fails before
// any answer. Requests (router/proxy.ts) and handshakes (router/upgrade.ts) each judge whether a
// second attempt is safe; where it goes, and what the attempt looks like then, is decided here.

import type { ClientRequest } from './exchange.js';
import type { Decision } from './decide.js';
import { HopKind, type HopSecret } from './hop.js';
import type { Log } from './log.js';
import type { UpstreamErrorKind } from './metrics.js';
import type { RouteState } from './proxy.js';

/** Where a failed request goes again: track `index`, or (`elsewhere`) the own track's Service. */
export interface FallbackTarget {
  readonly index: number;
  readonly elsewhere: boolean;
}

/** The attempt that failed, for `fallbackTarget`. */
export interface FailedAttempt {
  /** It went to this router's own app (its track, or a hop it served). */
  readonly servedHere: boolean;
  /** It came as a valid hop from another router. */
  readonly hop: boolean;
  /** It came as a hop marked `fallback`: already a second attempt. */
  readonly sentAgain: boolean;
  /** The upstream refused the connection: nothing reached it. */
  readonly refused: boolean;
}

/**
 * Where a request that failed before any answer, and that is safe to send again (the caller's
 * judgement), goes once more (reason `fallback`); null if nowhere. A retry is not retried, here or
 * at the router it went to (a hop marked `fallback`).
 * - A canary's request goes to the baseline track.
 * - One this router's app failed goes to another pod of this version, through the track's Service:
 *   the app shut down, crashed, or closed a kept connection as the request went out. A hop only when
 *   the app refused it: the sending router has its body no more; otherwise the sender decides.
 * - One another track's routers failed goes to that track again, where its Service picks a pod.
 */
export function fallbackTarget(
  state: Pick<RouteState, 'routes' | 'ownTrack'>,
  decision: Decision,
  failed: FailedAttempt,
): FallbackTarget | null {
  if (decision.reason === 'fallback' || failed.sentAgain) return null;
  const baseline = state.routes.baseline;
  if (decision.index !== baseline) return { index: baseline, elsewhere: false };
  if (!failed.servedHere) return { index: decision.index, elsewhere: false };
  if ((failed.hop && !failed.refused) || state.ownTrack === null) return null;
  return { index: decision.index, elsewhere: true };
}

/** How a log line names where an attempt went. */
export type UpstreamName = 'app' | 'own track' | 'hop';

/**
 * One request's current attempt: its decision, whether it came as a valid hop (served by the local
 * app whatever the table says), and whether it was sent on to the own track's other pods.
 */
export class Attempt {
  readonly #state: RouteState;
  #decision: Decision;
  #hop: boolean;
  /** A hop marked `fallback`: already another attempt, so never sent on again from here. */
  readonly #sentAgain: boolean;
  /** Sent on to the own track's other pods (its Service) because the local app refused it. */
  #elsewhere = false;

  /** Counts `decision` (switchyard_routing_decisions_total), as `retryTo` counts the fallback's. */
  constructor(state: RouteState, decision: Decision, hop: HopKind) {
    this.#state = state;
    this.#decision = decision;
    state.decisionCounters[decision.slot]!.inc();
    this.#hop = hop !== HopKind.None;
    this.#sentAgain = hop === HopKind.Fallback;
  }

  get decision(): Decision {
    return this.#decision;
  }

  /** It came as a valid hop and is served here: the router that sent it answers its client. */
  get hop(): boolean {
    return this.#hop;
  }

  /** It went to the own track's Service: the client had better reconnect, to a pod with an app. */
  get elsewhere(): boolean {
    return this.#elsewhere;
  }

  /** Whether this router's own app serves it (and this router measures it). */
  get servedHere(): boolean {
    return !this.#elsewhere && (this.#hop || this.#state.local[this.#decision.index]!);
  }

  /** Of the upstreams given, the one it goes to: the local app, the own track's Service, or its track's. */
  upstream<T>(local: T, ownTrack: T | null, byTrack: readonly T[]): T {
    if (this.servedHere) return local;
    return this.#elsewhere ? ownTrack! : byTrack[this.#decision.index]!;
  }

  /**
   * The hop header it goes with: none to the local app; marked `fallback` when it is a second
   * attempt, so the router that receives it does not send it on once more.
   */
  hopHeader(secret: HopSecret): string | null {
    if (this.servedHere) return null;
    return secret.header(this.#decision.reason === 'fallback' ? HopKind.Fallback : HopKind.Routed);
  }

  get upstreamName(): UpstreamName {
    return this.servedHere ? 'app' : this.#elsewhere ? 'own track' : 'hop';
  }

  /** Where it goes again after failing in a way the caller judged safe to resend (`fallbackTarget`). */
  fallback(refused: boolean): FallbackTarget | null {
    return fallbackTarget(this.#state, this.#decision, {
      servedHere: this.servedHere,
      hop: this.#hop,
      sentAgain: this.#sentAgain,
      refused,
    });
  }

  /** Becomes the second attempt, to `target`: reason `fallback` (counted), no longer a hop. */
  retryTo(target: FallbackTarget): void {
    const state = this.#state;
    this.#decision = state.routes.decision(target.index, 'fallback');
    state.decisionCounters[this.#decision.slot]!.inc();
    this.#hop = false;
    this.#elsewhere = target.elsewhere;
  }
}

/** What the client of a failed request got: a status, a refused stream, a cut answer, a closed connection. */
export type FailureAnswer = number | 'refused' | 'aborted' | 'closed';

/**
 * One warn line per request (or WebSocket handshake) whose client saw its upstream fail, as nginx's
 * error log has: the request, where it went (`app`, `own track` or `hop`), the error, the answer.
 */
export function logUpstreamFailure(
  logger: Log,
  req: Pick<ClientRequest, 'method' | 'url' | 'headers'>,
  attempt: Attempt,
  error: Error,
  kind: UpstreamErrorKind,
  answered: FailureAnswer,
): void {
  const decision = attempt.decision;
  logger.warn(
    {
      track: decision.track,
      upstream: attempt.upstreamName,
      reason: decision.reason,
      method: req.method,
      path: req.url.split('?', 1)[0],
      upgrade: req.headers.upgrade,
      kind,
      err: error.message,
      code: (error as { code?: unknown }).code,
      answered,
    },
    'upstream failed',
  );
}
