// The Kubernetes side of self-managed TLS: the bundle lives in a Secret, the CA goes into the
// MutatingWebhookConfiguration's caBundle, and the server version decides native sidecars.
// Thin adapters over @kubernetes/client-node; all decisions stay in tls.ts and config.ts.

import {
  type AdmissionregistrationV1Api,
  ApiException,
  type CoreV1Api,
  PatchStrategy,
  type V1Secret,
  type VersionApi,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { parseKubeVersion } from './config.js';
import type { CaBundlePublisher, CertBundle, CertStore } from './tls.js';
import type { KubeVersion } from './types.js';

export const DEFAULT_TLS_SECRET = 'switchyard-webhook-tls';
export const DEFAULT_WEBHOOK_CONFIGURATION = 'switchyard';

const KEYS = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
  caBundle: 'ca-bundle.crt',
} as const;

function isNotFound(error: unknown): boolean {
  return error instanceof ApiException && error.code === 404;
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: string | undefined): string | undefined =>
  text === undefined ? undefined : Buffer.from(text, 'base64').toString('utf8');

/** Stores the CA and serving pair in one Secret (`kubernetes.io/tls` keys plus `ca.key`, `ca-bundle.crt`). */
export class SecretCertStore implements CertStore {
  constructor(
    private readonly core: CoreV1Api,
    private readonly namespace: string,
    private readonly name: string = DEFAULT_TLS_SECRET,
  ) {}

  async load(): Promise<CertBundle | null> {
    let secret: V1Secret;
    try {
      secret = await this.core.readNamespacedSecret({ name: this.name, namespace: this.namespace });
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
    const data = secret.data ?? {};
    const caCert = unb64(data[KEYS.caCert]);
    const caKey = unb64(data[KEYS.caKey]);
    const cert = unb64(data[KEYS.cert]);
    const key = unb64(data[KEYS.key]);
    if (!caCert || !caKey || !cert || !key) return null; // incomplete: the leader regenerates
    return {
      ca: { certPem: caCert, keyPem: caKey },
      serving: { certPem: cert, keyPem: key },
      caBundlePem: unb64(data[KEYS.caBundle]) ?? caCert,
    };
  }

  async save(bundle: CertBundle): Promise<void> {
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/name': 'switchyard', 'app.kubernetes.io/component': 'webhook-tls' },
      },
      type: 'kubernetes.io/tls',
      data: {
        [KEYS.caCert]: b64(bundle.ca.certPem),
        [KEYS.caKey]: b64(bundle.ca.keyPem),
        [KEYS.cert]: b64(bundle.serving.certPem),
        [KEYS.key]: b64(bundle.serving.keyPem),
        [KEYS.caBundle]: b64(bundle.caBundlePem),
      },
    };
    try {
      await this.core.replaceNamespacedSecret({ name: this.name, namespace: this.namespace, body });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await this.core.createNamespacedSecret({ namespace: this.namespace, body });
    }
  }
}

/** Sets `clientConfig.caBundle` on every webhook of the configuration, patching only when it differs. */
export class WebhookCaBundlePublisher implements CaBundlePublisher {
  constructor(
    private readonly admission: AdmissionregistrationV1Api,
    private readonly name: string = DEFAULT_WEBHOOK_CONFIGURATION,
  ) {}

  async publish(caBundlePem: string): Promise<void> {
    const config = await this.admission.readMutatingWebhookConfiguration({ name: this.name });
    const wanted = b64(caBundlePem);
    const operations = (config.webhooks ?? []).flatMap((webhook, index) =>
      webhook.clientConfig.caBundle === wanted
        ? []
        : [{ op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: wanted }],
    );
    if (operations.length === 0) return;
    // The test op makes a concurrent reorder of webhooks fail instead of patching the wrong one.
    const guard = (config.webhooks ?? []).map((webhook, index) => ({
      op: 'test',
      path: `/webhooks/${index}/name`,
      value: webhook.name,
    }));
    await this.admission.patchMutatingWebhookConfiguration(
      { name: this.name, body: [...guard, ...operations] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
  }
}

/** Reads the API server version (`/version`) for the native-sidecar decision. */
export async function fetchServerVersion(version: VersionApi): Promise<KubeVersion> {
  const info = await version.getCode();
  return parseKubeVersion(`${info.major.replace(/\D/g, '')}.${info.minor.replace(/\D/g, '')}`);
}
