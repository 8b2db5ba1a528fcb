import { X509Certificate } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { watchTlsFiles } from './tls-files.js';
import {
  type CaBundlePublisher,
  MemoryCertStore,
  SelfManagedTls,
  certValidity,
  generateCa,
  issueServingCert,
  serviceDnsNames,
} from './tls.js';

const DAY = 86_400_000;
const logger = pino({ level: 'silent' });
const T0 = Date.UTC(2026, 0, 1);

class FakeClock {
  constructor(public time: number) {}
  now(): number {
    return this.time;
  }
}

class RecordingPublisher implements CaBundlePublisher {
  published: string[] = [];
  async publish(caBundlePem: string): Promise<void> {
    this.published.push(caBundlePem);
  }
}

describe('certificates', () => {
  it('issues a serving certificate for the Service names that verifies against the CA', async () => {
    const ca = await generateCa({ commonName: 'test-ca', now: Date.now(), lifetimeMs: DAY });
    const serving = await issueServingCert(ca, {
      dnsNames: serviceDnsNames('switchyard-control', 'switchyard-system'),
      ipAddresses: ['127.0.0.1'],
      now: Date.now(),
      lifetimeMs: DAY,
    });
    const cert = new X509Certificate(serving.certPem);
    const caCert = new X509Certificate(ca.certPem);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.checkHost('switchyard-control.switchyard-system.svc')).toBeDefined();
    expect(cert.checkHost('switchyard-control.switchyard-system.svc.cluster.local')).toBeDefined();
    expect(cert.checkHost('evil.example')).toBeUndefined();
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(caCert.ca).toBe(true);
    expect(cert.ca).toBe(false);
  });
});

describe('SelfManagedTls', () => {
  function manager(
    store: MemoryCertStore,
    clock: FakeClock,
    leader: boolean,
    publisher: CaBundlePublisher | null,
  ) {
    return new SelfManagedTls({
      store,
      publisher,
      isLeader: () => leader,
      dnsNames: serviceDnsNames('switchyard-control', 'ns'),
      ipAddresses: ['127.0.0.1'],
      clock,
      logger,
      servingLifetimeMs: 90 * DAY,
      caLifetimeMs: 3650 * DAY,
    });
  }

  it('leader creates and publishes; renews the serving cert at 2/3 of its lifetime; follower follows', async () => {
    const store = new MemoryCertStore();
    const clock = new FakeClock(T0);
    const publisher = new RecordingPublisher();
    const leader = manager(store, clock, true, publisher);
    const follower = manager(store, clock, false, null);
    const changes: string[] = [];
    follower.onChange((pair) => changes.push(pair.certPem));

    await follower.check();
    expect(() => follower.current()).toThrow(/no serving certificate/);
    await leader.check();
    expect(publisher.published[0]).toBe(store.bundle!.caBundlePem);
    expect(publisher.published[0]).toContain(store.bundle!.ca.certPem.trim());
    const first = leader.current().certPem;
    await follower.check();
    expect(follower.current().certPem).toBe(first);

    clock.time = T0 + 59 * DAY; // before 2/3 of 90 days
    await leader.check();
    expect(leader.current().certPem).toBe(first);

    clock.time = T0 + 61 * DAY;
    await leader.check();
    const second = leader.current().certPem;
    expect(second).not.toBe(first);
    expect(certValidity(second).notAfter).toBeGreaterThan(certValidity(first).notAfter);
    // Same CA: the API server's caBundle stays valid.
    expect(new X509Certificate(second).checkIssued(new X509Certificate(store.bundle!.ca.certPem))).toBe(true);
    await follower.check();
    expect(changes).toEqual([first, second]);
  });

  it('rotating the CA keeps trusting the previous CA in the published bundle', async () => {
    const store = new MemoryCertStore();
    const clock = new FakeClock(T0);
    const publisher = new RecordingPublisher();
    const leader = manager(store, clock, true, publisher);
    await leader.check();
    const oldCa = store.bundle!.ca.certPem.trim();
    clock.time = T0 + 2500 * DAY; // past 2/3 of 10 years, CA still valid
    await leader.check();
    const bundle = publisher.published.at(-1)!;
    expect(store.bundle!.ca.certPem.trim()).not.toBe(oldCa);
    expect(bundle).toContain(oldCa);
    expect(bundle).toContain(store.bundle!.ca.certPem.trim());
  });
  it('checks never overlap: calls during a check share one follow-up, so an empty store gets one CA', async () => {
    const store = new MemoryCertStore();
    const publisher = new RecordingPublisher();
    const leader = manager(store, new FakeClock(T0), true, publisher);
    await Promise.all([leader.check(), leader.check(), leader.check()]);
    // The first check creates the CA; the follow-up finds it and republishes the same bundle.
    expect(new Set(publisher.published)).toEqual(new Set([store.bundle!.caBundlePem]));
    expect(leader.current().certPem).toBe(store.bundle!.serving.certPem);
  });
});

describe('watchTlsFiles', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('reloads when the files change and keeps the old pair when the new one is broken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swy-tls-'));
    dirs.push(dir);
    const ca = await generateCa({ commonName: 'ca', now: Date.now(), lifetimeMs: DAY });
    const one = await issueServingCert(ca, { dnsNames: ['a'], now: Date.now(), lifetimeMs: DAY });
    const two = await issueServingCert(ca, { dnsNames: ['b'], now: Date.now(), lifetimeMs: DAY });
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    writeFileSync(certFile, one.certPem);
    writeFileSync(keyFile, one.keyPem);
    const source = watchTlsFiles({ certFile, keyFile, logger });
    try {
      const seen = new Promise<string>((resolve) => source.onChange((pair) => resolve(pair.certPem)));
      writeFileSync(`${certFile}.tmp`, two.certPem);
      writeFileSync(`${keyFile}.tmp`, two.keyPem);
      renameSync(`${keyFile}.tmp`, keyFile);
      renameSync(`${certFile}.tmp`, certFile);
      expect(await seen).toBe(two.certPem);
      writeFileSync(keyFile, one.keyPem); // mismatched with cert two
      expect(source.reload()).toBe(false);
      expect(source.current().certPem).toBe(two.certPem);
    } finally {
      source.close();
    }
  });

  it('fails clearly when the files do not hold a usable pair', () => {
    const dir = mkdtempSync(join(tmpdir(), 'swy-tls-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'c'), 'nope');
    writeFileSync(join(dir, 'k'), 'nope');
    expect(() => watchTlsFiles({ certFile: join(dir, 'c'), keyFile: join(dir, 'k'), logger })).toThrow(
      /--tls-cert-file .*cannot load/,
    );
  });
});
