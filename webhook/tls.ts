// Self-managed webhook TLS: a CA and a serving certificate for switchyard-control.<ns>.svc,
// renewed at a fraction of their lifetime and hot-swapped into the running server with
// setSecureContext (open connections keep their session). Kubernetes I/O sits behind CertStore
// and CaBundlePublisher (see tls-kube.ts), so this file is testable with in-memory fakes.

import { webcrypto } from 'node:crypto';
import type { Server as TlsServer } from 'node:tls';
import * as x509 from '@peculiar/x509';
import type { Logger } from 'pino';

export interface Clock {
  now(): number;
}

export interface KeyPairPem {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Everything a control replica needs to serve and everything the API server needs to trust it. */
export interface CertBundle {
  readonly ca: KeyPairPem;
  readonly serving: KeyPairPem;
  /** PEM CA certificates the API server must trust: the current CA, plus the previous one while it lives. */
  readonly caBundlePem: string;
}

/** Where the bundle lives (a Secret in Kubernetes). */
export interface CertStore {
  load(): Promise<CertBundle | null>;
  save(bundle: CertBundle): Promise<void>;
}

/** Who must learn the CA (the MutatingWebhookConfiguration's caBundle). Idempotent. */
export interface CaBundlePublisher {
  publish(caBundlePem: string): Promise<void>;
}

/** A source of the serving key pair that can change at run time. */
export interface TlsSource {
  current(): KeyPairPem;
  onChange(listener: (pair: KeyPairPem) => void): () => void;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const CLOCK_SKEW_MS = 5 * 60_000;
const DAY_MS = 86_400_000;
const crypto = webcrypto;

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return await webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, true, ['sign']);
}

function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // positive
  return Buffer.from(bytes).toString('hex');
}

/** A self-signed CA valid from `now` (minus skew) for `lifetimeMs`. */
export async function generateCa(options: {
  commonName: string;
  now: number;
  lifetimeMs: number;
}): Promise<KeyPairPem> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(),
      name: `CN=${options.commonName}`,
      notBefore: new Date(options.now - CLOCK_SKEW_MS),
      notAfter: new Date(options.now + options.lifetimeMs),
      keys,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** A serving certificate signed by `ca` for the given DNS names and IP addresses. */
export async function issueServingCert(
  ca: KeyPairPem,
  options: { dnsNames: readonly string[]; ipAddresses?: readonly string[]; now: number; lifetimeMs: number },
): Promise<KeyPairPem> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const keys = await generateKeys();
  const names: x509.JsonGeneralNames = [
    ...options.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject: `CN=${options.dnsNames[0] ?? options.ipAddresses?.[0] ?? 'switchyard'}`,
      issuer: caCert.subject,
      notBefore: new Date(options.now - CLOCK_SKEW_MS),
      notAfter: new Date(options.now + options.lifetimeMs),
      publicKey: keys.publicKey,
      signingKey: await importKey(ca.keyPem),
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(names, false),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** The DNS names the API server uses for a Service: `svc.ns.svc` and friends. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
    `${service}.${namespace}`,
    service,
  ];
}

export interface CertValidity {
  readonly notBefore: number;
  readonly notAfter: number;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

export function certValidity(certPem: string): CertValidity {
  const cert = new x509.X509Certificate(certPem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.toJSON() ?? [];
  return {
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
    dnsNames: names.filter((name) => name.type === 'dns').map((name) => name.value),
    ipAddresses: names.filter((name) => name.type === 'ip').map((name) => name.value),
  };
}

/** True once `now` has passed `renewFraction` of the certificate's lifetime (or it is unreadable). */
export function needsRenewal(certPem: string, now: number, renewFraction: number): boolean {
  try {
    const { notBefore, notAfter } = certValidity(certPem);
    return now >= notBefore + (notAfter - notBefore) * renewFraction;
  } catch {
    return true;
  }
}

function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export interface SelfManagedTlsOptions {
  readonly store: CertStore;
  /** Null when nobody needs to learn the CA (tests, file mode). */
  readonly publisher: CaBundlePublisher | null;
  /** Only the leader generates and writes; followers load what it saved. */
  readonly isLeader: () => boolean;
  readonly dnsNames: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly clock: Clock;
  readonly logger: Logger;
  /** Serving certificate lifetime. Default 90 days. */
  readonly servingLifetimeMs?: number;
  /** CA lifetime. Default 10 years. */
  readonly caLifetimeMs?: number;
  /** Renew when this fraction of the lifetime has passed. Default 2/3. */
  readonly renewFraction?: number;
  /** How often `start()`'s timer calls `check()`. Default 60 s. */
  readonly checkIntervalMs?: number;
}

/**
 * Keeps a valid serving certificate available: the leader creates/renews and publishes, followers
 * follow the store. Decisions use the injected clock; `check()` is one tick (tests call it).
 */
export class SelfManagedTls implements TlsSource {
  private bundle: CertBundle | null = null;
  private readonly listeners = new Set<(pair: KeyPairPem) => void>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The check under way, and the one queued behind it (calls meanwhile share that one). */
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  private readonly log: Logger;
  private readonly renewFraction: number;
  private readonly servingLifetimeMs: number;
  private readonly caLifetimeMs: number;

  constructor(private readonly options: SelfManagedTlsOptions) {
    this.log = options.logger.child({ component: 'webhook-tls' });
    this.renewFraction = options.renewFraction ?? 2 / 3;
    this.servingLifetimeMs = options.servingLifetimeMs ?? 90 * DAY_MS;
    this.caLifetimeMs = options.caLifetimeMs ?? 3650 * DAY_MS;
    if (!(this.renewFraction > 0 && this.renewFraction < 1))
      throw new RangeError('renewFraction must be in (0, 1)');
  }

  current(): KeyPairPem {
    if (!this.bundle) throw new Error('no serving certificate yet; await start() first');
    return this.bundle.serving;
  }

  caBundlePem(): string {
    if (!this.bundle) throw new Error('no CA yet; await start() first');
    return this.bundle.caBundlePem;
  }

  onChange(listener: (pair: KeyPairPem) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Checks once, then keeps checking on a timer; resolves once a certificate is available. */
  async start(): Promise<void> {
    const interval = this.options.checkIntervalMs ?? 60_000;
    this.stopped = false;
    while (this.bundle === null) {
      if (this.stopped) throw new Error('stopped before a webhook certificate was available');
      await this.check();
      if (this.bundle === null) {
        this.log.info('waiting for the leader to create the webhook certificate');
        await new Promise((resolve) => setTimeout(resolve, Math.min(interval, 2000)));
      }
    }
    this.timer = setInterval(() => {
      this.check().catch((error: unknown) =>
        this.log.error({ err: error }, 'webhook certificate check failed'),
      );
    }, interval);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * One tick: load, and when leader create/renew/publish. Ticks never overlap: two at once could both
   * create a CA, and the second would publish a bundle without the first. A call while one runs
   * waits for a single follow-up tick, shared with every other call made meanwhile.
   */
  check(): Promise<void> {
    if (this.running === null) {
      this.running = this.checkOnce().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.check();
      });
    return this.queued;
  }

  private async checkOnce(): Promise<void> {
    const now = this.options.clock.now();
    let bundle = await this.options.store.load();
    if (this.options.isLeader()) {
      if (bundle === null || needsRenewal(bundle.ca.certPem, now, this.renewFraction)) {
        bundle = await this.rotateCa(bundle, now);
      } else if (needsRenewal(bundle.serving.certPem, now, this.renewFraction) || !this.coversNames(bundle)) {
        const serving = await issueServingCert(bundle.ca, this.servingRequest(now));
        bundle = { ...bundle, serving };
        await this.options.store.save(bundle);
        this.log.info(
          { notAfter: certValidity(serving.certPem).notAfter },
          'renewed webhook serving certificate',
        );
      }
      // Idempotent; also repairs a caBundle wiped by a re-applied MutatingWebhookConfiguration.
      await this.options.publisher?.publish(bundle.caBundlePem);
    }
    if (bundle !== null) this.use(bundle);
  }

  private servingRequest(now: number) {
    return {
      dnsNames: this.options.dnsNames,
      ipAddresses: this.options.ipAddresses ?? [],
      now,
      lifetimeMs: this.servingLifetimeMs,
    };
  }

  private coversNames(bundle: CertBundle): boolean {
    const validity = certValidity(bundle.serving.certPem);
    return (
      this.options.dnsNames.every((name) => validity.dnsNames.includes(name)) &&
      (this.options.ipAddresses ?? []).every((ip) => validity.ipAddresses.includes(ip))
    );
  }

  private async rotateCa(previous: CertBundle | null, now: number): Promise<CertBundle> {
    const ca = await generateCa({ commonName: 'switchyard-webhook-ca', now, lifetimeMs: this.caLifetimeMs });
    const serving = await issueServingCert(ca, this.servingRequest(now));
    // Keep trusting the old CA while it is valid so replicas still serving the old cert keep working.
    const stillValid =
      previous !== null && !needsRenewal(previous.ca.certPem, now, 1) ? splitPem(previous.ca.certPem) : [];
    const bundle: CertBundle = {
      ca,
      serving,
      caBundlePem: [ca.certPem.trim(), ...stillValid].join('\n') + '\n',
    };
    // Publish before saving: by the time any replica serves the new cert, the API server trusts it.
    await this.options.publisher?.publish(bundle.caBundlePem);
    await this.options.store.save(bundle);
    this.log.info(
      { notAfter: certValidity(ca.certPem).notAfter },
      'created webhook CA and serving certificate',
    );
    return bundle;
  }

  private use(bundle: CertBundle): void {
    const changed = this.bundle?.serving.certPem !== bundle.serving.certPem;
    this.bundle = bundle;
    if (changed) for (const listener of this.listeners) listener(bundle.serving);
  }
}

/** Keeps a TLS server's certificate in step with a source; returns the unsubscribe function. */
export function attachTlsSource(server: TlsServer, source: TlsSource): () => void {
  return source.onChange((pair) => server.setSecureContext({ cert: pair.certPem, key: pair.keyPem }));
}

/** An in-memory CertStore (tests, single-replica file mode). */
export class MemoryCertStore implements CertStore {
  bundle: CertBundle | null = null;
  async load(): Promise<CertBundle | null> {
    return this.bundle;
  }
  async save(bundle: CertBundle): Promise<void> {
    this.bundle = bundle;
  }
}
