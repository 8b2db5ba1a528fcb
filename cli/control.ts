// `switchyard control`: flags and SWITCHYARD_<FLAG> env parsed once into a frozen config; file mode
// (--config) starts the file-mode controller; without it, Kubernetes mode (controller/kube/control.ts).

import { readFile } from 'node:fs/promises';
import { type Logger, pino } from 'pino';
import { Registry } from 'prom-client';
import { readTokenFile } from '../api/bearer.js';
import { errorMessage } from '../api/errors.js';
import {
  type FlagTable,
  flagDuration,
  flagError,
  flagOneOf,
  flagPort,
  flagUsage,
  parseHostPort,
  readFlags,
} from '../api/flags.js';
import { createProvider } from '../controller/analysis/provider.js';
import { ProviderAnalyzer } from '../controller/file-mode/analyzer.js';
import { startFileModeControl } from '../controller/file-mode/start.js';
import { loadKubeConfig } from '../controller/kube/client.js';
import { startKubeControl } from '../controller/kube/control.js';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { VERSION } from '../api/version.js';
import { LOG_LEVELS } from '../router/log.js';
import { DEFAULT_ADMIN_PORT, DEFAULT_ROUTER_PORT } from '../webhook/config.js';
import { untilSignal } from './signals.js';

export const CONTROL_FLAGS: FlagTable = {
  config: {
    value: 'path',
    help: 'file mode: switchyard.yaml (services, tracks, rollout settings); absent = Kubernetes mode',
  },
  'state-dir': {
    value: 'dir',
    help: 'file mode: where rollout state is persisted (one JSON file per service)',
  },
  listen: {
    value: 'host:port',
    default: '0.0.0.0:8443',
    help: 'route server, operator API and webhook listener',
  },
  'tls-cert-file': { value: 'path', help: 'PEM certificate (optional in file mode: plain HTTP without it)' },
  'tls-key-file': { value: 'path', help: 'PEM private key for --tls-cert-file' },
  'router-token-file': {
    value: 'path',
    help: 'file mode: shared secret routers present (wins over routerAuth in the config)',
  },
  'api-token-file': {
    value: 'path',
    help: 'bearer token the operator API requires (required unless --listen is loopback)',
  },
  'prometheus-url': { value: 'url', help: 'Prometheus base URL for analysis provider prometheus' },
  'log-level': {
    value: 'level',
    default: 'info',
    help: 'pino level: fatal error warn info debug trace silent',
  },
  kubeconfig: { value: 'path', help: 'Kubernetes mode: kubeconfig (default in-cluster, then KUBECONFIG)' },
  'pod-namespace': {
    value: 'name',
    default: 'switchyard-system',
    help: 'Kubernetes mode: namespace control runs in (Lease, TLS Secret)',
  },
  'pod-name': { value: 'name', help: 'Kubernetes mode: Lease holder identity (default the hostname)' },
  'service-name': {
    value: 'name',
    default: 'switchyard-control',
    help: "Kubernetes mode: control's Service name (certificate DNS names, default --control-url)",
  },
  'control-url': {
    value: 'url',
    help: 'Kubernetes mode: URL injected routers use (default https://<service-name>.<pod-namespace>.svc:<listen port>)',
  },
  'router-port': {
    value: 'port',
    default: String(DEFAULT_ROUTER_PORT),
    help: "Kubernetes mode: port the injected router listens on; it takes over the app port's name and the per-track Services target it",
  },
  'router-admin-port': {
    value: 'port',
    default: String(DEFAULT_ADMIN_PORT),
    help: "Kubernetes mode: the injected router's admin port (/metrics, /readyz), which the builtin analysis scrapes",
  },
  'router-image': {
    value: 'image',
    default: `ghcr.io/switchyard/switchyard:${VERSION}`,
    help: 'Kubernetes mode: image of the injected router',
  },
  'controller-username': {
    value: 'user',
    help: 'Kubernetes mode: username of this controller, whose Deployment updates the webhook lets through (default system:serviceaccount:<pod-namespace>:switchyard-control)',
  },
  'lease-name': {
    value: 'name',
    default: 'switchyard-control',
    help: 'Kubernetes mode: leader-election Lease',
  },
  'lease-duration': { value: 'duration', default: '15s', help: 'Kubernetes mode: Lease duration' },
  'lease-renew': { value: 'duration', default: '5s', help: 'Kubernetes mode: Lease renew period' },
  'tls-ca-file': {
    value: 'path',
    help: 'Kubernetes mode with --tls-cert-file: CA routers trust for control, copied into the switchyard-ca ConfigMaps (default ca.crt beside the certificate)',
  },
  'tls-secret': {
    value: 'name',
    default: 'switchyard-webhook-tls',
    help: 'Kubernetes mode: Secret of the self-managed CA and serving certificate (unless --tls-cert-file)',
  },
  'webhook-configuration': {
    value: 'name',
    default: 'switchyard',
    help: 'Kubernetes mode: MutatingWebhookConfiguration whose caBundle the leader keeps',
  },
};

/** Kubernetes-mode settings (used when --config is absent). */
export interface KubeFlags {
  readonly kubeconfig: string | null;
  readonly podNamespace: string;
  readonly podName: string;
  readonly serviceName: string;
  readonly controlUrl: string;
  readonly routerImage: string;
  readonly routerPort: number;
  readonly adminPort: number;
  readonly controllerUsername: string;
  readonly leaseName: string;
  readonly leaseDurationMs: number;
  readonly renewMs: number;
  readonly tlsSecret: string;
  readonly webhookConfiguration: string;
  readonly tlsCaFile: string | null;
}

export interface ControlFlags {
  readonly config: string | null;
  readonly stateDir: string | null;
  readonly host: string;
  readonly port: number;
  readonly tlsCertFile: string | null;
  readonly tlsKeyFile: string | null;
  readonly routerTokenFile: string | null;
  readonly apiTokenFile: string | null;
  readonly prometheusUrl: string | null;
  readonly logLevel: string;
  readonly kube: KubeFlags;
}

export function controlUsage(): string {
  return [
    'Usage: switchyard control --config switchyard.yaml --state-dir DIR [flags]   (file mode)',
    '       switchyard control [flags]                                           (Kubernetes mode)',
    '',
    'Runs the route server routers long-poll (/v1/routes/{namespace}/{service}), the rollout',
    'controller and the operator API (/v1/rollouts…, bearer token from --api-token-file).',
    '',
    'Flags (each also settable as the environment variable shown; flags win):',
    ...flagUsage(CONTROL_FLAGS),
    '',
    'File format and lifecycle: docs/file-mode.md. Operator commands: docs/cli.md.',
    '',
  ].join('\n');
}

export function parseControlFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ControlFlags | 'help' {
  const get = readFlags('control', CONTROL_FLAGS, argv, env);
  if (get === 'help') return 'help';
  const { host, port } = parseHostPort('listen', get('listen')!, '0.0.0.0:8443');
  const logLevel = flagOneOf('log-level', get('log-level')!, Object.keys(LOG_LEVELS));
  const tlsCertFile = get('tls-cert-file');
  const tlsKeyFile = get('tls-key-file');
  if ((tlsCertFile === null) !== (tlsKeyFile === null))
    flagError('tls-cert-file', 'give both --tls-cert-file and --tls-key-file, or neither');
  const prometheusUrl = get('prometheus-url');
  if (prometheusUrl !== null && !/^https?:\/\/[^/\s]+\/?$/.test(prometheusUrl)) {
    flagError('prometheus-url', `"${prometheusUrl}" — expected http(s)://host:port`);
  }
  const config = get('config');
  const stateDir = get('state-dir');
  if (config !== null && stateDir === null)
    flagError('state-dir', 'is required with --config (where rollout state is kept across restarts)');
  /** Lease timings: 1s to 1h. */
  const duration = (flag: string): number => flagDuration(flag, get(flag)!, 1000, 3_600_000);
  const podNamespace = get('pod-namespace')!;
  const serviceName = get('service-name')!;
  const leaseDurationMs = duration('lease-duration');
  const renewMs = duration('lease-renew');
  if (renewMs >= leaseDurationMs) flagError('lease-renew', 'must be shorter than --lease-duration');
  const routerPort = flagPort('router-port', get('router-port')!);
  const adminPort = flagPort('router-admin-port', get('router-admin-port')!);
  if (adminPort === routerPort)
    flagError('router-admin-port', `${adminPort} — must differ from --router-port`);
  const kube: KubeFlags = Object.freeze({
    kubeconfig: get('kubeconfig'),
    podNamespace,
    podName: get('pod-name') ?? hostname(),
    serviceName,
    controlUrl: get('control-url') ?? `https://${serviceName}.${podNamespace}.svc:${port}`,
    routerImage: get('router-image')!,
    routerPort,
    adminPort,
    controllerUsername:
      get('controller-username') ?? `system:serviceaccount:${podNamespace}:switchyard-control`,
    leaseName: get('lease-name')!,
    leaseDurationMs,
    renewMs,
    tlsSecret: get('tls-secret')!,
    webhookConfiguration: get('webhook-configuration')!,
    tlsCaFile: get('tls-ca-file'),
  });
  return Object.freeze({
    kube,
    config,
    stateDir,
    host,
    port,
    tlsCertFile,
    tlsKeyFile,
    routerTokenFile: get('router-token-file'),
    apiTokenFile: get('api-token-file'),
    prometheusUrl: prometheusUrl === null ? null : prometheusUrl.replace(/\/$/, ''),
    logLevel,
  });
}

/** A token file's token: one bearer token, ≥ 16 characters (a file that does not hold one is a flag error). */
async function readSecret(flag: string, path: string | null): Promise<string | null> {
  if (path === null) return null;
  let token: string;
  try {
    // A token no Authorization header can carry would start a control plane nobody can reach.
    token = await readTokenFile(path);
  } catch (error) {
    return flagError(flag, errorMessage(error));
  }
  if (token.length < 16) flagError(flag, `${path} must hold a token of at least 16 characters`);
  return token;
}

export async function main(argv: string[]): Promise<number> {
  const flags = parseControlFlags(argv, process.env);
  if (flags === 'help') {
    process.stdout.write(controlUsage());
    return 0;
  }
  const logger = pino({ level: flags.logLevel, base: { pid: process.pid } });
  if (flags.config === null) return kubeMain(flags, logger);
  const tls =
    flags.tlsCertFile !== null && flags.tlsKeyFile !== null
      ? { cert: await readFile(flags.tlsCertFile, 'utf8'), key: await readFile(flags.tlsKeyFile, 'utf8') }
      : null;
  const control = await startFileModeControl({
    configPath: flags.config,
    stateDir: flags.stateDir!,
    host: flags.host,
    port: flags.port,
    tls,
    routerToken: await readSecret('router-token-file', flags.routerTokenFile),
    apiToken: await readSecret('api-token-file', flags.apiTokenFile),
    prometheusUrl: flags.prometheusUrl,
    logger,
    registry: new Registry(),
    analyzer: (analysis) =>
      new ProviderAnalyzer(
        createProvider(
          analysis.provider,
          analysis.prometheusUrl === null ? {} : { prometheusUrl: analysis.prometheusUrl },
        ),
      ),
  });
  process.stdout.write(`switchyard control listening on ${control.server.url}\n`);
  await untilSignal(logger, 'shutting down');
  await control.close();
  return 0;
}

/** Kubernetes mode: in-cluster config (or --kubeconfig), leader-elected controller, webhook, routes, API. */
async function kubeMain(flags: ControlFlags, logger: Logger): Promise<number> {
  const { kube } = flags;
  const control = await startKubeControl({
    kubeConfig: loadKubeConfig({ kubeconfig: kube.kubeconfig, context: null }),
    host: flags.host,
    port: flags.port,
    tlsFiles:
      flags.tlsCertFile !== null && flags.tlsKeyFile !== null
        ? {
            certFile: flags.tlsCertFile,
            keyFile: flags.tlsKeyFile,
            // cert-manager Secrets carry ca.crt beside tls.crt.
            caFile: kube.tlsCaFile ?? join(dirname(flags.tlsCertFile), 'ca.crt'),
          }
        : null,
    namespace: kube.podNamespace,
    serviceName: kube.serviceName,
    identity: kube.podName,
    leaseName: kube.leaseName,
    leaseDurationMs: kube.leaseDurationMs,
    renewMs: kube.renewMs,
    tlsSecretName: kube.tlsSecret,
    webhookConfigurationName: kube.webhookConfiguration,
    controllerUsernames: [kube.controllerUsername],
    prometheusConfigured: flags.prometheusUrl !== null,
    routerImage: kube.routerImage,
    controlUrl: kube.controlUrl,
    routerPort: kube.routerPort,
    adminPort: kube.adminPort,
    apiToken: await readSecret('api-token-file', flags.apiTokenFile),
    analyzer: new ProviderAnalyzer(
      createProvider(
        flags.prometheusUrl === null ? 'builtin' : 'prometheus',
        flags.prometheusUrl === null ? {} : { prometheusUrl: flags.prometheusUrl },
      ),
    ),
    logger,
    registry: new Registry(),
  });
  process.stdout.write(`switchyard control (Kubernetes mode) listening on ${control.server.url}\n`);
  await untilSignal(logger, 'shutting down');
  await control.close();
  return 0;
}
