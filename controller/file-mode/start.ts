// Wires `switchyard control --config … --state-dir …`: config, state dir, route store, analysis,
// the file-mode controller and the control HTTP server, in one place.

import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ErrorCode, SwitchyardError } from '../../api/errors.js';
import { apiTokenCheck } from '../api.js';
import { type ControlServer, startControlServer } from '../control-server.js';
import { RouteStore } from '../route-server.js';
import { ALLOW_ALL, type RouterAuthenticator, SharedSecretAuthenticator } from '../router-auth.js';
import { transition } from '../transition.js';
import { loadConfig, loadRouterSecret } from './config.js';
import { FileModeController, REAL_SCHEDULER, type Scheduler } from './controller.js';
import type { TransitionFn, WindowAnalyzer } from './runtime.js';
import { StateStore } from './state-store.js';

export interface FileModeControlOptions {
  readonly configPath: string;
  readonly stateDir: string;
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly cert: string; readonly key: string } | null;
  /** `--router-token-file` contents; wins over the config's `routerAuth`. */
  readonly routerToken: string | null;
  /** `--api-token-file` contents; null = no API auth (allowed on loopback only). */
  readonly apiToken: string | null;
  readonly prometheusUrl: string | null;
  readonly logger: Logger;
  /** Builds the analysis for the loaded config (the CLI passes the builtin/prometheus providers). */
  readonly analyzer: (config: {
    provider: 'builtin' | 'prometheus';
    prometheusUrl: string | null;
  }) => WindowAnalyzer;
  readonly now?: () => Date;
  readonly scheduler?: Scheduler;
  readonly holdMs?: number;
  readonly transition?: TransitionFn;
  /** Control's metrics registry (served at /metrics); the CLI passes a fresh one. */
  readonly registry?: Registry;
  /** Watch the config file for edits (default true). */
  readonly watchConfig?: boolean;
}

export interface FileModeControl {
  readonly server: ControlServer;
  readonly controller: FileModeController;
  readonly routes: RouteStore;
  close(): Promise<void>;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

export async function startFileModeControl(options: FileModeControlOptions): Promise<FileModeControl> {
  const log = options.logger;
  // `--prometheus-url` wins over the file's analysis.prometheusUrl, at start and on every reload.
  const readConfig = async () => {
    const read = await loadConfig(options.configPath, { prometheusUrl: options.prometheusUrl });
    for (const warning of read.warnings) log.warn(warning);
    return read;
  };
  const config = await readConfig();
  const loopback = isLoopback(options.host);

  // Read at start only, as documented: reloads never touch the secret file.
  const secret = options.routerToken ?? (await loadRouterSecret(config.routerAuth));
  let routerAuth: RouterAuthenticator;
  if (secret !== null) routerAuth = new SharedSecretAuthenticator(secret);
  else if (loopback) {
    log.warn(
      'no router secret (--router-token-file or routerAuth in the config): routers are not authenticated; acceptable on loopback only',
    );
    routerAuth = ALLOW_ALL;
  } else {
    throw new SwitchyardError(
      ErrorCode.FlagInvalid,
      `--router-token-file (or routerAuth in ${options.configPath}) is required when control listens on ${options.host}, not loopback`,
      { field: '--router-token-file' },
    );
  }
  if (options.apiToken === null) {
    if (!loopback) {
      throw new SwitchyardError(
        ErrorCode.FlagInvalid,
        `--api-token-file is required when control listens on ${options.host}, not loopback`,
        { field: '--api-token-file' },
      );
    }
    log.warn('no --api-token-file: the operator API is not authenticated; acceptable on loopback only');
  }

  const store = new StateStore(options.stateDir);
  await store.init();
  const routes = new RouteStore();
  const controller = new FileModeController({
    config,
    configPath: options.watchConfig === false ? null : options.configPath,
    readConfig,
    store,
    routes,
    transition: options.transition ?? transition,
    analyzer: options.analyzer(config.analysis),
    now: options.now ?? (() => new Date()),
    scheduler: options.scheduler ?? REAL_SCHEDULER,
    logger: log,
  });
  await controller.run();
  let server: ControlServer;
  try {
    server = await startControlServer({
      host: options.host,
      port: options.port,
      tls: options.tls,
      logger: log,
      routes,
      routerAuth,
      backend: controller,
      checkApiToken: options.apiToken === null ? null : apiTokenCheck(options.apiToken),
      ...(options.holdMs === undefined ? {} : { holdMs: options.holdMs }),
      ...(options.registry === undefined ? {} : { registry: options.registry }),
    });
  } catch (error) {
    await controller.close();
    throw error;
  }
  log.info(
    { url: server.url, services: config.services.length, stateDir: options.stateDir },
    'control running in file mode',
  );
  return {
    server,
    controller,
    routes,
    close: async () => {
      // No new commands first, then let the rollouts finish what they are persisting.
      await server.close();
      await controller.close();
    },
  };
}
