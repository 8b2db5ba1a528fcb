// The route server over real sockets: immediate answers, held polls, wake-up on publish, ETag,
// unknown services and router authentication (shared secret and TokenReview against a stub API).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthenticationV1Api, KubeConfig } from '@kubernetes/client-node';
import Fastify, { type FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRouteTable, type RouteTable } from '../../../api/routes.js';
import { RouteStore, registerRouteServer } from '../../../controller/route-server.js';
import { SharedSecretAuthenticator, TokenReviewAuthenticator } from '../../../controller/router-auth.js';
import { waitFor } from '../../support/wait-for.js';

function table(generation: number, canary: number): RouteTable {
  return parseRouteTable({
    service: 'shop',
    generation,
    tracks: { stable: { upstream: 'http://127.0.0.1:8080' }, canary: { upstream: 'http://127.0.0.1:8081' } },
    weights: { stable: 100 - canary, canary },
  });
}

const SECRET = 'router-secret';
const auth = { authorization: `Bearer ${SECRET}` };

describe('route server', () => {
  let app: FastifyInstance;
  let base: string;
  const store = new RouteStore();

  beforeAll(async () => {
    app = Fastify({ logger: false });
    registerRouteServer(app, { store, authenticator: new SharedSecretAuthenticator(SECRET), holdMs: 300 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    store.publish('default', table(3, 10));
  });
  afterAll(() => app.close());

  it('answers at once with the table and its generation as ETag when no generation is given', async () => {
    const response = await request(`${base}/v1/routes/default/shop`, { headers: auth });
    expect(response.statusCode).toBe(200);
    expect(response.headers.etag).toBe('"3"');
    const body = (await response.body.json()) as RouteTable;
    expect(body.weights).toEqual({ stable: 90, canary: 10 });
    expect(parseRouteTable(body).generation).toBe(3);
  });

  it('answers at once when the router is behind', async () => {
    const response = await request(`${base}/v1/routes/default/shop?generation=1`, { headers: auth });
    expect(response.statusCode).toBe(200);
    expect(((await response.body.json()) as RouteTable).generation).toBe(3);
  });

  it('answers at once a router that claims a newer generation than control has (state reset)', async () => {
    const response = await request(`${base}/v1/routes/default/shop?generation=99`, { headers: auth });
    expect(response.statusCode).toBe(200);
    expect(((await response.body.json()) as RouteTable).generation).toBe(3);
  });

  it('holds a poll that is up to date and answers 304 when nothing changes', async () => {
    const response = await request(`${base}/v1/routes/default/shop?generation=3`, { headers: auth });
    expect(response.statusCode).toBe(304);
    expect(response.headers.etag).toBe('"3"');
    await response.body.dump();
    expect(store.waiting()).toBe(0);
  });

  it('honours If-None-Match like ?generation', async () => {
    const response = await request(`${base}/v1/routes/default/shop`, {
      headers: { ...auth, 'if-none-match': '"3"' },
    });
    expect(response.statusCode).toBe(304);
    await response.body.dump();
  });

  it('wakes every held poll when a newer table is published', async () => {
    const longHold = Fastify({ logger: false });
    const longStore = new RouteStore();
    longStore.publish('default', table(5, 0));
    registerRouteServer(longHold, {
      store: longStore,
      authenticator: new SharedSecretAuthenticator(SECRET),
      holdMs: 30_000,
    });
    await longHold.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(longHold.server.address() as AddressInfo).port}/v1/routes/default/shop?generation=5`;
    try {
      const polls = [1, 2, 3].map(() => request(url, { headers: auth }));
      await waitFor(
        'three held polls',
        () => longStore.waiting(),
        (n) => n === 3,
        { intervalMs: 10 },
      );
      expect(longStore.publish('default', table(6, 25))).toBe(true);
      const responses = await Promise.all(polls);
      for (const response of responses) {
        expect(response.statusCode).toBe(200);
        expect(response.headers.etag).toBe('"6"');
        expect(((await response.body.json()) as RouteTable).weights.canary).toBe(25);
      }
      expect(longStore.waiting()).toBe(0);
    } finally {
      await longHold.close();
    }
  });

  it('never goes back to an older generation', () => {
    expect(store.publish('default', table(2, 50))).toBe(false);
    expect(store.get('default', 'shop')?.generation).toBe(3);
  });

  it('answers 404 with a JSON error for an unknown service', async () => {
    const response = await request(`${base}/v1/routes/default/nope`, { headers: auth });
    expect(response.statusCode).toBe(404);
    expect(await response.body.json()).toMatchObject({ code: 'SWY_NOT_FOUND' });
  });

  it('answers 401 without a token or with a wrong one', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: SECRET }]) {
      const response = await request(`${base}/v1/routes/default/shop`, { headers });
      expect(response.statusCode).toBe(401);
      expect(await response.body.json()).toMatchObject({ code: 'SWY_UNAUTHORIZED' });
    }
  });
});

describe('TokenReview authenticator against a stub API server', () => {
  let stub: Server;
  let reviews: { token: string; audiences: string[] }[] = [];

  beforeAll(async () => {
    stub = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/apis/authentication.k8s.io/v1/tokenreviews') {
          res.writeHead(404).end();
          return;
        }
        const review = JSON.parse(body) as { spec: { token: string; audiences: string[] } };
        reviews.push(review.spec);
        const authenticated = review.spec.token === 'good';
        res.writeHead(201, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenReview',
            spec: review.spec,
            status: authenticated
              ? {
                  authenticated: true,
                  audiences: ['switchyard'],
                  user: { username: 'system:serviceaccount:a:b' },
                }
              : { authenticated: false, error: 'invalid token' },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => stub.close(() => resolve())));

  function authenticator(now: () => number): TokenReviewAuthenticator {
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [
        {
          name: 'stub',
          server: `http://127.0.0.1:${(stub.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: 'control', token: 'control-token' }],
      contexts: [{ name: 'stub', cluster: 'stub', user: 'control' }],
      currentContext: 'stub',
    });
    return new TokenReviewAuthenticator({ api: config.makeApiClient(AuthenticationV1Api), now });
  }

  it('accepts a reviewed token for audience switchyard, rejects others, and caches both answers', async () => {
    reviews = [];
    let now = 1_000_000;
    const auth = authenticator(() => now);
    expect(await auth.authenticate('good')).toBe(true);
    expect(await auth.authenticate('bad')).toBe(false);
    expect(reviews).toEqual([
      { token: 'good', audiences: ['switchyard'] },
      { token: 'bad', audiences: ['switchyard'] },
    ]);
    // Cached: no new reviews.
    expect(await auth.authenticate('good')).toBe(true);
    expect(await auth.authenticate('bad')).toBe(false);
    expect(reviews).toHaveLength(2);
    // The negative answer expires first.
    now += 11_000;
    expect(await auth.authenticate('bad')).toBe(false);
    expect(await auth.authenticate('good')).toBe(true);
    expect(reviews.map((review) => review.token)).toEqual(['good', 'bad', 'bad']);
    now += 60_000;
    expect(await auth.authenticate('good')).toBe(true);
    expect(reviews.map((review) => review.token)).toEqual(['good', 'bad', 'bad', 'good']);
  });

  it('shares one review between concurrent polls with the same token', async () => {
    reviews = [];
    const auth = authenticator(() => 0);
    const answers = await Promise.all([1, 2, 3, 4].map(() => auth.authenticate('good')));
    expect(answers).toEqual([true, true, true, true]);
    expect(reviews).toHaveLength(1);
  });
});
