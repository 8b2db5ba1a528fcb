// The route server: control's in-memory route table per (namespace, service), served to routers by
// long poll (`GET /v1/routes/{namespace}/{service}?generation=N`). Publishing answers each held poll
// that waits past an older generation than the published one.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken } from '../api/bearer.js';
import type { RouteTable } from '../api/routes.js';
import type { RouterAuthenticator } from './router-auth.js';

export const DEFAULT_HOLD_MS = 30_000;

interface Waiter {
  /** The generation the poll waits past. */
  readonly after: number;
  /** Answers the poll and takes it out of its entry's set. */
  readonly wake: (table: RouteTable | null) => void;
}

interface Entry {
  table: RouteTable;
  /** Held polls of this key. */
  readonly waiters: Set<Waiter>;
}

/**
 * Holds the current table of every service and the polls waiting for a newer one. Generations only
 * move forward: publishing an older or equal generation is ignored (returns false) so a slow writer
 * can never roll routers back.
 */
export class RouteStore {
  readonly #entries = new Map<string, Entry>();

  static key(namespace: string, service: string): string {
    return `${namespace}/${service}`;
  }

  get(namespace: string, service: string): RouteTable | undefined {
    return this.#entries.get(RouteStore.key(namespace, service))?.table;
  }

  /** Every known table, keyed `namespace/service`. */
  list(): ReadonlyMap<string, RouteTable> {
    return new Map([...this.#entries].map(([key, entry]) => [key, entry.table]));
  }

  publish(namespace: string, table: RouteTable): boolean {
    const key = RouteStore.key(namespace, table.service);
    const entry = this.#entries.get(key);
    if (!entry) {
      this.#entries.set(key, { table, waiters: new Set() });
      return true;
    }
    if (table.generation <= entry.table.generation) return false;
    entry.table = table;
    // A poll may wait past a generation newer than this one (waitNewer takes any `after`): it keeps
    // waiting. A waiter deletes itself as it wakes, which a Set's iteration allows.
    for (const waiter of entry.waiters) if (table.generation > waiter.after) waiter.wake(table);
    return true;
  }

  /** Forgets a service; its held polls are answered with null (the handler turns that into 404). */
  remove(namespace: string, service: string): void {
    const key = RouteStore.key(namespace, service);
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    for (const waiter of entry.waiters) waiter.wake(null);
  }

  /**
   * Resolves with the table once its generation exceeds `after`, or with null after `holdMs` or
   * when `signal` aborts. Resolves at once when the current table is already newer.
   */
  waitNewer(
    namespace: string,
    service: string,
    after: number,
    holdMs: number,
    signal?: AbortSignal,
  ): Promise<RouteTable | null> {
    const entry = this.#entries.get(RouteStore.key(namespace, service));
    if (!entry) return Promise.resolve(null);
    if (entry.table.generation > after) return Promise.resolve(entry.table);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        after,
        wake: (table) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          entry.waiters.delete(waiter);
          resolve(table);
        },
      };
      const onAbort = (): void => waiter.wake(null);
      const timer = setTimeout(() => waiter.wake(null), holdMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.waiters.add(waiter);
    });
  }

  /** Number of polls being held (for metrics and tests). */
  waiting(): number {
    let count = 0;
    for (const entry of this.#entries.values()) count += entry.waiters.size;
    return count;
  }
}

export interface RouteServerOptions {
  readonly store: RouteStore;
  readonly authenticator: RouterAuthenticator;
  /** How long a poll with nothing new is held before 304. Default 30 s. */
  readonly holdMs?: number;
}

/** `"7"` or `W/"7"` → 7; anything else → null. */
function generationFromEtag(header: string | undefined): number | null {
  if (typeof header !== 'string') return null;
  const match = /^(?:W\/)?"(\d+)"$/.exec(header.trim());
  return match ? Number(match[1]) : null;
}

function requestedGeneration(request: FastifyRequest): number | null | 'invalid' {
  const query = request.query as Record<string, unknown>;
  const raw = query.generation;
  if (raw !== undefined) {
    if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw)) return 'invalid';
    return Number(raw);
  }
  return generationFromEtag(request.headers['if-none-match']);
}

/** Rejects the request with 401 unless it carries a bearer token the authenticator accepts. */
export async function requireRouterToken(
  authenticator: RouterAuthenticator,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<boolean> {
  // No header is an empty token: only an allow-all authenticator (loopback demo) accepts it.
  if (await authenticator.authenticate(bearerToken(request.headers.authorization) ?? '')) return true;
  await reply
    .code(401)
    .header('www-authenticate', 'Bearer realm="switchyard"')
    .send({ code: 'SWY_UNAUTHORIZED', message: 'route server: a valid bearer token is required' });
  return false;
}

// A publish is answered to every router at once: serialize each table once, not once per poll.
const serialized = new WeakMap<RouteTable, string>();

function bodyOf(table: RouteTable): string {
  let body = serialized.get(table);
  if (body === undefined) {
    body = JSON.stringify(table);
    serialized.set(table, body);
  }
  return body;
}

function sendTable(reply: FastifyReply, table: RouteTable): FastifyReply {
  return reply
    .code(200)
    .header('etag', `"${table.generation}"`)
    .header('cache-control', 'no-store')
    .type('application/json')
    .send(bodyOf(table));
}

/** Registers `GET /v1/routes/:namespace/:service` on the app. */
export function registerRouteServer(app: FastifyInstance, options: RouteServerOptions): void {
  const holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
  const { store, authenticator } = options;

  app.get<{ Params: { namespace: string; service: string } }>(
    '/v1/routes/:namespace/:service',
    async (request, reply) => {
      if (!(await requireRouterToken(authenticator, request, reply))) return reply;
      const { namespace, service } = request.params;
      const notFound = () =>
        reply.code(404).send({
          code: 'SWY_NOT_FOUND',
          message: `route server: no route table for service "${service}" in namespace "${namespace}"`,
        });
      const current = store.get(namespace, service);
      if (!current) return notFound();
      const after = requestedGeneration(request);
      if (after === 'invalid') {
        return reply.code(400).send({
          code: 'SWY_FLAG_INVALID',
          message: 'route server: generation must be a non-negative integer',
        });
      }
      // Hold only a router that has exactly the current table. One that claims a newer generation
      // saw a table from before a state reset: give it the truth instead of holding it forever.
      if (after === null || current.generation !== after) return sendTable(reply, current);

      // Hold: answered by publish, by the hold timeout (304), or dropped when the client goes away.
      const abort = new AbortController();
      const onClose = (): void => abort.abort();
      reply.raw.once('close', onClose);
      const table = await store.waitNewer(namespace, service, after, holdMs, abort.signal);
      reply.raw.off('close', onClose);
      if (abort.signal.aborted) return reply;
      if (table) return sendTable(reply, table);
      if (!store.get(namespace, service)) return notFound();
      return reply.code(304).header('etag', `"${after}"`).header('cache-control', 'no-store').send();
    },
  );
}
