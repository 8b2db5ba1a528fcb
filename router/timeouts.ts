// Upstream headers and body timeouts for the requests in flight, kept by one coarse timer per router.
//
// undici's own per-request timers are switched off (the pools get headersTimeout and bodyTimeout 0).
// Each exchange would create one or two undici "fast timers", and a cleared fast timer stays in
// undici's timer array until its next half-second tick. With the sidecar's 1 MB young generation
// that is long enough for the timers to be promoted: ~1.9 KB of old-generation garbage per request
// at c=50 instead of ~0.1 KB (`--trace-gc-nvp`), and the mark-compacts that follow. Here a request
// only stores a number on its own object and links itself into a list.

import { BodyTimeoutError, HeadersTimeoutError } from './undici.js';

/** An upstream exchange with a deadline, linked into a `Timeouts` list while it is watched. */
export abstract class Expiring {
  /** Monotonic milliseconds after which the exchange expires. */
  expiresAt = 0;
  /** Whether the response head has arrived: then the deadline is the body timeout's. */
  inBody = false;
  watched = false;
  newer: Expiring | null = null;
  older: Expiring | null = null;
  /** Called once when the deadline has passed, with undici's error for it; no longer watched then. */
  abstract expire(error: Error): void;
}

/** How often the list is checked: a tenth of the shortest timeout, between 5 ms and 1 s. */
export function sweepIntervalMs(shortestTimeoutMs: number): number {
  return Math.min(1000, Math.max(5, Math.floor(shortestTimeoutMs / 10)));
}

/**
 * The exchanges being watched, with the router's headers and body timeouts. An exchange expires
 * between its deadline and one sweep interval later, like undici's own timers (whose resolution is
 * 1 s above one second). The timer runs only while something is watched and never keeps the
 * process alive.
 */
export class Timeouts {
  readonly #clock: () => number;
  readonly #headersMs: number;
  readonly #bodyMs: number;
  readonly #intervalMs: number;
  #newest: Expiring | null = null;
  #timer: NodeJS.Timeout | null = null;

  /** `clock` gives monotonic milliseconds (the router clock's `monotonic`). */
  constructor(clock: () => number, headersTimeoutMs: number, bodyTimeoutMs: number) {
    this.#clock = clock;
    this.#headersMs = headersTimeoutMs;
    this.#bodyMs = bodyTimeoutMs;
    this.#intervalMs = sweepIntervalMs(Math.min(headersTimeoutMs, bodyTimeoutMs));
  }

  /** The request is written: the response head is due within the headers timeout. */
  awaitHeaders(item: Expiring): void {
    item.inBody = false;
    this.#watch(item, this.#headersMs);
  }

  /** The head or a body chunk arrived: the next chunk (or the end) is due within the body timeout. */
  awaitBody(item: Expiring): void {
    item.inBody = true;
    this.#watch(item, this.#bodyMs);
  }

  unwatch(item: Expiring): void {
    if (!item.watched) return;
    item.watched = false;
    if (item.newer !== null) item.newer.older = item.older;
    else this.#newest = item.older;
    if (item.older !== null) item.older.newer = item.newer;
    item.newer = null;
    item.older = null;
  }

  #watch(item: Expiring, ms: number): void {
    item.expiresAt = this.#clock() + ms;
    if (item.watched) return;
    item.watched = true;
    item.older = this.#newest;
    if (this.#newest !== null) this.#newest.newer = item;
    this.#newest = item;
    if (this.#timer === null) {
      this.#timer = setInterval(this.#sweep, this.#intervalMs);
      this.#timer.unref();
    }
  }

  readonly #sweep = (): void => {
    const now = this.#clock();
    let item = this.#newest;
    while (item !== null) {
      // Read before expire(), which unwatches this item and may, through undici, unwatch others.
      const older: Expiring | null = item.older;
      if (item.watched && item.expiresAt <= now) {
        this.unwatch(item);
        item.expire(item.inBody ? new BodyTimeoutError() : new HeadersTimeoutError());
      }
      item = older;
    }
    if (this.#newest === null && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  };
}
