// The file-mode config (`switchyard.yaml`): services, their tracks (upstream + router admin URLs),
// rollout settings in the annotation vocabulary, the analysis provider and the router secret.

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { RolloutSettings } from '../../api/annotations.js';
import { ErrorCode, SwitchyardError, errorMessage } from '../../api/errors.js';
import { TRACK_NAME_PATTERN } from '../../api/routes.js';
import { parseDurationMs } from '../../api/duration.js';
import { parseRolloutBlock } from './settings.js';

export interface TrackConfig {
  /** Where other routers send this track's requests (scheme://host:port). */
  readonly upstream: string;
  /** Router admin URLs whose `/metrics` measure this track (builtin analysis). */
  readonly admin: readonly string[];
}

export interface ServiceConfig {
  readonly name: string;
  readonly namespace: string;
  readonly stable: TrackConfig;
  /** A canary announced in the file (a change here starts a rollout), or null. */
  readonly canary: TrackConfig | null;
  readonly settings: RolloutSettings;
}

export type RouterAuthConfig = { readonly secret: string } | { readonly secretFile: string };

export type AnalysisProviderName = 'builtin' | 'prometheus';

export interface FileConfig {
  readonly services: readonly ServiceConfig[];
  /**
   * `routerAuth` as written: the secret routers present (trimmed), or the file holding it (resolved
   * against the config's directory). Read at start only (`loadRouterSecret`); an edit needs a restart.
   */
  readonly routerAuth: RouterAuthConfig | null;
  readonly analysis: { readonly provider: AnalysisProviderName; readonly prometheusUrl: string | null };
  /** How often each service's loop runs analysis and deadlines. Default 1 s. */
  readonly tickMs: number;
  /** Intervals under 10 s allowed (tests and demos only). */
  readonly unsafeShortIntervals: boolean;
  /** Valid but self-defeating settings, each naming its field: control logs them at every load. */
  readonly warnings: readonly string[];
}

const TOP_KEYS = ['services', 'routerAuth', 'analysis', 'tickInterval', 'unsafeShortIntervals'];
const SERVICE_KEYS = ['name', 'namespace', 'tracks', 'rollout'];
const NAME_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function fail(field: string, message: string): never {
  throw new SwitchyardError(ErrorCode.ConfigInvalid, `config: ${field}: ${message}`, { field });
}

function mapping(value: unknown, field: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'expected a mapping');
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`${field}.${key}`, `unknown field; allowed: ${allowed.join(', ')}`);
  }
  return value as Record<string, unknown>;
}

function name(value: unknown, field: string): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    fail(field, `${JSON.stringify(value)} — expected a lower-case DNS label (a-z, 0-9, -)`);
  }
  return value;
}

/** `http(s)://host[:port]` without a path; returns the origin. */
export function parseOrigin(value: unknown, field: string): string {
  let url: URL | null = null;
  try {
    url = typeof value === 'string' ? new URL(value) : null;
  } catch {
    url = null;
  }
  if (
    !url ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.pathname !== '/' ||
    url.search !== ''
  ) {
    fail(field, `${JSON.stringify(value)} — expected http://host:port without a path`);
  }
  return url.origin;
}

function track(value: unknown, field: string): TrackConfig {
  const object = mapping(value, field, ['upstream', 'admin']);
  const admin = object.admin === undefined ? [] : object.admin;
  const list = typeof admin === 'string' ? [admin] : admin;
  if (!Array.isArray(list)) fail(`${field}.admin`, 'expected a list of router admin URLs');
  return Object.freeze({
    upstream: parseOrigin(object.upstream, `${field}.upstream`),
    admin: Object.freeze(list.map((url: unknown, index) => parseOrigin(url, `${field}.admin[${index}]`))),
  });
}

function service(value: unknown, field: string, allowShortIntervals: boolean): ServiceConfig {
  const object = mapping(value, field, SERVICE_KEYS);
  const tracks = mapping(object.tracks, `${field}.tracks`, ['stable', 'canary']);
  if (tracks.stable === undefined) fail(`${field}.tracks.stable`, 'the stable track is required');
  for (const key of Object.keys(tracks))
    if (!TRACK_NAME_PATTERN.test(key)) fail(`${field}.tracks.${key}`, 'bad track name');
  return Object.freeze({
    name: name(object.name, `${field}.name`),
    namespace: object.namespace === undefined ? 'default' : name(object.namespace, `${field}.namespace`),
    stable: track(tracks.stable, `${field}.tracks.stable`),
    canary:
      tracks.canary === undefined || tracks.canary === null
        ? null
        : track(tracks.canary, `${field}.tracks.canary`),
    settings: parseRolloutBlock(object.rollout, `${field}.rollout`, { allowShortIntervals }),
  });
}

export interface ParseConfigOptions {
  /** Directory `routerAuth.secretFile` is relative to (the config's); default the working directory. */
  readonly baseDir?: string;
  /** `--prometheus-url`, which wins over `analysis.prometheusUrl`. */
  readonly prometheusUrl?: string | null;
}

/** Validates parsed YAML into a frozen FileConfig. Errors name the field (`services[0].tracks.stable.upstream`). */
export function parseConfig(input: unknown, options: ParseConfigOptions = {}): FileConfig {
  const root = mapping(input ?? {}, '$', TOP_KEYS);
  const unsafe = root.unsafeShortIntervals ?? false;
  if (typeof unsafe !== 'boolean') fail('unsafeShortIntervals', 'expected true or false');
  if (!Array.isArray(root.services) || root.services.length === 0)
    fail('services', 'expected a non-empty list of services');
  const services = root.services.map((entry: unknown, index) => service(entry, `services[${index}]`, unsafe));
  const seen = new Set<string>();
  services.forEach((entry, index) => {
    const key = `${entry.namespace}/${entry.name}`;
    if (seen.has(key)) fail(`services[${index}].name`, `duplicate service ${key}`);
    seen.add(key);
  });

  let routerAuth: RouterAuthConfig | null = null;
  if (root.routerAuth !== undefined) {
    const auth = mapping(root.routerAuth, 'routerAuth', ['secret', 'secretFile']);
    if ((auth.secret === undefined) === (auth.secretFile === undefined))
      fail('routerAuth', 'expected exactly one of secret, secretFile');
    if (auth.secret !== undefined) {
      // Trimmed like secretFile: routers send their token file trimmed, so spaces or a block
      // scalar's newline around the secret would lock every router out.
      if (typeof auth.secret !== 'string' || auth.secret.trim().length < 16)
        fail('routerAuth.secret', 'expected a string of at least 16 characters');
      routerAuth = Object.freeze({ secret: auth.secret.trim() });
    } else {
      if (typeof auth.secretFile !== 'string' || auth.secretFile === '')
        fail('routerAuth.secretFile', 'expected a file path');
      routerAuth = Object.freeze({ secretFile: resolve(options.baseDir ?? '.', auth.secretFile) });
    }
  }

  const analysis = mapping(root.analysis ?? {}, 'analysis', ['provider', 'prometheusUrl']);
  const provider = analysis.provider ?? 'builtin';
  if (provider !== 'builtin' && provider !== 'prometheus')
    fail('analysis.provider', `${JSON.stringify(provider)} — expected builtin or prometheus`);
  const fromFile =
    analysis.prometheusUrl === undefined
      ? null
      : parseOrigin(analysis.prometheusUrl, 'analysis.prometheusUrl');
  const prometheusUrl = options.prometheusUrl ?? fromFile;
  if (provider === 'prometheus' && prometheusUrl === null)
    fail('analysis.prometheusUrl', 'provider prometheus needs --prometheus-url or analysis.prometheusUrl');

  let tickMs = 1000;
  if (root.tickInterval !== undefined) {
    const parsed = typeof root.tickInterval === 'string' ? parseDurationMs(root.tickInterval) : null;
    if (parsed === null || parsed < 50 || parsed > 60_000)
      fail('tickInterval', `${JSON.stringify(root.tickInterval)} — expected a duration 50ms-60s, e.g. 1s`);
    tickMs = parsed;
  }

  // Custom checks need Prometheus: with builtin they stay inconclusive until the progress deadline.
  const warnings =
    provider === 'prometheus'
      ? []
      : services.flatMap((entry, index) =>
          entry.settings.checks.map(
            (check) =>
              `config: services[${index}].rollout.check.${check.name}: custom checks need analysis.provider prometheus; with builtin they stay inconclusive and every rollout of ${entry.name} fails at its progress deadline`,
          ),
        );
  return Object.freeze({
    services: Object.freeze(services),
    routerAuth,
    analysis: Object.freeze({ provider, prometheusUrl }),
    tickMs,
    unsafeShortIntervals: unsafe,
    warnings: Object.freeze(warnings),
  });
}

/** Reads and validates a config file; YAML syntax errors become ConfigInvalid too. */
export async function loadConfig(
  path: string,
  options: Omit<ParseConfigOptions, 'baseDir'> = {},
): Promise<FileConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new SwitchyardError(
      ErrorCode.ConfigInvalid,
      `config: cannot read ${path}: ${errorMessage(error)}`,
      { field: path, cause: error },
    );
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new SwitchyardError(
      ErrorCode.ConfigInvalid,
      `config: ${path} is not valid YAML: ${errorMessage(error)}`,
      { field: path, cause: error },
    );
  }
  return parseConfig(document, { ...options, baseDir: dirname(path) });
}

/**
 * The secret routers present, from `routerAuth` (null without one). Called at start only: reloads
 * never read the secret file, so one that became unreadable does not block later edits.
 */
export async function loadRouterSecret(auth: RouterAuthConfig | null): Promise<string | null> {
  if (auth === null) return null;
  if ('secret' in auth) return auth.secret;
  let secret: string;
  try {
    secret = (await readFile(auth.secretFile, 'utf8')).trim();
  } catch (error) {
    return fail('routerAuth.secretFile', `cannot read ${auth.secretFile}: ${errorMessage(error)}`);
  }
  if (secret.length < 16) fail('routerAuth.secretFile', 'the secret must be at least 16 characters');
  return secret;
}
