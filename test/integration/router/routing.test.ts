// Every numbered routing behaviour of issue 3, end to end through real sockets: client → router(s) → apps.
import { createHash } from 'node:crypto';
import { type AddressInfo, connect, createServer as createTcpServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { equalTo, waitFor, waitUntil } from '../../support/wait-for.js';
import {
  type App,
  deadUrl,
  sequence,
  shareTable,
  startApp,
  startService,
  startTestRouter,
  type TestRouter,
} from './helpers.js';
import type { RouterConfig } from '../../../router/config.js';
import { MIRROR_BODY_BUDGET_BYTES } from '../../../router/proxy.js';

interface Answer {
  status: number;
  app: string | undefined;
  headers: Headers;
  body: Record<string, unknown>;
}

async function get(
  url: string,
  headers: Record<string, string> = {},
  init: RequestInit = {},
): Promise<Answer> {
  const res = await fetch(url, { headers, ...init });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: res.status, app: res.headers.get('x-app') ?? undefined, headers: res.headers, body };
}

let stable: App;
let canary: App;
const routers: TestRouter[] = [];
/** Raw upstreams a test started (closingApp). */
const servers: Server[] = [];

beforeAll(async () => {
  stable = await startApp('stable');
  canary = await startApp('canary');
});
afterEach(async () => {
  await Promise.all(routers.splice(0).map((router) => router.close()));
  for (const server of servers.splice(0)) server.close();
  stable.seen.length = 0;
  canary.seen.length = 0;
});
afterAll(async () => {
  await stable.close();
  await canary.close();
});

async function router(options: Parameters<typeof startTestRouter>[0]): Promise<TestRouter> {
  const started = await startTestRouter(options);
  routers.push(started);
  return started;
}

/** A router in front of the stable app whose table sends canary straight to the canary app. */
async function stableRouter(
  extra: Record<string, unknown> = {},
  weights = { stable: 90, canary: 10 },
  random = () => 0.5,
) {
  return router({
    local: stable.url,
    random,
    // The stable upstream in the table is dead on purpose: the router's own track must use --local.
    table: { tracks: { stable: await deadUrl(), canary: canary.url }, weights, ...extra },
  });
}

describe('1. X-Canary header', () => {
  it('always / never / track name, case-insensitive, and the header never reaches the app', async () => {
    const r = await stableRouter({}, { stable: 50, canary: 50 });
    expect((await get(r.url, { 'X-Canary': 'always' })).app).toBe('canary');
    expect((await get(r.url, { 'X-Canary': 'NEVER' })).app).toBe('stable');
    expect((await get(r.url, { 'x-canary': 'Canary' })).app).toBe('canary');
    expect((await get(r.url, { 'x-canary': 'Stable' })).app).toBe('stable');
    for (const seen of [...stable.seen, ...canary.seen]) expect(seen.headers['x-canary']).toBeUndefined();
    expect(await r.metric('switchyard_routing_decisions_total', { track: 'canary', reason: 'header' })).toBe(
      2,
    );
  });

  it('with canaryHeader.tokenSha256 it is honoured only as "always; token=<t>"', async () => {
    const tokenSha256 = createHash('sha256').update('s3cret').digest('hex');
    const r = await stableRouter({ canaryHeader: { name: 'x-canary', tokenSha256 } });
    expect((await get(r.url, { 'X-Canary': 'always' })).app).toBe('stable');
    expect((await get(r.url, { 'X-Canary': 'always; token=wrong' })).app).toBe('stable');
    expect((await get(r.url, { 'X-Canary': 'always; token=s3cret' })).app).toBe('canary');
    for (const seen of [...stable.seen, ...canary.seen]) expect(seen.headers['x-canary']).toBeUndefined();
  });
});

describe('2. match rules', () => {
  it.each([
    [
      'header exact',
      { header: { name: 'x-user-group', exact: 'beta' } },
      { 'x-user-group': 'beta' },
      { 'x-user-group': 'betamax' },
    ],
    [
      'header prefix',
      { header: { name: 'x-user-group', prefix: 'beta' } },
      { 'x-user-group': 'beta-2' },
      { 'x-user-group': 'alpha' },
    ],
    [
      'header regex',
      { header: { name: 'x-user-group', regex: '^b[0-9]+$' } },
      { 'x-user-group': 'b42' },
      { 'x-user-group': 'b4x' },
    ],
    [
      'cookie exact',
      { cookie: { name: 'plan', exact: 'pro' } },
      { cookie: 'a=1; plan=pro' },
      { cookie: 'plan=free' },
    ],
    [
      'cookie prefix',
      { cookie: { name: 'plan', prefix: 'pro-' } },
      { cookie: 'plan=pro-x' },
      { cookie: 'xplan=pro-x' },
    ],
    [
      'cookie regex',
      { cookie: { name: 'plan', regex: '^pro-' } },
      { cookie: 'plan=pro-1; b=2' },
      { cookie: 'plan=free' },
    ],
  ])('%s', async (_name, match, hit, miss) => {
    const r = await stableRouter({ rules: [{ match, track: 'canary' }] });
    expect((await get(r.url, hit)).app).toBe('canary');
    expect((await get(r.url, miss)).app).toBe('stable');
    expect(await r.metric('switchyard_routing_decisions_total', { track: 'canary', reason: 'rule' })).toBe(1);
  });
});

describe('3. sticky cookie', () => {
  it('the first decision sets an HttpOnly Max-Age cookie; later requests honour it while the track has weight', async () => {
    // random: first request 0.2 → canary (weights 50/50), then always 0.9 → stable without the cookie.
    const r = await stableRouter(
      { sticky: { cookie: 'my-track', maxAgeSeconds: 120 } },
      { stable: 50, canary: 50 },
      sequence(0.2, 0.9),
    );
    const first = await get(r.url);
    expect(first.app).toBe('canary');
    const cookie = first.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^my-track=canary; Path=\/; Max-Age=120; HttpOnly/);
    for (let i = 0; i < 3; i++) {
      const again = await get(r.url, { cookie: 'my-track=canary' });
      expect(again.app).toBe('canary');
      expect(again.headers.get('set-cookie')).toBeNull();
    }
    expect((await get(r.url)).app).toBe('stable');
    expect(await r.metric('switchyard_routing_decisions_total', { track: 'canary', reason: 'sticky' })).toBe(
      3,
    );

    r.writeTable({
      tracks: { stable: stable.url, canary: canary.url },
      weights: { stable: 100, canary: 0 },
      generation: 2,
      sticky: { cookie: 'my-track', maxAgeSeconds: 120 },
    });
    await waitFor('generation 2', () => r.metric('switchyard_route_generation'), equalTo(2));
    const moved = await get(r.url, { cookie: 'my-track=canary' });
    expect(moved.app).toBe('stable');
    expect(moved.headers.get('set-cookie')).toMatch(/^my-track=stable;/);
  });
});

describe('4. hashOn key', () => {
  it('routes each key consistently, and keys on canary stay there when the canary weight grows', async () => {
    const r = await stableRouter({ hashOn: { header: 'x-user-id' } }, { stable: 70, canary: 30 }, () => {
      throw new Error('hashed requests must not use randomness');
    });
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const at30 = new Map<string, string | undefined>();
    for (const user of users) at30.set(user, (await get(r.url, { 'x-user-id': user })).app);
    for (const user of users) expect((await get(r.url, { 'x-user-id': user })).app).toBe(at30.get(user));
    const onCanary = users.filter((user) => at30.get(user) === 'canary');
    expect(onCanary.length).toBeGreaterThan(0);
    expect(onCanary.length).toBeLessThan(users.length);

    r.writeTable({
      tracks: { stable: stable.url, canary: canary.url },
      weights: { stable: 40, canary: 60 },
      generation: 2,
      hashOn: { header: 'x-user-id' },
    });
    await waitFor('generation 2', () => r.metric('switchyard_route_generation'), equalTo(2));
    for (const user of onCanary) expect((await get(r.url, { 'x-user-id': user })).app).toBe('canary');
    expect(await r.metric('switchyard_routing_decisions_total', { reason: 'hash' })).toBe(
      users.length * 2 + onCanary.length,
    );
  });
});

describe('5. weighted random', () => {
  it('splits by the injected Random over any number of tracks', async () => {
    const green = await startApp('green');
    try {
      const r = await router({
        local: stable.url,
        random: sequence(0.1, 0.3, 0.6),
        table: {
          tracks: { stable: stable.url, canary: canary.url, green: green.url },
          weights: { stable: 40, canary: 20, green: 40 },
        },
      });
      // Buckets: canary [0,20), green [20,60), stable [60,100).
      expect((await get(r.url)).app).toBe('canary');
      expect((await get(r.url)).app).toBe('green');
      expect((await get(r.url)).app).toBe('stable');
      expect(await r.metric('switchyard_routing_decisions_total', { reason: 'weight' })).toBe(3);
    } finally {
      await green.close();
    }
  });
});

/** Two routers sharing a hop secret, each in front of its own app, with a table naming both routers. */
async function pair(
  extra: Record<string, unknown> = {},
  weights = { stable: 100, canary: 0 },
  secrets = ['hop-token', 'hop-token'],
  canaryApp = canary.url,
) {
  const s = await router({ local: stable.url, hopSecret: secrets[0]!, random: () => 0.5 });
  const c = await router({ local: canaryApp, track: 'canary', hopSecret: secrets[1]!, random: () => 0.5 });
  await shareTable({ tracks: { stable: s.url, canary: c.url }, weights, ...extra }, s, c);
  return { s, c };
}

/** A canary pod's router: live traffic goes to stable, a copy of each request to its own app. */
function canaryPodMirroringToItself(local: string, config: Partial<RouterConfig> = {}): Promise<TestRouter> {
  return router({
    local,
    track: 'canary',
    random: () => 0.5,
    config,
    table: {
      tracks: { stable: stable.url, canary: canary.url },
      weights: { stable: 100, canary: 0 },
      mirror: { track: 'canary', percent: 100 },
    },
  });
}

describe('6. mirroring', () => {
  it('copies requests fire-and-forget: the client gets stable’s answer while the mirror still holds its copy', async () => {
    let release: (() => void) | null = null;
    const held = await startApp('mirror-target', (req, res) => {
      release = () => res.end('mirror answer');
      req.resume();
      return true;
    });
    try {
      const c = await router({ local: held.url, track: 'canary', hopSecret: 'hop-token' });
      const s = await router({ local: stable.url, hopSecret: 'hop-token', random: () => 0.5 });
      const table = {
        tracks: { stable: s.url, canary: c.url },
        weights: { stable: 100, canary: 0 },
        mirror: { track: 'canary', percent: 100 },
      };
      await shareTable(table, s, c);
      const answer = await get(`${s.url}/checkout?x=1`);
      expect(answer.app).toBe('stable');
      expect(answer.body.url).toBe('/checkout?x=1');
      await waitUntil('mirror copy to reach the canary app', () => release !== null);
      release!();
      await waitFor(
        'mirrored copy counted at the canary router',
        () => c.metric('switchyard_mirrored_requests_total', { track: 'canary', code_class: '2xx' }),
        equalTo(1),
      );
      expect(await c.metric('switchyard_requests_total', { track: 'canary', code_class: '2xx' })).toBe(1);
      expect(await s.metric('switchyard_requests_total', { track: 'stable', code_class: '2xx' })).toBe(1);
    } finally {
      await held.close();
    }
  });

  it('a mirrored copy the router sends to its own app is counted as an error when that app fails', async () => {
    const r = await canaryPodMirroringToItself(await deadUrl());
    expect((await get(r.url)).app).toBe('stable');
    await waitFor(
      'the failed copy counted like any failed request to the canary app',
      async () => [
        await r.metric('switchyard_requests_total', { track: 'canary', code_class: 'error' }),
        await r.metric('switchyard_mirrored_requests_total', { track: 'canary', code_class: 'error' }),
        await r.metric('switchyard_request_duration_seconds_count', { track: 'canary' }),
        await r.metric('switchyard_upstream_errors_total', { track: 'canary', kind: 'connect' }),
      ],
      equalTo([1, 1, 1, 1]),
    );
  });

  it("a copy the mirror track's app refuses is not sent on: the live version serves each request once", async () => {
    const { s, c } = await pair(
      { mirror: { track: 'canary', percent: 100 } },
      undefined,
      undefined,
      await deadUrl(),
    );
    for (const method of ['GET', 'POST']) {
      const answer = await get(
        s.url,
        { 'content-type': 'text/plain' },
        { method, ...(method === 'POST' && { body: 'order' }) },
      );
      expect(answer).toMatchObject({ status: 200, app: 'stable' });
    }
    await waitFor(
      'both copies failed at the canary router',
      () => c.metric('switchyard_mirrored_requests_total', { track: 'canary', code_class: 'error' }),
      equalTo(2),
    );
    expect(stable.seen.map((seen) => seen.method)).toEqual(['GET', 'POST']);
    expect(await c.metric('switchyard_routing_decisions_total', { reason: 'fallback' })).toBe(0);
  });

  it('a copy its target never answers is given up after the headers timeout, counted as an error', async () => {
    const silent = await startApp('silent-canary', (req) => {
      req.resume(); // reads the copy, never answers
      return true;
    });
    try {
      const r = await canaryPodMirroringToItself(silent.url, { headersTimeoutMs: 200 });
      expect((await get(r.url)).app).toBe('stable');
      await waitFor(
        'the copy abandoned and counted once',
        async () => [
          await r.metric('switchyard_upstream_errors_total', { track: 'canary', kind: 'timeout' }),
          await r.metric('switchyard_mirror_dropped_total', { track: 'canary', reason: 'error' }),
          await r.metric('switchyard_mirrored_requests_total', { track: 'canary', code_class: 'error' }),
        ],
        equalTo([1, 1, 1]),
      );
    } finally {
      await silent.close();
    }
  });

  describe('request bodies', () => {
    const bodies: string[] = [];
    let target: App;
    beforeAll(async () => {
      // The mirror's app: records the SHA-256 of every body it receives.
      target = await startApp('mirror-target', (req, res) => {
        const hash = createHash('sha256');
        req.on('data', (chunk: Buffer) => hash.update(chunk));
        req.on('end', () => {
          bodies.push(hash.digest('hex'));
          res.end('mirror answer');
        });
        return true;
      });
    });
    afterEach(() => {
      bodies.length = 0;
    });
    afterAll(() => target.close());

    const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    const chunked = (data: Buffer) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < data.length; at += 64 * 1024)
            controller.enqueue(data.subarray(at, at + 64 * 1024));
          controller.close();
        },
      });
    const post = (url: string, body: Buffer | ReadableStream<Uint8Array>) =>
      get(url, {}, { method: 'POST', body, duplex: 'half' } as RequestInit);

    /** A body of the whole budget is copied: true only once every earlier copy gave its bytes back. */
    async function expectWholeBudgetCopied(r: TestRouter): Promise<void> {
      const full = Buffer.alloc(MIRROR_BODY_BUDGET_BYTES, 'f');
      await post(r.url, full);
      await waitUntil('the budget-sized copy', () => bodies.includes(sha256(full)));
    }

    it('copies the body, fixed-length or chunked: the app and the mirror get the same bytes', async () => {
      const r = await canaryPodMirroringToItself(target.url);
      const fixed = Buffer.alloc(300 * 1024, 'a');
      const streamed = Buffer.alloc(200 * 1024 + 7, 'b');
      const first = await post(r.url, fixed);
      expect([first.app, first.body.bytes]).toEqual(['stable', fixed.length]);
      const second = await post(r.url, chunked(streamed));
      expect([second.app, second.body.bytes]).toEqual(['stable', streamed.length]);
      expect(stable.seen.map((seen) => seen.headers['transfer-encoding'])).toEqual([undefined, 'chunked']);
      await waitFor(
        'both copies counted at the mirror',
        () => r.metric('switchyard_mirrored_requests_total', { track: 'canary', code_class: '2xx' }),
        equalTo(2),
      );
      expect(bodies.sort()).toEqual([sha256(fixed), sha256(streamed)].sort());
      await expectWholeBudgetCopied(r);
    });

    it('a copy for another router carries the body as a mirror hop, measured there as mirrored', async () => {
      const { s, c } = await pair(
        { mirror: { track: 'canary', percent: 100 } },
        undefined,
        undefined,
        target.url,
      );
      const body = Buffer.alloc(100 * 1024 + 3, 'h');
      expect((await post(s.url, chunked(body))).app).toBe('stable');
      await waitFor(
        'the copy counted at the canary router',
        () => c.metric('switchyard_mirrored_requests_total', { track: 'canary', code_class: '2xx' }),
        equalTo(1),
      );
      expect(bodies).toEqual([sha256(body)]);
    });

    it('a body beyond the mirror budget reaches the app whole and is not copied', async () => {
      const r = await canaryPodMirroringToItself(target.url);
      const large = Buffer.alloc(MIRROR_BODY_BUDGET_BYTES + 1, 'c');
      // Declared length: dropped at once. Chunked: dropped when the copy outgrows the budget.
      expect((await post(r.url, large)).body.bytes).toBe(large.length);
      expect((await post(r.url, chunked(large))).body.bytes).toBe(large.length);
      expect(await r.metric('switchyard_mirror_dropped_total', { track: 'canary', reason: 'body' })).toBe(2);
      expect(bodies).toEqual([]);
      await expectWholeBudgetCopied(r);
    });

    it('an upload the client abandons is not copied, and its bytes return to the budget', async () => {
      const r = await canaryPodMirroringToItself(target.url);
      const socket = connect(Number(new URL(r.url).port), '127.0.0.1', () =>
        socket.write(
          `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${MIRROR_BODY_BUDGET_BYTES}\r\n\r\n${'d'.repeat(4096)}`,
        ),
      );
      socket.on('error', () => undefined);
      await waitFor(
        'the request decided and its upload under way',
        () => r.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'weight' }),
        equalTo(1),
      );
      socket.destroy();
      await waitFor(
        'the copy dropped',
        () => r.metric('switchyard_mirror_dropped_total', { track: 'canary', reason: 'error' }),
        equalTo(1),
      );
      await expectWholeBudgetCopied(r);
      expect(bodies).toHaveLength(1);
    });
  });

  it('a failing mirror never fails the client response', async () => {
    const r = await stableRouter({ mirror: { track: 'canary', percent: 100 } }, { stable: 100, canary: 0 });
    // No hop token: the copy cannot be marked as a hop, so it is dropped and counted.
    expect((await get(r.url)).app).toBe('stable');
    expect(
      await r.metric('switchyard_mirror_dropped_total', { track: 'canary', reason: 'no_hop_token' }),
    ).toBe(1);
  });
});

describe('7. cross-track forwarding with x-switchyard-hop', () => {
  it('a request decided for the other track is served by that track’s router, measured once, never re-routed', async () => {
    const { s, c } = await pair();
    const answer = await get(s.url, { 'X-Canary': 'always' });
    expect(answer.app).toBe('canary');
    expect(canary.seen[0]!.headers['x-switchyard-hop']).toBeUndefined();
    expect(canary.seen[0]!.headers['x-canary']).toBeUndefined();
    expect(await s.metric('switchyard_routing_decisions_total', { track: 'canary', reason: 'header' })).toBe(
      1,
    );
    expect(await s.metric('switchyard_requests_total')).toBe(0);
    expect(await c.metric('switchyard_routing_decisions_total', { track: 'canary', reason: 'hop' })).toBe(1);
    expect(await c.metric('switchyard_requests_total', { track: 'canary', code_class: '2xx' })).toBe(1);
  });

  it('a forged or tokenless hop header is stripped and the request routed normally', async () => {
    const { c } = await pair();
    for (const forged of ['wrong-token', '']) {
      const answer = await get(c.url, { 'x-switchyard-hop': forged });
      expect(answer.app).toBe('stable'); // weights 100/0: routed, not served locally by the canary router
    }
    for (const seen of stable.seen) expect(seen.headers['x-switchyard-hop']).toBeUndefined();
    expect(await c.metric('switchyard_routing_decisions_total', { reason: 'hop' })).toBe(0);
  });

  it('a router without a hop secret accepts no hops, and accepts them once the secret file appears', async () => {
    const { s, c } = await pair({}, { stable: 100, canary: 0 }, ['hop-token', '']);
    // The canary router's secret file is empty: a hop from the stable router is re-routed to stable.
    expect((await get(s.url, { 'X-Canary': 'always' })).app).toBe('stable');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${c.dir}/hop-secret`, 'hop-token');
    await waitFor(
      'hop accepted after the secret appears',
      async () => (await get(s.url, { 'X-Canary': 'always' })).app,
      equalTo('canary'),
    );
  });
});

describe('8. unreachable upstreams', () => {
  it('canary unreachable: requests retried once on stable (reason fallback), bodies included', async () => {
    const r = await router({
      local: stable.url,
      random: () => 0.5,
      table: { tracks: { stable: stable.url, canary: await deadUrl() }, weights: { stable: 90, canary: 10 } },
    });
    const answer = await get(r.url, { 'X-Canary': 'always' });
    expect(answer).toMatchObject({ status: 200, app: 'stable' });
    expect(
      await r.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'fallback' }),
    ).toBe(1);
    expect(await r.metric('switchyard_upstream_errors_total', { track: 'canary', kind: 'connect' })).toBe(1);
    // Nothing reached the canary: a POST goes too, with its whole body.
    const post = await get(
      r.url,
      { 'X-Canary': 'always', 'content-type': 'text/plain' },
      { method: 'POST', body: 'order' },
    );
    expect(post).toMatchObject({ status: 200, app: 'stable', body: { method: 'POST', bytes: 5 } });
  });

  it("canary's connection reset during the handshake (a Service proxy without a pod): a POST goes to stable, body and all", async () => {
    const resetting = createTcpServer((socket) => {
      socket.on('error', () => {});
      socket.resetAndDestroy();
    });
    servers.push(resetting);
    await new Promise<void>((resolve) => resetting.listen(0, '127.0.0.1', resolve));
    const r = await router({
      local: stable.url,
      table: {
        tracks: {
          stable: stable.url,
          canary: `http://127.0.0.1:${(resetting.address() as AddressInfo).port}`,
        },
        weights: { stable: 0, canary: 100 },
      },
    });
    const post = await get(r.url, { 'content-type': 'text/plain' }, { method: 'POST', body: 'order' });
    expect(post).toMatchObject({ status: 200, app: 'stable', body: { method: 'POST', bytes: 5 } });
    expect(await r.metric('switchyard_upstream_errors_total', { track: 'canary', kind: 'connect' })).toBe(1);
  });

  it('canary closing the connection unanswered: a GET is retried on stable, a POST is answered 502', async () => {
    const canaryClosing = async () =>
      router({
        local: stable.url,
        table: {
          tracks: { stable: stable.url, canary: (await closingApp()).url },
          weights: { stable: 0, canary: 100 },
        },
      });
    expect(await afterOneAnswer(await canaryClosing(), 'GET')).toMatchObject({ status: 200, app: 'stable' });
    // It may have been processed before the connection closed.
    expect(await afterOneAnswer(await canaryClosing(), 'POST')).toMatchObject({
      status: 502,
      body: { error: 'upstream_unavailable', track: 'canary', kind: 'reset' },
    });
  });

  it('a canary router whose app refuses counts the failed call as a canary error, then falls back', async () => {
    const { s, c } = await pair({}, { stable: 90, canary: 10 }, undefined, await deadUrl());
    // stable router → canary router (hop) → its app refuses → retried on stable, served by stable's app.
    expect(await get(s.url, { 'X-Canary': 'always' })).toMatchObject({ status: 200, app: 'stable' });
    expect(await c.metric('switchyard_requests_total', { track: 'canary', code_class: 'error' })).toBe(1);
    expect(await c.metric('switchyard_upstream_errors_total', { track: 'canary', kind: 'connect' })).toBe(1);
    expect(
      await c.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'fallback' }),
    ).toBe(1);
    // The retry is measured once, by the stable router that called the stable app.
    expect(await s.metric('switchyard_requests_total', { track: 'stable', code_class: '2xx' })).toBe(1);
    expect(await c.metric('switchyard_requests_total', { track: 'stable', code_class: '2xx' })).toBe(0);
  });

  it("a hop the receiving router's app refuses goes from there to another pod of the track, body and all", async () => {
    const other = await router({ local: stable.url, hopSecret: 'hop-token' });
    const leaving = await router({ local: await deadUrl(), hopSecret: 'hop-token' });
    const { c, connections } = await hopsThroughService(leaving, other);
    // The sending router has sent the body on; the receiving one still has it whole (nothing reached
    // its app), so it sends the request on itself, whatever its method.
    const post = await get(c.url, { 'content-type': 'text/plain' }, { method: 'POST', body: 'order' });
    expect(post).toMatchObject({ status: 200, app: 'stable', body: { method: 'POST', bytes: 5 } });
    expect(connections()).toBe(2);
    expect(await leaving.metric('switchyard_requests_total', { track: 'stable', code_class: 'error' })).toBe(
      1,
    );
    expect(
      await leaving.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'fallback' }),
    ).toBe(1);
    expect(await c.metric('switchyard_upstream_errors_total')).toBe(0);
    expect(await c.metric('switchyard_routing_decisions_total', { reason: 'fallback' })).toBe(0);
    // Served and measured once, as a hop, by the router whose app answered.
    expect(await other.metric('switchyard_routing_decisions_total', { reason: 'hop' })).toBe(1);
    expect(await other.metric('switchyard_requests_total', { track: 'stable', code_class: '2xx' })).toBe(1);
  });

  it('a hop sent again is not sent on again: with every pod of the track going away, the second refusal is answered 502', async () => {
    const first = await router({ local: await deadUrl(), hopSecret: 'hop-token' });
    const second = await router({ local: await deadUrl(), hopSecret: 'hop-token' });
    const { c, connections } = await hopsThroughService(first, second);
    const post = await get(c.url, { 'content-type': 'text/plain' }, { method: 'POST', body: 'order' });
    expect(post).toMatchObject({
      status: 502,
      body: { error: 'upstream_unavailable', track: 'stable', kind: 'reset' },
    });
    // c → first (its app refuses) → the Service → second (its app refuses): two attempts, no third.
    expect(connections()).toBe(2);
    expect(await first.metric('switchyard_routing_decisions_total', { reason: 'fallback' })).toBe(1);
    expect(await second.metric('switchyard_routing_decisions_total', { reason: 'fallback' })).toBe(0);
    expect(second.logs.filter((line) => line.msg === 'upstream failed')).toEqual([
      expect.objectContaining({ upstream: 'app', kind: 'connect', answered: 'closed' }),
    ]);
  });

  it('local app refusing, and no other pod of its track: 502 JSON, counted as an error of the track', async () => {
    const r = await router({
      local: await deadUrl(),
      random: () => 0.5,
      table: { tracks: { stable: await deadUrl() }, weights: { stable: 100 } },
    });
    const answer = await get(r.url);
    expect(answer.status).toBe(502);
    expect(answer.headers.get('content-type')).toBe('application/json');
    expect(answer.body).toMatchObject({ error: 'upstream_unavailable', service: 'shop', track: 'stable' });
    expect(await r.metric('switchyard_requests_total', { track: 'stable', code_class: 'error' })).toBe(1);
    // The local app, then the track's Service: both refused.
    expect(await r.metric('switchyard_upstream_errors_total', { track: 'stable', kind: 'connect' })).toBe(2);
    // One log line, for what the client saw.
    expect(r.logs.filter((line) => line.msg === 'upstream failed')).toEqual([
      expect.objectContaining({
        level: 40,
        track: 'stable',
        upstream: 'own track',
        method: 'GET',
        path: '/',
        kind: 'connect',
        answered: 502,
      }),
    ]);
  });

  it("local app refusing: the request goes to another pod of its track, through the track's upstream, body and all", async () => {
    // `other` stands for another stable pod's router behind the per-track Service.
    const other = await router({ local: stable.url, hopSecret: 'hop-token' });
    const leaving = await router({ local: await deadUrl(), hopSecret: 'hop-token' });
    await shareTable({ tracks: { stable: other.url }, weights: { stable: 100 } }, other, leaving);
    // Nothing reached the app, so any method may go again: GET and DELETE alike. The answer closes
    // the client's connection, so that its next request reaches a pod whose app is there.
    const answer = await get(leaving.url);
    expect(answer).toMatchObject({ status: 200, app: 'stable' });
    expect(answer.headers.get('connection')).toBe('close');
    expect(await get(leaving.url, {}, { method: 'DELETE' })).toMatchObject({ status: 200, app: 'stable' });
    expect(
      await leaving.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'fallback' }),
    ).toBe(2);
    // Served and measured once, as a hop, by the router whose app answered.
    expect(await other.metric('switchyard_routing_decisions_total', { reason: 'hop' })).toBe(2);
    expect(await other.metric('switchyard_requests_total', { track: 'stable', code_class: '2xx' })).toBe(2);
    expect(await leaving.metric('switchyard_requests_total', { track: 'stable', code_class: '2xx' })).toBe(0);
    // undici reads a body only once connected: a refused POST goes too, body and all.
    const post = await get(leaving.url, { 'content-type': 'text/plain' }, { method: 'POST', body: 'order' });
    expect(post).toMatchObject({ status: 200, app: 'stable', body: { method: 'POST', bytes: 5 } });
    const upload = await get(leaving.url, {}, { method: 'PUT', body: Buffer.alloc(4 * 1024 * 1024, 97) });
    expect(upload).toMatchObject({
      status: 200,
      app: 'stable',
      body: { method: 'PUT', bytes: 4 * 1024 * 1024 },
    });
  });

  it('the local app closing a kept connection as a request goes out: an idempotent one goes to another pod of its track', async () => {
    const other = await router({ local: stable.url, hopSecret: 'hop-token' });
    const leaving = async (): Promise<TestRouter> => {
      const r = await router({ local: (await closingApp()).url, hopSecret: 'hop-token' });
      await shareTable({ tracks: { stable: other.url }, weights: { stable: 100 } }, other, r);
      return r;
    };
    const r = await leaving();
    expect(await afterOneAnswer(r, 'GET')).toMatchObject({ status: 200, app: 'stable' });
    expect(
      await r.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'fallback' }),
    ).toBe(1);
    expect(await r.metric('switchyard_upstream_errors_total', { track: 'stable', kind: 'reset' })).toBe(1);
    // A POST may have been processed before the connection closed: not sent again.
    expect(await afterOneAnswer(await leaving(), 'POST')).toMatchObject({
      status: 502,
      body: { track: 'stable', kind: 'reset' },
    });
  });

  it("another track's router closing a kept connection as an idempotent request goes out: the track's Service is asked again", async () => {
    // A closing app stands for the stable track's Service, whose pod's router went away.
    const hopping = async (): Promise<TestRouter> =>
      router({
        local: canary.url,
        track: 'canary',
        table: {
          tracks: { stable: (await closingApp()).url, canary: await deadUrl() },
          weights: { stable: 100, canary: 0 },
        },
      });
    const c = await hopping();
    // Asked again: a new connection, its first request answered.
    expect(await afterOneAnswer(c, 'GET')).toMatchObject({ status: 200, app: 'closing' });
    expect(
      await c.metric('switchyard_routing_decisions_total', { track: 'stable', reason: 'fallback' }),
    ).toBe(1);
    expect((await afterOneAnswer(await hopping(), 'POST')).status).toBe(502);
  });

  it('the local app going away: clients on keep-alive connections are sent to reconnect', async () => {
    // Through a Service, a reconnecting client reaches a pod whose app is there; a router keeping
    // its connections open would keep it on a pod whose app has gone.
    const app = await startApp('leaving');
    const r = await router({
      local: app.url,
      table: { tracks: { stable: app.url }, weights: { stable: 100 } },
    });
    const { port } = new URL(r.url);
    const open = async (): Promise<{ ask(): Promise<string>; closed: Promise<void> }> => {
      const socket = connect(Number(port), '127.0.0.1');
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('error', () => {});
      const ask = (): Promise<string> =>
        new Promise((resolve) => {
          socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1')));
          socket.write(`GET / HTTP/1.1\r\nhost: shop\r\n\r\n`);
        });
      return { ask, closed };
    };
    const busy = await open();
    const idle = await open();
    expect(await busy.ask()).toMatch(/^HTTP\/1.1 200/);
    expect(await idle.ask()).toMatch(/^HTTP\/1.1 200/);
    await app.close();
    const answer = await busy.ask();
    expect(answer).toMatch(/^HTTP\/1.1 502/);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    await busy.closed;
    await idle.closed; // closed by the router, without a request of its own
  });
});

/**
 * The stable track as a Service in front of two stable routers (each new connection goes to the
 * next, `first` first), and a canary router `c` whose table sends every request there as a hop.
 */
async function hopsThroughService(
  first: TestRouter,
  second: TestRouter,
): Promise<{ c: TestRouter; connections: () => number }> {
  let connections = 0;
  const service = await startService(() => [first, second][connections++ % 2]!.url);
  servers.push(service.server);
  const c = await router({ local: canary.url, track: 'canary', hopSecret: 'hop-token' });
  await shareTable(
    { tracks: { stable: service.url, canary: c.url }, weights: { stable: 100, canary: 0 } },
    first,
    second,
    c,
  );
  return { c, connections: () => connections };
}

/**
 * `method` as the second request on `r`'s first connection to a closingApp: the first, a GET, is
 * answered there; this one meets the connection closing.
 */
async function afterOneAnswer(r: TestRouter, method: string): Promise<Answer> {
  expect(await get(r.url)).toMatchObject({ status: 200, app: 'closing' });
  return get(r.url, {}, { method });
}

/**
 * An HTTP/1.1 upstream (`x-app: closing`) that answers the first request of each connection and keeps
 * it open, then closes it at the next request without answering: the race of an app closing an idle
 * kept connection (shutting down, or its keep-alive timeout) as the router sends on it.
 */
async function closingApp(): Promise<{ url: string }> {
  const app = { url: '' };
  const server = createTcpServer((socket) => {
    let requests = 0;
    socket.on('data', (chunk: Buffer) => {
      for (let at = chunk.indexOf('\r\n\r\n'); at !== -1; at = chunk.indexOf('\r\n\r\n', at + 4)) {
        if (++requests === 1) {
          socket.write('HTTP/1.1 200 OK\r\nx-app: closing\r\ncontent-length: 2\r\n\r\nok');
        } else {
          socket.destroy();
          return;
        }
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  app.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return app;
}
