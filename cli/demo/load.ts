// The demo's clients: an open-loop load generator at a fixed request rate with a bound on requests
// in flight, counting what clients see — answers per version (x-shop-version) and failures.

import { Pool } from 'undici';
import { errorMessage } from '../../api/errors.js';

export interface ClientCounts {
  /** Requests answered (any status) or failed, by the version that answered ('none' = no answer). */
  readonly byVersion: Readonly<Record<string, number>>;
  readonly sent: number;
  /** 5xx answers plus requests with no answer at all: what a user would call an error. */
  readonly failed: number;
  readonly serverErrors: number;
  readonly networkErrors: number;
  /** Requests not sent because `maxInFlight` were still outstanding (the system was slower than the rate). */
  readonly shed: number;
  readonly lastError: string | null;
}

export interface LoadOptions {
  readonly target: string;
  readonly rps: number;
  readonly maxInFlight: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Fraction of requests that also carry `segment` (A/B traffic). */
  readonly segment?: { readonly share: number; readonly name: string; readonly value: string };
  readonly random?: () => number;
  readonly now?: () => number;
}

const PATHS = ['/', '/products', '/', '/products', '/'];
const TICK_MS = 20;

export class LoadGenerator {
  readonly #options: LoadOptions;
  readonly #pool: Pool;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #byVersion = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #startedAt = 0;
  #sent = 0;
  #scheduled = 0;
  #inFlight = 0;
  #serverErrors = 0;
  #networkErrors = 0;
  #shed = 0;
  #lastError: string | null = null;
  #idle: (() => void) | null = null;
  #stopping: Promise<void> | null = null;

  constructor(options: LoadOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? (() => performance.now());
    this.#pool = new Pool(options.target, {
      connections: Math.max(1, Math.min(32, options.maxInFlight)),
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
      keepAliveTimeout: 10_000,
    });
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#startedAt = this.#now();
    this.#scheduled = 0;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  #tick(): void {
    const due = Math.floor(((this.#now() - this.#startedAt) / 1000) * this.#options.rps) - this.#scheduled;
    for (let i = 0; i < due; i++) {
      this.#scheduled++;
      if (this.#inFlight >= this.#options.maxInFlight) this.#shed++;
      else this.#send();
    }
  }

  #send(): void {
    this.#sent++;
    this.#inFlight++;
    const path = PATHS[this.#sent % PATHS.length]!;
    const headers: Record<string, string> = { ...this.#options.headers };
    const segment = this.#options.segment;
    if (segment && this.#random() < segment.share) headers[segment.name] = segment.value;
    this.#pool
      .request({ method: 'GET', path, headers })
      .then(async (response) => {
        const version = response.headers['x-shop-version'];
        this.#count(typeof version === 'string' ? version : 'none');
        if (response.statusCode >= 500) {
          this.#serverErrors++;
          this.#lastError = `HTTP ${response.statusCode} from ${typeof version === 'string' ? version : 'the router'}`;
        }
        await response.body.dump();
      })
      .catch((error: unknown) => {
        this.#count('none');
        this.#networkErrors++;
        this.#lastError = errorMessage(error);
      })
      .finally(() => {
        this.#inFlight--;
        if (this.#inFlight === 0 && this.#idle) this.#idle();
      });
  }

  #count(version: string): void {
    this.#byVersion.set(version, (this.#byVersion.get(version) ?? 0) + 1);
  }

  counts(): ClientCounts {
    return {
      byVersion: Object.fromEntries(this.#byVersion),
      sent: this.#sent,
      failed: this.#serverErrors + this.#networkErrors,
      serverErrors: this.#serverErrors,
      networkErrors: this.#networkErrors,
      shed: this.#shed,
      lastError: this.#lastError,
    };
  }

  /** Stops sending, waits (bounded) for the requests in flight, closes the connections. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#inFlight > 0) {
      await Promise.race([
        new Promise<void>((resolve) => {
          this.#idle = resolve;
        }),
        new Promise<void>((resolve) => setTimeout(resolve, 3000).unref()),
      ]);
    }
    await this.#pool.destroy();
  }
}

/** Sums the counts of several generators (main load + tester). */
export function addCounts(a: ClientCounts, b: ClientCounts): ClientCounts {
  const byVersion: Record<string, number> = { ...a.byVersion };
  for (const [version, count] of Object.entries(b.byVersion))
    byVersion[version] = (byVersion[version] ?? 0) + count;
  return {
    byVersion,
    sent: a.sent + b.sent,
    failed: a.failed + b.failed,
    serverErrors: a.serverErrors + b.serverErrors,
    networkErrors: a.networkErrors + b.networkErrors,
    shed: a.shed + b.shed,
    lastError: b.lastError ?? a.lastError,
  };
}
