// Where tables come from: the watched routes file (reload, rejection keeps the previous table) and
// the control long-poll client against a small fake control server (ETag, 304, token, backoff).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { equalTo, waitFor, waitUntil } from '../../support/wait-for.js';
import { type App, startApp, startTestRouter, tableJson } from './helpers.js';

let stable: App;
let canary: App;

beforeAll(async () => {
  stable = await startApp('stable');
  canary = await startApp('canary');
});
afterAll(async () => {
  await stable.close();
  await canary.close();
});

async function appOf(url: string, headers: Record<string, string> = {}): Promise<string | null> {
  const res = await fetch(url, { headers });
  await res.arrayBuffer();
  return res.headers.get('x-app');
}

describe('routes file', () => {
  it('reloads on change; rejects an invalid table naming the field, keeps the previous one and stays ready', async () => {
    const r = await startTestRouter({
      local: stable.url,
      random: () => 0.5,
      table: { tracks: { stable: stable.url, canary: canary.url }, weights: { stable: 100, canary: 0 } },
    });
    try {
      expect(await appOf(r.url)).toBe('stable');
      r.writeTable({
        tracks: { stable: stable.url, canary: canary.url },
        weights: { stable: 0, canary: 100 },
        generation: 2,
      });
      await waitFor('the new weights to apply', () => appOf(r.url), equalTo('canary'));

      r.writeTable({
        tracks: { stable: stable.url, canary: canary.url },
        weights: { stable: 50, canary: 40 },
        generation: 3,
      });
      await waitUntil('a rejection naming the field', () =>
        r.logs.some((line) => line.field === 'weights' && String(line.err).includes('sum to 100')),
      );
      r.writeTable({
        tracks: { stable: stable.url, canary: canary.url },
        weights: { stable: 50, canary: 50 },
        generation: 4,
        rules: [{ match: { header: { name: 'x', regex: '(a+)+$' } }, track: 'canary' }],
      });
      await waitUntil('the catastrophic regex to be rejected', () =>
        r.logs.some((line) => line.field === 'rules[0].match.header.regex'),
      );
      r.writeTable('{ not json');
      await waitUntil('a syntax error to be rejected', () => r.logs.some((line) => line.field === '$'));

      expect(await appOf(r.url)).toBe('canary');
      expect(await r.metric('switchyard_route_generation')).toBe(2);
      const routes = (await (await fetch(`${r.admin}/routes`)).json()) as { generation: number };
      expect(routes.generation).toBe(2);
      expect((await fetch(`${r.admin}/readyz`)).status).toBe(200);
    } finally {
      await r.close();
    }
  });

  it('rejects a table for another service', async () => {
    const r = await startTestRouter({ local: stable.url });
    try {
      r.writeTable(tableJson({ tracks: { stable: stable.url }, weights: { stable: 100 } }, 'other'));
      await waitUntil('rejection naming service', () => r.logs.some((line) => line.field === 'service'));
      expect((await fetch(`${r.admin}/readyz`)).status).toBe(503);
    } finally {
      await r.close();
    }
  });
});

interface FakeControl {
  readonly url: string;
  readonly requests: { url: string; authorization: string | undefined; ifNoneMatch: string | undefined }[];
  publish(weights: Record<string, number>): void;
  close(): Promise<void>;
}

/** A fake route server: answers at once when the table is newer than ?generation=N, else holds ≤300 ms then 304. */
async function fakeControl(
  token: () => string,
  port = 0,
  tls?: { key: Buffer; cert: Buffer },
): Promise<FakeControl> {
  let generation = 1;
  let weights: Record<string, number> = { stable: 100, canary: 0 };
  const waiting = new Set<() => void>();
  const requests: FakeControl['requests'] = [];
  const body = () => tableJson({ tracks: { stable: stable.url, canary: canary.url }, weights, generation });
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    requests.push({
      url: req.url ?? '',
      authorization: req.headers.authorization,
      ifNoneMatch: req.headers['if-none-match'],
    });
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/v1/routes/shop-ns/shop') {
      res.writeHead(404).end();
      return;
    }
    if (req.headers.authorization !== `Bearer ${token()}`) {
      res.writeHead(401).end('{"code":"SWY_UNAUTHORIZED"}');
      return;
    }
    const after = url.searchParams.get('generation');
    const send = () => {
      res.writeHead(200, { etag: `"${generation}"`, 'content-type': 'application/json' });
      res.end(body());
    };
    if (after === null || generation > Number(after)) {
      send();
      return;
    }
    const wake = () => {
      clearTimeout(timer);
      waiting.delete(wake);
      send();
    };
    const timer = setTimeout(() => {
      waiting.delete(wake);
      res.writeHead(304, { etag: `"${generation}"` }).end();
    }, 300);
    waiting.add(wake);
  };
  const server: Server = tls ? createTlsServer(tls, handler) : createServer(handler);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    publish(next) {
      weights = next;
      generation++;
      for (const wake of [...waiting]) wake();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('control long-poll client', () => {
  it('long-polls with generation + ETag, follows publishes, re-reads the token, keeps the last table when control is gone', async () => {
    let token = 'token-one';
    const control = await fakeControl(() => token);
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'switchyard-token-')), 'token');
    writeFileSync(tokenFile, `${token}\n`);
    const r = await startTestRouter({
      local: stable.url,
      random: () => 0.5,
      config: { routesFile: null, control: control.url, namespace: 'shop-ns', controlTokenFile: tokenFile },
    });
    let restarted: FakeControl | null = null;
    try {
      await waitFor('the first table', () => r.metric('switchyard_route_generation'), equalTo(1));
      expect(await r.metric('switchyard_control_connected')).toBe(1);
      expect(await appOf(r.url)).toBe('stable');
      await waitUntil('a held poll that ended in 304 and was renewed', () => control.requests.length >= 3);
      const renewed = control.requests[1]!;
      expect(renewed.url).toBe('/v1/routes/shop-ns/shop?generation=1');
      expect(renewed.ifNoneMatch).toBe('"1"');
      expect(renewed.authorization).toBe('Bearer token-one');

      control.publish({ stable: 0, canary: 100 });
      await waitFor('the published table', () => r.metric('switchyard_route_generation'), equalTo(2));
      expect(await appOf(r.url)).toBe('canary');

      token = 'token-two';
      writeFileSync(tokenFile, token);
      const seen = control.requests.length;
      await waitUntil('a poll with the rotated token', () =>
        control.requests.slice(seen).some((q) => q.authorization === 'Bearer token-two'),
      );

      const port = Number(new URL(control.url).port);
      await control.close();
      await waitFor('control_connected to drop', () => r.metric('switchyard_control_connected'), equalTo(0));
      expect(await appOf(r.url)).toBe('canary');
      expect((await fetch(`${r.admin}/readyz`)).status).toBe(200);
      expect(
        r.logs.some(
          (line) =>
            line.msg === 'route poll failed; keeping last table' && typeof line.retryInMs === 'number',
        ),
      ).toBe(true);

      restarted = await fakeControl(() => token, port);
      restarted.publish({ stable: 100, canary: 0 });
      restarted.publish({ stable: 100, canary: 0 });
      await waitFor(
        'reconnect and take generation 3',
        () => r.metric('switchyard_route_generation'),
        equalTo(3),
        { timeoutMs: 15_000 },
      );
      expect(await r.metric('switchyard_control_connected')).toBe(1);
      expect(await appOf(r.url)).toBe('stable');
    } finally {
      await r.close();
      await restarted?.close();
      await control.close().catch(() => undefined);
    }
  });

  it('names a control token file no Authorization header can carry, sends nothing, and recovers once it is fixed', async () => {
    const control = await fakeControl(() => 'token-one');
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'switchyard-token-')), 'token');
    writeFileSync(tokenFile, 'token one\n');
    const r = await startTestRouter({
      local: stable.url,
      config: { routesFile: null, control: control.url, namespace: 'shop-ns', controlTokenFile: tokenFile },
    });
    try {
      const failure = await waitUntil('the poll refused with the reason', () =>
        r.logs.find((line) => line.msg === 'route poll failed; keeping last table'),
      );
      expect(failure.err).toBe(
        `control token file: ${tokenFile} line 1, column 6: a space, which no Authorization header can carry; a bearer token may hold only letters, digits and - . _ ~ + / (then = padding), e.g. from \`openssl rand -hex 32\``,
      );
      expect(control.requests).toEqual([]);
      writeFileSync(tokenFile, 'token-one\n');
      await waitFor('the first table', () => r.metric('switchyard_route_generation'), equalTo(1), {
        timeoutMs: 15_000,
      });
    } finally {
      await r.close();
      await control.close();
    }
  });
});

describe('control over TLS', () => {
  it('verifies control with --control-ca-file and refuses a server the CA did not sign', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-tls-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=switchyard-control',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    writeFileSync(join(dir, 'token'), 't');
    const control = await fakeControl(() => 't', 0, { key: readFileSync(key), cert: readFileSync(cert) });
    const trusted = await startTestRouter({
      local: stable.url,
      config: {
        routesFile: null,
        control: control.url,
        namespace: 'shop-ns',
        controlCaFile: cert,
        controlTokenFile: join(dir, 'token'),
      },
    });
    let late: Awaited<ReturnType<typeof startTestRouter>> | undefined;
    const untrusted = await startTestRouter({
      local: stable.url,
      config: {
        routesFile: null,
        control: control.url,
        namespace: 'shop-ns',
        controlTokenFile: join(dir, 'token'),
      },
    });
    try {
      await waitFor('the table over TLS', () => trusted.metric('switchyard_route_generation'), equalTo(1));
      expect(await trusted.metric('switchyard_control_connected')).toBe(1);
      await waitUntil('the untrusted router to log a TLS failure', () =>
        untrusted.logs.some((line) => line.msg === 'route poll failed; keeping last table'),
      );
      expect(await untrusted.metric('switchyard_route_generation')).toBe(-1);
      expect(await untrusted.metric('switchyard_control_connected')).toBe(0);

      // The CA arrives after the router started (an optional ConfigMap created later): the router
      // keeps running, retries, and connects once the file exists.
      const lateCa = join(dir, 'late-ca.pem');
      late = await startTestRouter({
        local: stable.url,
        config: {
          routesFile: null,
          control: control.url,
          namespace: 'shop-ns',
          controlCaFile: lateCa,
          controlTokenFile: join(dir, 'token'),
        },
      });
      const router = late;
      await waitUntil('the router to report the missing CA file', () =>
        router.logs.some((line) => String(line.err ?? '').includes('not readable yet')),
      );
      writeFileSync(lateCa, readFileSync(cert));
      await waitFor(
        'the table once the CA file exists',
        () => router.metric('switchyard_route_generation'),
        equalTo(1),
      );
    } finally {
      await late?.close();
      await trusted.close();
      await untrusted.close();
      await control.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
