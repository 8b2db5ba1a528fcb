// The file-mode adapter of one service: feeds observations (ticks, verdicts, commands, new canary
// upstreams) into the pure `transition`, persists the result, then executes its actions. It makes
// no rollout decisions of its own.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { RolloutSettings } from '../../api/annotations.js';
import { type Command, isActivePhase, type RolloutStatus, type Verdict } from '../../api/canary.js';
import { ErrorCode, SwitchyardError, errorMessage } from '../../api/errors.js';
import { parseRouteTable, type RouteTable } from '../../api/routes.js';
import type { RouteStore } from '../route-server.js';
import type { AnalysisWindow, TransitionFn, WindowAnalyzer } from '../window-analyzer.js';
import {
  type Action,
  initialStatus,
  type Observation,
  type PublishRoutes,
  type TransitionResult,
} from '../rollout-types.js';
import { weightAwaitingCanary } from '../transition.js';
import type { ServiceConfig, TrackConfig } from './config.js';
import { MAX_STORED_EVENTS, type RolloutEvent, type ServiceState, type StateStore } from './state-store.js';

// Shared with the Kubernetes adapter (controller/window-analyzer.ts); re-exported for file-mode imports.
export type { AnalysisWindow, TransitionFn, WindowAnalyzer } from '../window-analyzer.js';

function sameTrack(a: TrackConfig, b: TrackConfig): boolean {
  return a.upstream === b.upstream && a.admin.join(' ') === b.admin.join(' ');
}

/** Same routing content, whatever the generation. */
function sameTable(a: RouteTable, b: RouteTable): boolean {
  return JSON.stringify({ ...a, generation: 0 }) === JSON.stringify({ ...b, generation: 0 });
}

/** The file-mode revision of a canary: a hash of its upstream URL. */
export function revisionOf(track: TrackConfig): string {
  return createHash('sha256').update(track.upstream).digest('hex').slice(0, 16);
}

export interface ServiceRuntimeOptions {
  readonly config: ServiceConfig;
  readonly store: StateStore;
  readonly routes: RouteStore;
  readonly transition: TransitionFn;
  readonly analyzer: WindowAnalyzer;
  readonly now: () => Date;
  readonly logger: Logger;
}

/** Outcome of an operator command: accepted (with the new status) or rejected with the reason. */
export type CommandOutcome =
  | { readonly accepted: true; readonly status: RolloutStatus }
  | { readonly accepted: false; readonly reason: string };

type Persisted = ServiceState;

const ACTIVE_ANALYSIS = new Set(['Progressing', 'WaitingForPromotion']);

export class ServiceRuntime {
  readonly namespace: string;
  readonly name: string;
  #config: ServiceConfig;
  #state: Persisted | null = null;
  /** Serializes every observation: one transition at a time, persisted before its actions run. */
  #queue: Promise<unknown> = Promise.resolve();
  #ticking = false;
  #stopped = false;
  #tickDone: Promise<void> = Promise.resolve();
  readonly #options: ServiceRuntimeOptions;
  readonly #log: Logger;

  constructor(options: ServiceRuntimeOptions) {
    this.#options = options;
    this.#config = options.config;
    this.namespace = options.config.namespace;
    this.name = options.config.name;
    this.#log = options.logger.child({
      component: 'file-mode',
      namespace: this.namespace,
      service: this.name,
    });
  }

  get settings(): RolloutSettings {
    return this.#config.settings;
  }

  /** Current persisted view (status, tracks, events). */
  snapshot(): ServiceState {
    return this.#require();
  }

  /**
   * Resumes from the saved state (`store.load`, read by the caller before it commits to starting
   * this service) or starts fresh, republishes the last route table, announces a config canary.
   */
  async start(saved: ServiceState | null): Promise<void> {
    await this.#serial(async () => {
      const now = this.#options.now();
      if (saved) {
        this.#state = saved;
        this.#log.info(
          { phase: saved.status.phase, step: saved.status.step, weight: saved.status.weight },
          'resumed saved rollout state',
        );
      } else {
        const stable = this.#config.stable;
        this.#state = {
          status: initialStatus(now, revisionOf(stable)),
          stable,
          canary: null,
          configStable: stable,
          configCanaryRevision: null,
          events: [],
          lastRoutes: null,
        };
      }
      let lastRoutes = this.#state.lastRoutes;
      if (lastRoutes === null) {
        // Routers need a table before any rollout: stable only, as the first generation.
        const generation = this.#state.status.routeGeneration + 1;
        lastRoutes = {
          type: 'publish-routes',
          generation,
          weights: { stable: 100, canary: 0 },
          canaryTrack: false,
          rulesToCanary: [],
          mirrorPercent: 0,
        };
        this.#state = {
          ...this.#state,
          status: { ...this.#state.status, routeGeneration: generation },
          lastRoutes,
        };
      }
      await this.#persist();
      this.#publish(lastRoutes);
    });
    await this.reconfigure(this.#config);
  }

  /** Applies a (re)loaded config: new settings, and a changed `tracks.canary` announces a rollout. */
  async reconfigure(config: ServiceConfig): Promise<void> {
    await this.#serial(async () => {
      this.#config = config;
      let state = this.#require();
      const known = state.configStable;
      if (known !== null && !sameTrack(known, config.stable) && state.status.phase !== 'Promoting') {
        // The operator edited the stable track: adopt it (after a promotion, this is how the file
        // catches up with reality). Promoting is about to replace stable; the edit waits for it.
        this.#log.info(
          { from: state.stable.upstream, to: config.stable.upstream },
          'stable track changed in config',
        );
        state = { ...state, stable: config.stable };
      }
      if (state.status.phase !== 'Promoting') state = { ...state, configStable: config.stable };
      this.#state = state;
      // Settings or tracks that shape the table changed: republish the same split as a new generation.
      const published = this.#options.routes.get(this.namespace, this.name);
      const last = state.lastRoutes;
      if (last !== null && published !== undefined && !sameTable(published, this.buildTable(last))) {
        const generation = state.status.routeGeneration + 1;
        const lastRoutes: PublishRoutes = { ...last, generation };
        this.#state = { ...state, status: { ...state.status, routeGeneration: generation }, lastRoutes };
        await this.#persist();
        this.#publish(lastRoutes);
      } else {
        await this.#persist();
      }
    });
    await this.#announceConfigCanary();
  }

  /**
   * Announces the config's `tracks.canary` once per revision. A phase that defers new revisions
   * (RollingBack) leaves it pending; the loop tries again on its next tick.
   */
  async #announceConfigCanary(): Promise<void> {
    const canary = this.#config.canary;
    if (canary === null || revisionOf(canary) === this.#require().configCanaryRevision) return;
    const outcome = await this.announce(canary, 'config');
    if (!outcome.accepted && outcome.deferred) return;
    await this.#serial(async () => {
      this.#state = { ...this.#require(), configCanaryRevision: revisionOf(canary) };
      await this.#persist();
    });
    if (!outcome.accepted) this.#log.warn({ upstream: canary.upstream }, outcome.reason);
  }

  /** A new canary upstream (`rollout start` or config edit): remembered, then observed as a new revision. */
  async announce(
    canary: TrackConfig,
    source: string,
  ): Promise<CommandOutcome & { readonly deferred?: boolean }> {
    return this.#serial(async () => {
      const state = this.#require();
      const revision = revisionOf(canary);
      if (revision === state.status.stableRevision) {
        return {
          accepted: false,
          deferred: false,
          reason: `${canary.upstream} is already the stable upstream`,
        } as const;
      }
      const { phase: now, canaryRevision: rolling } = state.status;
      if (state.status.failedRevisions.includes(revision) && isActivePhase(now) && now !== 'RollingBack') {
        // The core cancels the rollout here because on Kubernetes the Deployment no longer holds
        // its template. Here nothing running changed: a mistyped upstream must not end a good
        // rollout. Deferred: a config edit naming it is announced again once the rollout is over.
        return {
          accepted: false,
          deferred: true,
          reason: `revision ${revision} (${canary.upstream}) failed before: not taken while revision ${rolling} rolls out (phase ${now}), which goes on; abort that rollout first, or announce this one again once it is over (it is then held for switchyard retry)`,
        } as const;
      }
      const result = this.#transition({ type: 'new-revision', revision });
      // The revision is now the one rolling out (started, or running already; either supersedes a
      // running rollout), the failed one held back for retry (outside a rollout), or neither: the
      // phase defers it (RollingBack). Keep the track if it is taken.
      const { phase, canaryRevision } = result.state;
      if (canaryRevision !== revision) {
        return {
          accepted: false,
          deferred: true,
          reason: `phase ${phase} does not accept a new canary now; try again when it is over`,
        } as const;
      }
      const started = isActivePhase(phase);
      if (started) this.#log.info({ revision, upstream: canary.upstream, source }, 'new canary announced');
      this.#state = { ...state, canary };
      await this.#apply(result);
      if (started) return { accepted: true, status: this.#require().status } as const;
      return {
        accepted: false,
        deferred: false,
        reason: `revision ${revision} (${canary.upstream}) failed before: held back, not started; switchyard retry reruns it`,
      } as const;
    });
  }

  /** An operator command; a 0 % publish (abort) is executed before this resolves. */
  async command(command: Command): Promise<CommandOutcome> {
    return this.#serial(async () => {
      const result = this.#transition({ type: 'command', command });
      if (result.rejected !== null) return { accepted: false, reason: result.rejected } as const;
      await this.#apply(result);
      return { accepted: true, status: this.#require().status } as const;
    });
  }

  /** One loop turn: analyse the open window (outside the queue, so commands never wait on scrapes), then tick. */
  tick(): Promise<void> {
    if (this.#ticking || this.#stopped) return this.#tickDone;
    this.#ticking = true;
    this.#tickDone = this.#tickOnce();
    return this.#tickDone;
  }

  async #tickOnce(): Promise<void> {
    try {
      await this.#announceConfigCanary();
      const { status, canary, stable } = this.#require();
      if (ACTIVE_ANALYSIS.has(status.phase) && status.stepSince !== null && canary !== null) {
        const window = this.#window(status, stable, canary, status.stepSince);
        let verdict: Verdict | null = null;
        try {
          verdict = await this.#options.analyzer.analyse(window, this.#options.now());
        } catch (error) {
          this.#log.warn({ err: errorMessage(error) }, 'analysis failed; the step holds');
        }
        if (verdict !== null) {
          await this.#observe({ type: 'analysis', windowStart: window.since, verdict });
        }
      }
      await this.#observe({ type: 'tick' });
    } finally {
      this.#ticking = false;
    }
  }

  /** Stops ticking and waits until the running tick and every queued observation are done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#tickDone.catch(() => undefined);
    await this.#queue;
  }

  async #observe(observation: Observation): Promise<void> {
    await this.#serial(async () => {
      await this.#apply(this.#transition(observation));
    });
  }

  #transition(observation: Observation): TransitionResult {
    return this.#options.transition(
      this.#require().status,
      observation,
      this.#options.now(),
      this.#config.settings,
      'operator',
    );
  }

  /** Persist the new status first (generation survives a crash), then execute the actions in order. */
  async #apply(result: TransitionResult): Promise<void> {
    const queue: Observation[] = [];
    let current: TransitionResult | null = result;
    while (current !== null) {
      const previous = this.#require().status;
      this.#state = { ...this.#require(), status: current.state };
      if (current.state.phase !== previous.phase) {
        this.#log.info(
          {
            from: previous.phase,
            to: current.state.phase,
            weight: current.state.weight,
            step: current.state.step,
          },
          current.state.message,
        );
      }
      const lastPublish = [...current.actions]
        .reverse()
        .find((action): action is PublishRoutes => action.type === 'publish-routes');
      if (lastPublish) this.#state = { ...this.#require(), lastRoutes: lastPublish };
      for (const action of current.actions) if (action.type === 'record-event') this.#recordEvent(action);
      await this.#persist();
      for (const action of current.actions) {
        const followUp = await this.#execute(action);
        if (followUp) queue.push(followUp);
      }
      const next = queue.shift();
      current = next === undefined ? null : this.#transition(next);
      if (current !== null && current.state === this.#require().status && current.actions.length === 0)
        current = null;
    }
  }

  /** Executes one action; returns what the world says back (file mode answers at once). */
  async #execute(action: Action): Promise<Observation | null> {
    const state = this.#require();
    switch (action.type) {
      case 'publish-routes':
        this.#publish(action);
        return null;
      case 'ensure-canary':
        // File mode runs no workloads: the announced upstream joins the table; it is ready as given.
        if (state.canary === null || revisionOf(state.canary) !== action.revision) {
          return {
            type: 'canary-not-ready',
            reason: `no canary upstream known for revision ${action.revision}; run switchyard rollout start`,
          };
        }
        // The operator sizes it, so no step waits for it; a status saved while one did (by a version
        // before 'operator' sizing) is answered as well.
        return state.status.phase === 'Initializing' ||
          weightAwaitingCanary(state.status, this.#config.settings) !== null
          ? { type: 'canary-ready' }
          : null;
      case 'delete-canary':
        return { type: 'canary-removed' };
      case 'promote-stable': {
        // Asked again on every tick while Promoting. The swap below is saved before the Succeeded
        // status is: after a crash in between, the stable track already is the revision.
        if (revisionOf(state.stable) === action.revision) return { type: 'promotion-complete' };
        if (state.canary === null || revisionOf(state.canary) !== action.revision) return null;
        // The canary's upstream and routers become the stable track (documented in docs/file-mode.md).
        this.#state = { ...state, stable: state.canary, canary: null };
        await this.#persist();
        return { type: 'promotion-complete' };
      }
      case 'analyse':
        if (state.canary !== null) {
          try {
            await this.#options.analyzer.begin(
              this.#window(state.status, state.stable, state.canary, action.since),
            );
          } catch (error) {
            this.#log.warn({ err: errorMessage(error) }, 'could not take the analysis baseline');
          }
        }
        return null;
      case 'record-event':
        return null;
    }
  }

  #window(status: RolloutStatus, stable: TrackConfig, canary: TrackConfig, since: string): AnalysisWindow {
    return {
      namespace: this.namespace,
      service: this.name,
      stable,
      canary,
      since,
      step: status.step,
      weight: status.weight,
      settings: this.#config.settings,
    };
  }

  #recordEvent(action: Extract<Action, { type: 'record-event' }>): void {
    const event: RolloutEvent = {
      at: this.#options.now().toISOString(),
      type: action.eventType,
      reason: action.reason,
      message: action.message,
    };
    const log =
      action.eventType === 'Warning' ? this.#log.warn.bind(this.#log) : this.#log.info.bind(this.#log);
    log({ event: action.reason }, action.message);
    const state = this.#require();
    this.#state = { ...state, events: [...state.events, event].slice(-MAX_STORED_EVENTS) };
  }

  /**
   * The upstream of each track in the last decided split. It changes together with the status; the
   * route server gets the same tracks a moment later, once the status is saved.
   */
  routedUpstreams(): Record<string, string> {
    return this.#upstreams(this.#require().lastRoutes?.canaryTrack ?? false);
  }

  #upstreams(canaryTrack: boolean): Record<string, string> {
    const { stable, canary } = this.#require();
    return canaryTrack && canary !== null
      ? { stable: stable.upstream, canary: canary.upstream }
      : { stable: stable.upstream };
  }

  /** The route table for a publish action: tracks from config/state, split and extras from the action. */
  buildTable(action: PublishRoutes): RouteTable {
    const upstreams = this.#upstreams(action.canaryTrack);
    const withCanary = upstreams.canary !== undefined;
    const settings = this.#config.settings;
    return parseRouteTable({
      service: this.name,
      generation: action.generation,
      tracks: Object.fromEntries(Object.entries(upstreams).map(([track, upstream]) => [track, { upstream }])),
      weights: withCanary
        ? { stable: action.weights.stable, canary: action.weights.canary }
        : { stable: 100 },
      rules: withCanary ? action.rulesToCanary.map((match) => ({ match, track: 'canary' })) : [],
      sticky: settings.stickyCookie === null ? null : { cookie: settings.stickyCookie, maxAgeSeconds: 3600 },
      mirror:
        withCanary && action.mirrorPercent > 0 ? { track: 'canary', percent: action.mirrorPercent } : null,
    });
  }

  #publish(action: PublishRoutes): void {
    const table = this.buildTable(action);
    if (this.#options.routes.publish(this.namespace, table)) {
      this.#log.info({ generation: table.generation, weights: table.weights }, 'route table published');
    }
  }

  async #persist(): Promise<void> {
    await this.#options.store.save(this.namespace, this.name, this.#require());
  }

  #require(): Persisted {
    if (this.#state === null) {
      throw new SwitchyardError(
        ErrorCode.Unavailable,
        `rollout ${this.namespace}/${this.name} is not started yet`,
      );
    }
    return this.#state;
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch((error: unknown) => {
      this.#log.error({ err: errorMessage(error) }, 'rollout step failed');
    });
    return run;
  }
}
