// control's webhook over real HTTPS: the self-generated certificate verifies against the CA bundle
// it publishes, and rotating the serving certificate under continuous load loses no request.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInjectConfig } from '../../../webhook/config.js';
import { registerWebhook } from '../../../webhook/server.js';
import {
  type CaBundlePublisher,
  MemoryCertStore,
  SelfManagedTls,
  attachTlsSource,
  serviceDnsNames,
} from '../../../webhook/tls.js';

const logger = pino({ level: 'silent' });
const fixture = readFileSync(
  join(import.meta.dirname, '../../fixtures/admission/pod-named-port.json'),
  'utf8',
);

let app: FastifyInstance;
let tls: SelfManagedTls;
let origin: string;
let caBundle = '';
const clock = {
  time: Date.now(),
  now() {
    return this.time;
  },
};
const registry = new Registry();

beforeAll(async () => {
  const publisher: CaBundlePublisher = {
    async publish(pem) {
      caBundle = pem;
    },
  };
  tls = new SelfManagedTls({
    store: new MemoryCertStore(),
    publisher,
    isLeader: () => true,
    dnsNames: serviceDnsNames('switchyard-control', 'switchyard-system'),
    ipAddresses: ['127.0.0.1'],
    clock,
    logger,
    // Short enough that a renewal is due after ~20 s of fake time, which stays within the 5-minute
    // back-dating of notBefore, so every rotated certificate is valid in real time too.
    servingLifetimeMs: 3 * 60_000,
  });
  await tls.check();
  const pair = tls.current();
  app = Fastify({ https: { cert: pair.certPem, key: pair.keyPem }, logger: false });
  await registerWebhook(app, {
    inject: makeInjectConfig({ routerImage: 'switchyard:test', version: '0.1.0' }),
    registry,
    logger,
  });
  attachTlsSource(app.server as unknown as TlsServer, tls);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  origin = `https://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  tls.stop();
  await app.close();
});

function peerFingerprint(): Promise<string> {
  const url = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: url.hostname, port: Number(url.port), ca: caBundle, servername: undefined },
      () => {
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        socket.end();
        resolve(fingerprint);
      },
    );
    socket.on('error', reject);
  });
}

async function mutate(dispatcher: Agent): Promise<{ status: number; allowed: boolean | undefined }> {
  const response = await request(`${origin}/mutate`, {
    method: 'POST',
    body: fixture,
    headers: { 'content-type': 'application/json' },
    dispatcher,
  });
  const body = (await response.body.json()) as { response?: { allowed?: boolean } };
  return { status: response.statusCode, allowed: body.response?.allowed };
}

describe('webhook over HTTPS', () => {
  it('serves a certificate that verifies against the published CA bundle', async () => {
    const agent = new Agent({ connect: { ca: caBundle } });
    try {
      expect(await mutate(agent)).toEqual({ status: 200, allowed: true });
    } finally {
      await agent.close();
    }
    const strict = new Agent({
      connect: { ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
    });
    await expect(mutate(strict)).rejects.toThrow();
    await strict.close();
  });

  it('rotates the serving certificate during continuous requests without losing one', async () => {
    const before = await peerFingerprint();
    const keepAlive = new Agent({ connect: { ca: caBundle }, connections: 2 });
    const results: { status: number; allowed: boolean | undefined }[] = [];
    const failures: unknown[] = [];
    let rotating = true;
    const worker = async (fresh: boolean) => {
      while (rotating) {
        // Fresh connections see the new certificate; kept-alive ones keep their session.
        const agent = fresh ? new Agent({ connect: { ca: caBundle }, pipelining: 0 }) : keepAlive;
        try {
          results.push(await mutate(agent));
        } catch (error) {
          failures.push(error);
        } finally {
          if (fresh) await agent.close();
        }
      }
    };
    const workers = [worker(false), worker(false), worker(true), worker(true)];
    const fingerprints = new Set([before]);
    for (let rotation = 1; rotation <= 3; rotation++) {
      const target = results.length + 20;
      while (results.length < target && failures.length === 0) await new Promise((r) => setImmediate(r));
      clock.time += 21_000; // past 2/3 of the (back-dated) lifetime
      await tls.check();
      fingerprints.add(await peerFingerprint());
    }
    const target = results.length + 20;
    while (results.length < target && failures.length === 0) await new Promise((r) => setImmediate(r));
    rotating = false;
    await Promise.all(workers);
    await keepAlive.close();

    expect(failures).toEqual([]);
    expect(fingerprints.size).toBe(4); // every rotation reached new connections
    expect(results.length).toBeGreaterThanOrEqual(80);
    expect(results.every((result) => result.status === 200 && result.allowed === true)).toBe(true);
    const served = new X509Certificate(tls.current().certPem);
    expect(served.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });
});
