// Wires `switchyard control` in Kubernetes mode: the controller (leader-elected), the webhook
// (`POST /mutate`), the route server (every replica, tables from Canary status), the operator API
// over Canary objects and the dashboard, behind one HTTPS listener with self-managed or file TLS.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import {
  AdmissionregistrationV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  VersionApi,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorMessage } from '../../api/errors.js';
import { VERSION } from '../../api/version.js';
import { makeInjectConfig } from '../../webhook/config.js';
import { registerWebhook } from '../../webhook/server.js';
import { attachTlsSource, SelfManagedTls, serviceDnsNames } from '../../webhook/tls.js';
import { watchTlsFiles } from '../../webhook/tls-files.js';
import { fetchServerVersion, SecretCertStore, WebhookCaBundlePublisher } from '../../webhook/tls-kube.js';
import type { KubeVersion } from '../../webhook/types.js';
import { apiTokenCheck, type TokenCheck } from '../api.js';
import { type ControlServer, startControlServer } from '../control-server.js';
import type { TransitionFn, WindowAnalyzer } from '../window-analyzer.js';
import { RouteStore } from '../route-server.js';
import { TokenReviewAuthenticator } from '../router-auth.js';
import { KubeRollouts, kubeBackend } from './commands.js';
import { KubeController } from './controller.js';

export interface KubeControlOptions {
  readonly kubeConfig: KubeConfig;
  readonly host: string;
  readonly port: number;
  /**
   * --tls-cert-file/--tls-key-file (e.g. cert-manager; watched and hot-reloaded) and the CA file
   * routers should trust (kept in the `switchyard-ca` ConfigMaps); null = self-managed TLS.
   */
  readonly tlsFiles: {
    readonly certFile: string;
    readonly keyFile: string;
    readonly caFile: string | null;
  } | null;
  /** Namespace control runs in (Lease, TLS Secret). */
  readonly namespace: string;
  /** Service name routers and the API server use (certificate DNS names). */
  readonly serviceName: string;
  /** Holder identity for the Lease: the pod name. */
  readonly identity: string;
  readonly leaseName: string;
  readonly leaseDurationMs: number;
  readonly renewMs: number;
  readonly tlsSecretName: string;
  readonly webhookConfigurationName: string;
  /** Usernames whose Deployment updates the webhook lets through (this controller's identity). */
  readonly controllerUsernames: readonly string[];
  /** Whether `analyzer` queries Prometheus: without it the webhook warns about custom checks. */
  readonly prometheusConfigured: boolean;
  readonly routerImage: string;
  /** URL routers use to reach control. */
  readonly controlUrl: string;
  readonly routerPort: number;
  readonly adminPort: number;
  /** Bearer token for the operator API; null = API refuses every request unless loopback. */
  readonly apiToken: string | null;
  readonly analyzer: WindowAnalyzer;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly now?: () => Date;
  readonly transition?: TransitionFn;
  readonly holdMs?: number;
  readonly resyncMs?: number;
  readonly analysisIntervalMs?: number;
}

export interface KubeControl {
  readonly server: ControlServer;
  readonly controller: KubeController;
  readonly routes: RouteStore;
  close(): Promise<void>;
}

function loopback(host: string): boolean {
  return host === 'localhost' || (isIP(host) !== 0 && (host.startsWith('127.') || host === '::1'));
}

export async function startKubeControl(options: KubeControlOptions): Promise<KubeControl> {
  const { kubeConfig: kc, logger } = options;
  const log = logger.child({ component: 'kube-control' });
  const routes = new RouteStore();
  let tls: SelfManagedTls | null = null;
  const files = options.tlsFiles;
  const fileSource =
    files === null ? null : watchTlsFiles({ certFile: files.certFile, keyFile: files.keyFile, logger });
  const caFromFile = (): string | null => {
    if (files?.caFile == null) return null;
    try {
      return readFileSync(files.caFile, 'utf8');
    } catch (error) {
      log.warn(
        { err: errorMessage(error), caFile: files.caFile },
        'cannot read the CA file for switchyard-ca',
      );
      return null;
    }
  };
  const controller = new KubeController({
    kubeConfig: kc,
    routes,
    analyzer: options.analyzer,
    logger,
    identity: options.identity,
    leaseNamespace: options.namespace,
    leaseName: options.leaseName,
    leaseDurationMs: options.leaseDurationMs,
    renewMs: options.renewMs,
    routerPort: options.routerPort,
    adminPort: options.adminPort,
    caBundle: () => (tls === null ? caFromFile() : safeCaBundle(tls)),
    ...(fileSource === null
      ? {
          tlsSecret: {
            namespace: options.namespace,
            name: options.tlsSecretName,
            onChange: () => {
              tls
                ?.check()
                .catch((error: unknown) => log.warn({ err: errorMessage(error) }, 'TLS check failed'));
            },
          },
        }
      : {}),
    onLeadership: (leading) => {
      // The new leader checks (creates/renews/publishes) the webhook certificate at once.
      if (leading && tls !== null)
        tls.check().catch((error: unknown) => log.warn({ err: errorMessage(error) }, 'TLS check failed'));
    },
    ...(options.now ? { now: options.now } : {}),
    ...(options.transition ? { transition: options.transition } : {}),
    ...(options.resyncMs === undefined ? {} : { resyncMs: options.resyncMs }),
    ...(options.analysisIntervalMs === undefined ? {} : { analysisIntervalMs: options.analysisIntervalMs }),
  });
  await controller.start();

  if (fileSource === null) {
    tls = new SelfManagedTls({
      store: new SecretCertStore(kc.makeApiClient(CoreV1Api), options.namespace, options.tlsSecretName),
      publisher: new WebhookCaBundlePublisher(
        kc.makeApiClient(AdmissionregistrationV1Api),
        options.webhookConfigurationName,
      ),
      isLeader: () => controller.isLeader,
      dnsNames: serviceDnsNames(options.serviceName, options.namespace),
      clock: { now: () => Date.now() },
      logger,
    });
    await tls.start();
  }
  const source = fileSource ?? tls!;
  const pair = { cert: source.current().certPem, key: source.current().keyPem };

  let serverVersion: KubeVersion = { major: 1, minor: 29 };
  try {
    serverVersion = await fetchServerVersion(kc.makeApiClient(VersionApi));
  } catch (error) {
    log.warn(
      { err: errorMessage(error) },
      'could not read the server version; assuming 1.29 (native sidecars)',
    );
  }
  const inject = makeInjectConfig({
    routerImage: options.routerImage,
    controlUrl: options.controlUrl,
    serverVersion,
    routerPort: options.routerPort,
    adminPort: options.adminPort,
    version: VERSION,
  });
  const rollouts = new KubeRollouts({
    custom: kc.makeApiClient(CustomObjectsApi),
    core: kc.makeApiClient(CoreV1Api),
    now: options.now ?? (() => new Date()),
  });
  let checkApiToken: TokenCheck | null = options.apiToken === null ? null : apiTokenCheck(options.apiToken);
  if (checkApiToken === null && !loopback(options.host)) {
    log.warn(
      'no --api-token-file: the operator API refuses every request (use kubectl/switchyard CLI via the Canary)',
    );
    checkApiToken = () => false;
  }
  const server = await startControlServer({
    host: options.host,
    port: options.port,
    tls: pair,
    logger,
    routes,
    routerAuth: new TokenReviewAuthenticator({
      api: kc.makeApiClient(AuthenticationV1Api),
      now: () => Date.now(),
      onError: (error) => log.warn({ err: errorMessage(error) }, 'TokenReview failed; router poll refused'),
    }),
    backend: kubeBackend(rollouts),
    checkApiToken,
    registry: options.registry,
    ...(options.holdMs === undefined ? {} : { holdMs: options.holdMs }),
    extend: (app) =>
      registerWebhook(app, {
        inject,
        controllerUsernames: options.controllerUsernames,
        prometheusConfigured: options.prometheusConfigured,
        registry: options.registry,
        logger,
      }),
  });
  const detach = attachTlsSource(server.app.server as unknown as TlsServer, source);
  return {
    server,
    controller,
    routes,
    async close() {
      detach();
      tls?.stop();
      fileSource?.close();
      await controller.stop();
      await server.close();
    },
  };
}

function safeCaBundle(tls: SelfManagedTls): string | null {
  try {
    return tls.caBundlePem();
  } catch {
    return null;
  }
}
