// Throw-away certificates for the fake cluster: a CA plus serving certificates for the API server
// and for test webhooks. ECDSA P-256 keeps generation fast; nothing here is meant to be secure.

import { webcrypto } from 'node:crypto';

type CryptoKeyPair = webcrypto.CryptoKeyPair;
import * as x509 from '@peculiar/x509';

export interface CertificateAuthority {
  readonly certPem: string;
  readonly keyPem: string;
  readonly keys: CryptoKeyPair;
  readonly cert: x509.X509Certificate;
}

export interface ServingCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  /** The CA's certificate, what a client trusts (`caBundle`, `certificate-authority-data`). */
  readonly caPem: string;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

function toPem(der: ArrayBuffer, label: string): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

async function keyPem(keys: CryptoKeyPair): Promise<string> {
  return toPem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function createCertificateAuthority(
  commonName = 'fake-cluster-ca',
): Promise<CertificateAuthority> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: ALGORITHM,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * 3600_000),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys), keys, cert };
}

/** A serving certificate for `hosts` (DNS names and IP addresses) signed by `ca`. */
export async function createServingCertificate(
  ca: CertificateAuthority,
  hosts: readonly string[],
): Promise<ServingCertificate> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const keys = await generateKeys();
  const now = Date.now();
  const isIp = (host: string) => /^[0-9.]+$/.test(host) || host.includes(':');
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${hosts[0] ?? 'localhost'}`,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALGORITHM,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * 3600_000),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        hosts.map((host) => ({ type: isIp(host) ? 'ip' : 'dns', value: host })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys), caPem: ca.certPem };
}
