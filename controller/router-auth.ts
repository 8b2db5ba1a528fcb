// How the route server decides that a poll comes from one of our routers: a shared secret in file
// mode, a Kubernetes TokenReview of the router's projected service-account token in cluster mode.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthenticationV1Api } from '@kubernetes/client-node';
import { tokenFileProblem } from '../api/bearer.js';
import { ErrorCode, SwitchyardError } from '../api/errors.js';

export interface RouterAuthenticator {
  authenticate(token: string): Promise<boolean>;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** File mode: every router presents the same secret. Compared in constant time (over digests, so lengths never leak). */
export class SharedSecretAuthenticator implements RouterAuthenticator {
  readonly #expected: Buffer;

  constructor(secret: string) {
    // --router-token-file is checked where it is read; a secret from the config arrives unchecked,
    // and one no Authorization header can carry would lock every router out.
    const problem = tokenFileProblem(secret);
    if (problem !== null) {
      throw new SwitchyardError(ErrorCode.ConfigInvalid, `router secret (routerAuth): ${problem}`, {
        field: 'routerAuth',
      });
    }
    this.#expected = digest(secret);
  }

  async authenticate(token: string): Promise<boolean> {
    return token.length > 0 && timingSafeEqual(digest(token), this.#expected);
  }
}

/** Accepts anything: only for tests and `--router-token-file` absent in a loopback-only demo. */
export const ALLOW_ALL: RouterAuthenticator = Object.freeze({ authenticate: async () => true });

/** The one call of AuthenticationV1Api we need, so tests can pass a stub and adapters the real client. */
export type TokenReviewApi = Pick<AuthenticationV1Api, 'createTokenReview'>;

export interface TokenReviewOptions {
  readonly api: TokenReviewApi;
  /** Milliseconds since the epoch (injected so tests control expiry). */
  readonly now: () => number;
  /** Audience the projected token must carry. Default `switchyard`. */
  readonly audience?: string;
  /** How long an accepted token is trusted without asking again. Default 60 s. */
  readonly positiveTtlMs?: number;
  /** How long a rejected token is rejected without asking again. Default 10 s. */
  readonly negativeTtlMs?: number;
  /** Cache entries kept at most (oldest dropped first). Default 10 000. */
  readonly maxEntries?: number;
  /** Called when the API server could not be asked; the poll is then refused. */
  readonly onError?: (error: unknown) => void;
}

interface CacheEntry {
  readonly ok: boolean;
  readonly expiresAt: number;
}

/**
 * Kubernetes mode: asks the API server (TokenReview, audience `switchyard`) whether the token is
 * valid and caches the answer by token digest. Concurrent polls with the same new token share one
 * review. API failures are not cached and refuse the poll (routers keep their last table).
 */
export class TokenReviewAuthenticator implements RouterAuthenticator {
  readonly #options: Required<Omit<TokenReviewOptions, 'onError'>> & Pick<TokenReviewOptions, 'onError'>;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inFlight = new Map<string, Promise<boolean>>();

  constructor(options: TokenReviewOptions) {
    this.#options = {
      audience: 'switchyard',
      positiveTtlMs: 60_000,
      negativeTtlMs: 10_000,
      maxEntries: 10_000,
      ...options,
    };
  }

  async authenticate(token: string): Promise<boolean> {
    if (token.length === 0) return false;
    const key = digest(token).toString('hex');
    const now = this.#options.now();
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAt > now) return cached.ok;
    const pending = this.#inFlight.get(key);
    if (pending) return pending;
    const review = this.#review(token, key).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, review);
    return review;
  }

  async #review(token: string, key: string): Promise<boolean> {
    const { api, audience, now } = this.#options;
    let ok: boolean;
    try {
      const result = await api.createTokenReview({
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: [audience] },
        },
      });
      const status = result.status;
      ok = status?.authenticated === true && (status.audiences ?? [audience]).includes(audience);
    } catch (error) {
      this.#options.onError?.(error);
      return false;
    }
    if (this.#cache.size >= this.#options.maxEntries) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    const ttl = ok ? this.#options.positiveTtlMs : this.#options.negativeTtlMs;
    this.#cache.set(key, { ok, expiresAt: now() + ttl });
    return ok;
  }
}
