// File mode as a whole: one ServiceRuntime per configured service, the loop that ticks them, config
// reloads, and the RolloutBackend the operator API serves.

import { type StatWatcher, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from 'pino';
import { type Command, isActivePhase } from '../../api/canary.js';
import { ErrorCode, SwitchyardError, errorMessage, isSwitchyardError } from '../../api/errors.js';
import type {
  BackendOutcome,
  RolloutBackend,
  RolloutEventView,
  RolloutSummary,
  StartRequest,
} from '../api.js';
import { summarize } from '../api.js';
import type { RouteStore } from '../route-server.js';
import { type FileConfig, parseOrigin, type ServiceConfig } from './config.js';
import { type CommandOutcome, ServiceRuntime, type TransitionFn, type WindowAnalyzer } from './runtime.js';
import type { ServiceState, StateStore } from './state-store.js';

/** setInterval/clearInterval, injectable so tests drive the loop by hand. */
export interface Scheduler {
  every(ms: number, run: () => void): { stop(): void };
}

export const REAL_SCHEDULER: Scheduler = Object.freeze({
  every(ms: number, run: () => void) {
    const timer = setInterval(run, ms);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  },
});

export interface FileModeOptions {
  readonly config: FileConfig;
  /** Path of the config file, watched for edits; null = no watching. */
  readonly configPath: string | null;
  /** Reads and validates the config file again (a reload); throws ConfigInvalid naming the field. */
  readonly readConfig: () => Promise<FileConfig>;
  readonly store: StateStore;
  readonly routes: RouteStore;
  readonly transition: TransitionFn;
  readonly analyzer: WindowAnalyzer;
  readonly now: () => Date;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/**
 * A config read and checked against the running services, with everything that can fail for a
 * reason in the files (the config, the new services' state files) already done: applying it
 * only fails if the state dir cannot be written.
 */
interface PreparedConfig {
  readonly config: FileConfig;
  /** Services new to this config, with their saved state (null: none yet). */
  readonly added: readonly { readonly service: ServiceConfig; readonly saved: ServiceState | null }[];
  /** Running services the config still lists, with their new settings. */
  readonly kept: readonly { readonly runtime: ServiceRuntime; readonly service: ServiceConfig }[];
  /** Running services the config no longer lists. */
  readonly removed: readonly ServiceRuntime[];
}

export class FileModeController implements RolloutBackend {
  readonly #options: FileModeOptions;
  readonly #runtimes = new Map<string, ServiceRuntime>();
  readonly #log: Logger;
  #config: FileConfig;
  #loop: { stop(): void } | null = null;
  #watcher: StatWatcher | null = null;
  /** The reload run under way (null when none), and whether it must read the file once more. */
  #reloading: Promise<void> | null = null;
  #reloadRequested = false;
  #closed = false;

  constructor(options: FileModeOptions) {
    this.#options = options;
    this.#config = options.config;
    this.#log = options.logger.child({ component: 'file-mode' });
  }

  /** Starts every service (resuming saved state), the tick loop and the config watch. */
  async run(): Promise<void> {
    await this.#apply(await this.#prepare(this.#config));
    this.#startLoop();
    const path = this.#options.configPath;
    if (path !== null) {
      this.#watcher = watchFile(path, { interval: 1000, persistent: false }, (current, previous) => {
        if (current.mtimeMs !== previous.mtimeMs || current.size !== previous.size) void this.reload();
      });
    }
  }

  #startLoop(): void {
    this.#loop?.stop();
    this.#loop = this.#options.scheduler.every(this.#config.tickMs, () => {
      void this.tickAll();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#loop?.stop();
    this.#loop = null;
    if (this.#options.configPath !== null && this.#watcher) unwatchFile(this.#options.configPath);
    this.#watcher = null;
    // A reload under way finishes first, so it cannot start a service after the others stopped.
    await this.#reloading;
    await Promise.all([...this.#runtimes.values()].map((runtime) => runtime.stop()));
  }

  /** One turn of the loop for every service (tests call this instead of waiting for the timer). */
  async tickAll(): Promise<void> {
    await Promise.all(
      [...this.#runtimes.values()].map((runtime) =>
        runtime.tick().catch((error: unknown) => {
          this.#log.error({ service: runtime.name, err: errorMessage(error) }, 'tick failed');
        }),
      ),
    );
  }

  /**
   * Re-reads the config file and applies it; an invalid edit is logged and the running config kept.
   * One reload runs at a time: requests made while one runs share a single reload after it, which
   * reads the file then, so the newest edit wins. Resolves once a reload started after the call is done.
   */
  reload(): Promise<void> {
    if (this.#options.configPath === null || this.#closed) return Promise.resolve();
    this.#reloadRequested = true;
    this.#reloading ??= this.#reloadWhileRequested();
    return this.#reloading;
  }

  async #reloadWhileRequested(): Promise<void> {
    try {
      while (this.#reloadRequested && !this.#closed) {
        this.#reloadRequested = false;
        await this.#reloadOnce();
      }
    } finally {
      // Cleared in the same turn as the last check, so a request arriving later starts a new run.
      this.#reloading = null;
    }
  }

  async #reloadOnce(): Promise<void> {
    const path = this.#options.configPath;
    let prepared: PreparedConfig;
    try {
      prepared = await this.#prepare(await this.#options.readConfig());
    } catch (error) {
      this.#log.error(
        { path, field: isSwitchyardError(error) ? error.field : undefined, err: errorMessage(error) },
        'config reload rejected; keeping the running config',
      );
      return;
    }
    try {
      await this.#apply(prepared);
    } catch (error) {
      // Only writing the state dir can fail here; saving the file again re-applies the edit.
      this.#log.error(
        { path, err: errorMessage(error) },
        'config reload failed while writing state; services before the failing one run the edit',
      );
      return;
    }
    this.#log.info({ path, services: prepared.config.services.length }, 'config reloaded');
  }

  /** Reads what a new config needs before anything of it is applied; changes nothing. */
  async #prepare(config: FileConfig): Promise<PreparedConfig> {
    const added: { service: ServiceConfig; saved: ServiceState | null }[] = [];
    const kept: { runtime: ServiceRuntime; service: ServiceConfig }[] = [];
    for (const service of config.services) {
      const runtime = this.#runtimes.get(key(service.namespace, service.name));
      if (runtime) kept.push({ runtime, service });
      else added.push({ service, saved: await this.#options.store.load(service.namespace, service.name) });
    }
    const listed = new Set(config.services.map((service) => key(service.namespace, service.name)));
    const removed = [...this.#runtimes].filter(([id]) => !listed.has(id)).map(([, runtime]) => runtime);
    return { config, added, kept, removed };
  }

  /** Makes a prepared config the running one: loop interval and removals first, then every service. */
  async #apply({ config, added, kept, removed }: PreparedConfig): Promise<void> {
    const previous = this.#config;
    this.#config = config;
    if (this.#loop !== null && config.tickMs !== previous.tickMs) this.#startLoop();
    // The analyzer and the router secret are set up once at start-up: say so instead of silently
    // ignoring the edit.
    for (const field of ['analysis', 'routerAuth'] as const) {
      if (JSON.stringify(config[field]) !== JSON.stringify(previous[field])) {
        this.#log.warn(
          { path: this.#options.configPath, field },
          `config: ${field} changed; restart control to apply it (the rest of the edit is applied)`,
        );
      }
    }
    for (const runtime of removed) await this.#stopRemoved(runtime);
    for (const { runtime, service } of kept) await runtime.reconfigure(service);
    for (const { service, saved } of added) {
      const runtime = new ServiceRuntime({
        config: service,
        store: this.#options.store,
        routes: this.#options.routes,
        transition: this.#options.transition,
        analyzer: this.#options.analyzer,
        now: this.#options.now,
        logger: this.#options.logger,
      });
      await runtime.start(saved);
      this.#runtimes.set(key(service.namespace, service.name), runtime);
    }
  }

  /**
   * Stops a service the config no longer lists: no more ticks, its running tick and queued work
   * finished, then its route table withdrawn (routers polling for it get 404 and keep their last
   * table). Its state file stays, so listing it again resumes it, as a restart would.
   */
  async #stopRemoved(runtime: ServiceRuntime): Promise<void> {
    this.#runtimes.delete(key(runtime.namespace, runtime.name));
    await runtime.stop();
    this.#options.routes.remove(runtime.namespace, runtime.name);
    const { phase, weight } = runtime.snapshot().status;
    const fields = {
      namespace: runtime.namespace,
      service: runtime.name,
      phase,
      weight,
      state: this.#options.store.path(runtime.namespace, runtime.name),
    };
    if (isActivePhase(phase)) {
      this.#log.warn(
        fields,
        'service removed from config mid-rollout: stopped; its routers keep their last table, unanalysed, until it is listed again',
      );
    } else {
      this.#log.info(fields, 'service removed from config: stopped; routes withdrawn, state file kept');
    }
  }

  runtime(namespace: string, name: string): ServiceRuntime {
    const runtime = this.#runtimes.get(key(namespace, name));
    if (!runtime) {
      const known = [...this.#runtimes.keys()].join(', ') || 'none';
      throw new SwitchyardError(
        ErrorCode.NotFound,
        `no rollout ${namespace}/${name} in file mode; configured services: ${known}`,
        { field: `${namespace}/${name}` },
      );
    }
    return runtime;
  }

  #summary(runtime: ServiceRuntime): RolloutSummary {
    // The tracks of the split the status describes, not the remembered canary of a failed rollout.
    return summarize(
      runtime.namespace,
      runtime.name,
      runtime.snapshot().status,
      runtime.settings,
      this.#options.now(),
      runtime.routedUpstreams(),
    );
  }

  #outcome(runtime: ServiceRuntime, outcome: CommandOutcome): BackendOutcome {
    return outcome.accepted ? { accepted: true, rollout: this.#summary(runtime) } : outcome;
  }

  async list(): Promise<readonly RolloutSummary[]> {
    return [...this.#runtimes.values()].map((runtime) => this.#summary(runtime));
  }

  async get(namespace: string, name: string): Promise<RolloutSummary> {
    return this.#summary(this.runtime(namespace, name));
  }

  async events(namespace: string, name: string): Promise<readonly RolloutEventView[]> {
    return this.runtime(namespace, name).snapshot().events;
  }

  async command(namespace: string, name: string, command: Command): Promise<BackendOutcome> {
    const runtime = this.runtime(namespace, name);
    return this.#outcome(runtime, await runtime.command(command));
  }

  async start(namespace: string, name: string, request: StartRequest): Promise<BackendOutcome> {
    const runtime = this.runtime(namespace, name);
    const canary = {
      upstream: parseOrigin(request.canaryUpstream, 'canaryUpstream'),
      admin: request.canaryAdmin.map((url, index) => parseOrigin(url, `canaryAdmin[${index}]`)),
    };
    return this.#outcome(runtime, await runtime.announce(canary, 'api'));
  }
}
