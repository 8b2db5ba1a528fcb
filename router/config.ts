// The router's configuration: flags and SWITCHYARD_<FLAG> environment variables parsed once into
// one validated, frozen object. Flags win over environment variables.

import { parseArgs } from 'node:util';
import { ErrorCode, SwitchyardError } from '../api/errors.js';
import { TRACK_NAME_PATTERN } from '../api/routes.js';
import { LOG_LEVELS } from './log.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

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
}

interface FlagSpec {
  readonly help: string;
  readonly value: string;
  readonly default?: string;
}

export const ROUTER_FLAGS: Readonly<Record<string, FlagSpec>> = {
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
  'routes-file': { value: 'path', help: 'route table JSON file, watched and reloaded on change' },
  control: { value: 'url', help: 'control base URL; long-polls /v1/routes/{namespace}/{service}' },
  namespace: { value: 'name', default: 'default', help: 'namespace part of the control route path' },
  'hop-secret-file': { value: 'path', help: 'token for x-switchyard-hop; missing file = no hops accepted' },
  'control-ca-file': { value: 'path', help: 'PEM CA bundle to verify control’s TLS certificate' },
  'control-token-file': { value: 'path', help: 'bearer token for control, re-read on every request' },
  'headers-timeout': { value: 'duration', default: '30s', help: 'max wait for upstream response headers' },
  'body-timeout': { value: 'duration', default: '60s', help: 'max gap between upstream body chunks' },
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
  const rows = Object.entries(ROUTER_FLAGS).map(([name, spec]) => {
    const left = `  --${name} <${spec.value}>`;
    const env = `SWITCHYARD_${name.toUpperCase().replaceAll('-', '_')}`;
    const def = spec.default === undefined ? '' : ` (default ${spec.default})`;
    return `${left.padEnd(34)}${spec.help}${def}\n${''.padEnd(34)}env ${env}`;
  });
  return [
    'Usage: switchyard router --service NAME --track NAME --local URL (--routes-file PATH | --control URL) [flags]',
    '',
    'The sidecar HTTP router: splits traffic between tracks by X-Canary header, match rules, sticky',
    'cookie, hash key and weight; measures every request it hands to its local app.',
    '',
    'Flags (each also settable as the environment variable shown):',
    ...rows,
    '  -h, --help                      this text',
    '',
    'Durations: 500ms, 30s, 2m. X-Canary with a token: "X-Canary: always; token=<token>".',
    '',
  ].join('\n');
}

function bad(flag: string, message: string): never {
  throw new SwitchyardError(ErrorCode.FlagInvalid, `--${flag}: ${message}`, { field: `--${flag}` });
}

function hostPort(flag: string, text: string): HostPort {
  const colon = text.lastIndexOf(':');
  const host = colon < 0 ? '' : text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(text.slice(colon + 1));
  if (colon < 0 || host.length === 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    bad(flag, `"${text}" is not host:port (e.g. 127.0.0.1:15001; port 0 picks a free port)`);
  }
  return { host, port };
}

function origin(flag: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    bad(flag, `"${text}" is not a URL; expected http://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    bad(flag, `"${text}": expected http:// or https://`);
  return flag === 'control' ? text.replace(/\/+$/, '') : url.origin;
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000 };

export function parseDuration(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text.trim());
  if (!match) bad(flag, `"${text}" is not a duration; expected e.g. 500ms, 30s, 2m`);
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  if (ms <= 0 || ms > 3_600_000) bad(flag, `"${text}" must be between 1ms and 60m`);
  return Math.round(ms);
}

/** Parses argv + env into a frozen RouterConfig, or returns 'help'. Throws SwitchyardError naming the flag. */
export function parseRouterConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): RouterConfig | 'help' {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const name of Object.keys(ROUTER_FLAGS)) options[name] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new SwitchyardError(ErrorCode.FlagInvalid, `router: ${(error as Error).message}`, { cause: error });
  }
  if (values.help === true) return 'help';
  const get = (name: string): string | undefined => {
    const flag = values[name];
    if (typeof flag === 'string') return flag;
    const fromEnv = env[`SWITCHYARD_${name.toUpperCase().replaceAll('-', '_')}`];
    return fromEnv === undefined || fromEnv === '' ? ROUTER_FLAGS[name]?.default : fromEnv;
  };
  const required = (name: string): string =>
    get(name) ?? bad(name, 'is required (see switchyard router --help)');
  const optional = (name: string): string | null => get(name) ?? null;

  const service = required('service');
  const track = required('track');
  if (!TRACK_NAME_PATTERN.test(track)) bad('track', `"${track}" must be a lower-case DNS label`);
  const namespace = required('namespace');
  if (!TRACK_NAME_PATTERN.test(namespace)) bad('namespace', `"${namespace}" must be a lower-case DNS label`);
  const routesFile = optional('routes-file');
  const controlText = optional('control');
  if ((routesFile === null) === (controlText === null)) {
    bad('routes-file', 'exactly one of --routes-file and --control is required');
  }
  const logLevel = required('log-level');
  if (LOG_LEVELS[logLevel] === undefined) {
    bad('log-level', `"${logLevel}" is not one of ${Object.keys(LOG_LEVELS).join(', ')}`);
  }
  return Object.freeze({
    listen: Object.freeze(hostPort('listen', required('listen'))),
    admin: Object.freeze(hostPort('admin', required('admin'))),
    service,
    track,
    local: origin('local', required('local')),
    routesFile,
    control: controlText === null ? null : origin('control', controlText),
    namespace,
    hopSecretFile: optional('hop-secret-file'),
    controlCaFile: optional('control-ca-file'),
    controlTokenFile: optional('control-token-file'),
    headersTimeoutMs: parseDuration('headers-timeout', required('headers-timeout')),
    bodyTimeoutMs: parseDuration('body-timeout', required('body-timeout')),
    idleTimeoutMs: parseDuration('idle-timeout', required('idle-timeout')),
    drainTimeoutMs: parseDuration('drain-timeout', required('drain-timeout')),
    logLevel,
  });
}
