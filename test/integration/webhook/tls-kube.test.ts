// The Kubernetes adapters of webhook TLS against a small stub of the API server (real HTTP, real
// @kubernetes/client-node): the leader creates the Secret and patches caBundle on both webhooks,
// a follower serves the same certificate, and an unchanged caBundle is not patched again.

import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import Fastify, { type FastifyInstance } from 'fastify';
import jsonPatch from 'fast-json-patch';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretCertStore, WebhookCaBundlePublisher, fetchServerVersion } from '../../../webhook/tls-kube.js';
import { SelfManagedTls, serviceDnsNames } from '../../../webhook/tls.js';

const secrets = new Map<string, Record<string, unknown>>();
const webhookConfig = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'MutatingWebhookConfiguration',
  metadata: { name: 'switchyard' },
  webhooks: [
    {
      name: 'deployments.switchyard.io',
      clientConfig: { service: { name: 'switchyard-control', namespace: 'switchyard-system' } },
    },
    {
      name: 'pods.switchyard.io',
      clientConfig: { service: { name: 'switchyard-control', namespace: 'switchyard-system' } },
    },
  ],
} as Record<string, unknown>;
const patchContentTypes: string[] = [];
let stub: FastifyInstance;
let kubeConfig: KubeConfig;

const notFound = { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 };

beforeAll(async () => {
  stub = Fastify({ logger: false });
  stub.addContentTypeParser('application/json-patch+json', { parseAs: 'string' }, (_req, body, done) =>
    done(null, JSON.parse(body as string)),
  );
  stub.get('/version', async () => ({ major: '1', minor: '30+', gitVersion: 'v1.30.2' }));
  stub.get<{ Params: { ns: string; name: string } }>(
    '/api/v1/namespaces/:ns/secrets/:name',
    async (request, reply) => {
      const secret = secrets.get(`${request.params.ns}/${request.params.name}`);
      return secret ?? reply.code(404).send(notFound);
    },
  );
  stub.put<{ Params: { ns: string; name: string } }>(
    '/api/v1/namespaces/:ns/secrets/:name',
    async (request, reply) => {
      const key = `${request.params.ns}/${request.params.name}`;
      if (!secrets.has(key)) return reply.code(404).send(notFound);
      secrets.set(key, request.body as Record<string, unknown>);
      return request.body;
    },
  );
  stub.post<{ Params: { ns: string } }>('/api/v1/namespaces/:ns/secrets', async (request, reply) => {
    const body = request.body as { metadata: { name: string } };
    secrets.set(`${request.params.ns}/${body.metadata.name}`, body);
    return reply.code(201).send(body);
  });
  const path = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/switchyard';
  stub.get(path, async () => webhookConfig);
  stub.patch(path, async (request) => {
    patchContentTypes.push(String(request.headers['content-type']));
    jsonPatch.applyPatch(webhookConfig, request.body as jsonPatch.Operation[], true);
    return webhookConfig;
  });
  await stub.listen({ host: '127.0.0.1', port: 0 });
  const address = stub.server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'stub', server: `http://127.0.0.1:${address.port}`, skipTLSVerify: true }],
    users: [{ name: 'test', token: 'test-token' }],
    contexts: [{ name: 'stub', cluster: 'stub', user: 'test' }],
    currentContext: 'stub',
  });
});

afterAll(async () => {
  await stub.close();
});

function manager(leader: boolean): SelfManagedTls {
  return new SelfManagedTls({
    store: new SecretCertStore(kubeConfig.makeApiClient(CoreV1Api), 'switchyard-system'),
    publisher: leader
      ? new WebhookCaBundlePublisher(kubeConfig.makeApiClient(AdmissionregistrationV1Api))
      : null,
    isLeader: () => leader,
    dnsNames: serviceDnsNames('switchyard-control', 'switchyard-system'),
    clock: { now: () => Date.now() },
    logger: pino({ level: 'silent' }),
  });
}

describe('webhook TLS on Kubernetes', () => {
  it('leader stores the bundle in a Secret and sets caBundle on every webhook; follower serves the same cert', async () => {
    const follower = manager(false);
    await follower.check();
    expect(() => follower.current()).toThrow(); // nothing yet; a follower never generates

    const leader = manager(true);
    await leader.check();
    const secret = secrets.get('switchyard-system/switchyard-webhook-tls') as {
      type: string;
      data: Record<string, string>;
    };
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Buffer.from(secret.data['tls.crt']!, 'base64').toString()).toBe(leader.current().certPem);
    const caBundle = Buffer.from(leader.caBundlePem()).toString('base64');
    const webhooks = webhookConfig.webhooks as { clientConfig: { caBundle?: string } }[];
    expect(webhooks.map((webhook) => webhook.clientConfig.caBundle)).toEqual([caBundle, caBundle]);
    expect(patchContentTypes).toEqual(['application/json-patch+json']);

    await follower.check();
    expect(follower.current().certPem).toBe(leader.current().certPem);

    await leader.check(); // nothing to renew, caBundle already right: no second patch
    expect(patchContentTypes).toHaveLength(1);
  });

  it('reads the server version for the native-sidecar decision', async () => {
    expect(await fetchServerVersion(kubeConfig.makeApiClient(VersionApi))).toEqual({ major: 1, minor: 30 });
  });
});
