// The router's configuration: flags and SWITCHYARD_<FLAG> environment variables parsed once into
// one validated, frozen object. Flags win over environment variables.

import {
  type FlagTable,
  flagDuration,
  flagError,
  flagOneOf,
  flagUsage,
  type HostPort,
  parseHostPort,
  readFlags,
} from '../api/flags.js';
import { TRACK_NAME_PATTERN } from '../api/routes.js';
import { LOG_LEVELS } from './log.js';

export interface RouterConfig {
  readonly listen: HostPort;
  readonly admin: HostPort;
  readonly service: string;
  readonly track: string;
  /** Origin of the app container this router fronts, e.g. http://127.0.0.1:8080. */
  readonly local: string;
  readonly routesFile: string | null;
  readonly control: string | null;
  /** Namespace in the control URL path `/v1/routes/{namespace}/{service}`. */
  readonly namespace: string;
  readonly hopSecretFile: string | null;
  readonly controlCaFile: string | null;
  readonly controlTokenFile: string | null;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly logLevel: string;
  /** What clients, the app and the other tracks' routers speak: HTTP/1.1, or also HTTP/2 cleartext (gRPC). */
  readonly protocol: RouterProtocol;
}

export const ROUTER_PROTOCOLS = ['http', 'h2c'] as const;
export type RouterProtocol = (typeof ROUTER_PROTOCOLS)[number];

export const ROUTER_FLAGS: FlagTable = {
  listen: {
    value: 'host:port',
    default: '0.0.0.0:15001',
    help: 'where clients (the Service) reach the router',
  },
  admin: {
    value: 'host:port',
    default: '0.0.0.0:15020',
    help: 'admin port: /metrics /healthz /readyz /routes',
  },
  service: { value: 'name', help: 'the opted-in Deployment this router belongs to (required)' },
  track: { value: 'name', help: 'this pod’s track, e.g. stable or canary (required)' },
  local: { value: 'url', help: 'the app container, e.g. http://127.0.0.1:8080 (required)' },
  protocol: {
    value: 'http|h2c',
    default: 'http',
    help: 'http: HTTP/1.1; h2c: HTTP/1.1 and HTTP/2 cleartext (gRPC) on one port',
  },
  'routes-file': { value: 'path', help: 'route table JSON file, watched and reloaded on change' },
  control: { value: 'url', help: 'control base URL; long-polls /v1/routes/{namespace}/{service}' },
  namespace: { value: 'name', default: 'default', help: 'namespace part of the control route path' },
  'hop-secret-file': { value: 'path', help: 'token for x-switchyard-hop; missing file = no hops accepted' },
  'control-ca-file': { value: 'path', help: 'PEM CA bundle to verify control’s TLS certificate' },
  'control-token-file': { value: 'path', help: 'bearer token for control, re-read on every request' },
  'headers-timeout': {
    value: 'duration',
    default: '30s',
    help: 'max wait for upstream response headers (gRPC calls keep their own deadline)',
  },
  'body-timeout': {
    value: 'duration',
    default: '60s',
    help: 'max gap between upstream body chunks (gRPC calls keep their own deadline)',
  },
  'idle-timeout': {
    value: 'duration',
    default: '60s',
    help: 'idle keep-alive time, client and upstream side',
  },
  'drain-timeout': { value: 'duration', default: '20s', help: 'on SIGTERM, max wait for in-flight requests' },
  'log-level': {
    value: 'level',
    default: 'info',
    help: 'fatal error warn info debug trace silent (JSON lines on stdout)',
  },
};

export function routerUsage(): string {
  return [
    'Usage: switchyard router --service NAME --track NAME --local URL (--routes-file PATH | --control URL) [flags]',
    '',
    'The sidecar HTTP router: splits traffic between tracks by X-Canary header, match rules, sticky',
    'cookie, hash key and weight; measures every request it hands to its local app.',
    '',
    'Flags (each also settable as the environment variable shown; flags win):',
    ...flagUsage(ROUTER_FLAGS),
    '',
    'Durations: 500ms, 30s, 2m, 1h30m (1ms to 1h). X-Canary with a token: "X-Canary: always; token=<token>".',
    '',
  ].join('\n');
}

function origin(flag: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    flagError(flag, `"${text}" is not a URL; expected http://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    flagError(flag, `"${text}": expected http:// or https://`);
  return flag === 'control' ? text.replace(/\/+$/, '') : url.origin;
}

/** Router timeouts: 1ms to 60m. */
const duration = (flag: string, text: string): number => flagDuration(flag, text, 1, 3_600_000);

/** Parses argv + env into a frozen RouterConfig, or returns 'help'. Throws SwitchyardError naming the flag. */
export function parseRouterConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): RouterConfig | 'help' {
  const get = readFlags('router', ROUTER_FLAGS, argv, env);
  if (get === 'help') return 'help';
  const required = (name: string): string =>
    get(name) ?? flagError(name, 'is required (see switchyard router --help)');

  const service = required('service');
  const track = required('track');
  if (!TRACK_NAME_PATTERN.test(track)) flagError('track', `"${track}" must be a lower-case DNS label`);
  const namespace = required('namespace');
  if (!TRACK_NAME_PATTERN.test(namespace))
    flagError('namespace', `"${namespace}" must be a lower-case DNS label`);
  const routesFile = get('routes-file');
  const controlText = get('control');
  if ((routesFile === null) === (controlText === null)) {
    flagError('routes-file', 'exactly one of --routes-file and --control is required');
  }
  const logLevel = flagOneOf('log-level', required('log-level'), Object.keys(LOG_LEVELS));
  return Object.freeze({
    listen: Object.freeze(parseHostPort('listen', required('listen'), '127.0.0.1:15001')),
    admin: Object.freeze(parseHostPort('admin', required('admin'), '127.0.0.1:15020')),
    service,
    track,
    local: origin('local', required('local')),
    routesFile,
    control: controlText === null ? null : origin('control', controlText),
    namespace,
    hopSecretFile: get('hop-secret-file'),
    controlCaFile: get('control-ca-file'),
    controlTokenFile: get('control-token-file'),
    headersTimeoutMs: duration('headers-timeout', required('headers-timeout')),
    bodyTimeoutMs: duration('body-timeout', required('body-timeout')),
    idleTimeoutMs: duration('idle-timeout', required('idle-timeout')),
    drainTimeoutMs: duration('drain-timeout', required('drain-timeout')),
    logLevel,
    protocol: flagOneOf('protocol', required('protocol'), ROUTER_PROTOCOLS),
  });
}
