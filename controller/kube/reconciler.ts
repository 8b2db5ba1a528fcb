// Reconcile of one opted-in Deployment: read the world (Deployment, Canary, canary Deployment,
// analysis verdicts, operator command), turn it into observations for `transition`, write the new
// status with optimistic concurrency, then execute the actions. Decides nothing itself.

import { createHash, randomBytes } from 'node:crypto';
import {
  ApiException,
  type AppsV1Api,
  type CoreV1Api,
  type CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1Service,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  CA_CONFIGMAP,
  HOP_SECRET,
  isOptedIn,
  Label,
  PATCH_SERVICE_ANNOTATION,
  OwnedAnnotation,
  parseAnnotations,
  podTemplateHash,
  type RolloutSettings,
} from '../../api/annotations.js';
import {
  CANARY_GROUP,
  CANARY_KIND,
  CANARY_PLURAL,
  CANARY_VERSION,
  type RolloutStatus,
  type Verdict,
} from '../../api/canary.js';
import { errorMessage } from '../../api/errors.js';
import type { AnalysisWindow, TransitionFn, WindowAnalyzer } from '../window-analyzer.js';
import { type Action, initialStatus, type Observation } from '../rollout-types.js';
import { weightAwaitingCanary } from '../transition.js';
import {
  CANARY_API_VERSION,
  type CanaryObject,
  type CanaryStatus,
  type CommandRecord,
  type Condition,
  conditionsFor,
  publishedFrom,
  stableOnlyRoutes,
  statusOf,
} from './canary-object.js';
import { parseCommandAnnotation } from './commands.js';
import {
  canaryDeploymentName,
  COMMAND_ANNOTATION,
  EVENT_COMPONENT,
  ORIGINAL_TARGET_PORTS_ANNOTATION,
  REVISION_ANNOTATION,
  trackUpstream,
} from './names.js';
import type { WorkResult } from './work-queue.js';
import {
  canaryDeployment,
  canaryFailure,
  canaryIsReady,
  canaryReplicas,
  ownerReference,
  pendingRevisionOf,
  promotionComplete,
  repointedService,
  restoredService,
  stableRelease,
  trackService,
} from './workloads.js';
import { resolveAppPort } from '../../webhook/ports.js';
import type { PodSpec } from '../../webhook/types.js';

export interface ReconcilerOptions {
  readonly apps: AppsV1Api;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly transition: TransitionFn;
  readonly analyzer: WindowAnalyzer;
  readonly now: () => Date;
  readonly logger: Logger;
  /** Port the injected router listens on: the per-track Services target it. */
  readonly routerPort: number;
  /** Scrape targets (router admin URLs) of one track's ready pods. */
  readonly targets: (namespace: string, name: string, track: 'stable' | 'canary') => string[];
  /** Names of the Deployment's live pods that run without the router. */
  readonly podsWithoutRouter: (namespace: string, name: string) => string[];
  /** The Services of a namespace as control's watch last saw them (patch-service compares against them). */
  readonly services: (namespace: string) => readonly V1Service[];
  /** PEM bundle routers trust for control (kept in the `switchyard-ca` ConfigMap), or null. */
  readonly caBundle: () => string | null;
}

export interface PendingVerdict {
  readonly windowStart: string;
  readonly verdict: Verdict;
}

const CANARY_PATH = { group: CANARY_GROUP, version: CANARY_VERSION, plural: CANARY_PLURAL } as const;
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function code(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

async function orNull<T>(read: Promise<T>): Promise<T | null> {
  try {
    return await read;
  } catch (error) {
    if (code(error) === 404) return null;
    throw error;
  }
}

async function ignoreConflict(write: Promise<unknown>): Promise<void> {
  try {
    await write;
  } catch (error) {
    if (code(error) !== 409) throw error;
  }
}

/**
 * Order-insensitive JSON with null/undefined (and NaN/Infinity, which JSON turns into null) dropped:
 * the API server may reorder keys and prune nulls, and a status that differs only there must not be
 * rewritten (that would loop).
 */
export function canonical(value: unknown): string {
  const absent = (item: unknown): boolean =>
    item === null || item === undefined || (typeof item === 'number' && !Number.isFinite(item));
  const normalize = (item: unknown): unknown => {
    if (Array.isArray(item)) return item.map((child) => (absent(child) ? null : normalize(child)));
    if (item instanceof Date) return item.toISOString();
    if (typeof item !== 'object' || item === null) return item;
    const entries = Object.entries(item as Record<string, unknown>)
      .filter(([, child]) => !absent(child))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([key, child]) => [key, normalize(child)]));
  };
  return JSON.stringify(normalize(value) ?? null);
}

/** The message of condition `type` when it turned False from `before` to `after`, else null. */
function newlyFalse(
  before: readonly Condition[],
  after: readonly Condition[],
  type: Condition['type'],
): string | null {
  const now = after.find((condition) => condition.type === type);
  if (now?.status !== 'False') return null;
  return before.find((condition) => condition.type === type)?.status === 'False' ? null : now.message;
}

export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #log: Logger;
  /** Verdicts from the analysis loop, consumed by the next reconcile of that key. */
  readonly #verdicts = new Map<string, PendingVerdict>();
  /** `key@revision` whose namespace objects (Services, Secret, ConfigMap) are known to exist. */
  readonly #ensured = new Set<string>();
  /** Status writes refused with 409 (another writer was first); each one is retried with a fresh read. */
  conflicts = 0;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'kube-controller' });
  }

  offerVerdict(namespace: string, name: string, verdict: PendingVerdict): void {
    this.#verdicts.set(`${namespace}/${name}`, verdict);
  }

  /** Analysis window of a rollout, or null when none is open. */
  window(
    namespace: string,
    name: string,
    status: RolloutStatus,
    settings: RolloutSettings,
  ): AnalysisWindow | null {
    if (status.stepSince === null || !['Progressing', 'WaitingForPromotion'].includes(status.phase))
      return null;
    if (weightAwaitingCanary(status, settings) !== null) return null;
    return {
      namespace,
      service: name,
      stable: {
        upstream: trackUpstream(namespace, name, 'stable'),
        admin: this.#options.targets(namespace, name, 'stable'),
      },
      canary: {
        upstream: trackUpstream(namespace, name, 'canary'),
        admin: this.#options.targets(namespace, name, 'canary'),
      },
      since: status.stepSince,
      step: status.step,
      weight: status.weight,
      settings,
    };
  }

  async reconcile(namespace: string, name: string): Promise<WorkResult> {
    const { apps } = this.#options;
    const deployment = await orNull(apps.readNamespacedDeployment({ name, namespace }));
    if (deployment === null) return 'done';
    if (!isOptedIn(deployment.metadata?.annotations)) {
      await this.#optOut(deployment);
      return 'done';
    }
    let settings: RolloutSettings;
    try {
      settings = parseAnnotations(deployment.metadata?.annotations ?? {}).settings;
    } catch (error) {
      this.#log.warn({ namespace, name, err: errorMessage(error) }, 'annotations invalid; not reconciling');
      return 'done';
    }
    const canaryWorkload = await orNull(
      apps.readNamespacedDeployment({ name: canaryDeploymentName(name), namespace }),
    );
    let canary = await this.#readCanary(namespace, name);
    if (canary === null) {
      canary = await this.#createCanary(deployment, settings);
      if (canary === null) return 'conflict';
    }
    const withoutRouter = this.#options.podsWithoutRouter(namespace, name);
    const stored = statusOf(canary);
    let status = stored;
    if (status === null) {
      const revision =
        pendingRevisionOf(deployment) === null ? podTemplateHash(deployment.spec?.template) : null;
      // A new Canary may replace a deleted one whose tables routers still hold: start generations
      // at the wall-clock second so they stay above anything published before (≪ 1 publish/s).
      const generation = Math.max(1, Math.floor(this.#options.now().getTime() / 1000));
      const initial = { ...initialStatus(this.#options.now(), revision), routeGeneration: generation };
      status = this.#withExtras(
        initial,
        stableOnlyRoutes(generation, settings),
        settings,
        [],
        null,
        withoutRouter,
      );
    }
    const key = `${namespace}/${name}`;
    await this.#ensureNamespaceObjects(deployment, canary, key, status.canaryRevision);
    await this.#patchServices(deployment, settings);

    const observations: Observation[] = [];
    const commandText = canary.metadata.annotations?.[COMMAND_ANNOTATION];
    const request = parseCommandAnnotation(commandText);
    const freshCommand = request !== null && request.nonce !== status.lastCommand?.nonce ? request : null;
    if (freshCommand) observations.push({ type: 'command', command: freshCommand.command });
    const pending = pendingRevisionOf(deployment);
    if (pending !== null) observations.push({ type: 'new-revision', revision: pending });
    const verdict = this.#verdicts.get(key);
    if (verdict) {
      this.#verdicts.delete(key);
      observations.push({ type: 'analysis', windowStart: verdict.windowStart, verdict: verdict.verdict });
    }
    observations.push({ type: 'tick' });

    // Observations are fed one by one; world observations (readiness, removal) are re-read after
    // every transition since the phase they apply to may just have been entered.
    // X-Canary is honoured only with the token from the named Secret (read when a table is published).
    let tokenSha256: string | null | undefined;
    const canaryToken = async (): Promise<string | null> => {
      if (tokenSha256 === undefined) tokenSha256 = await this.#canaryTokenSha256(namespace, settings);
      return tokenSha256;
    };
    if (settings.canaryTokenSecret !== null) await canaryToken();
    let state: RolloutStatus = status;
    let routes = status.routes;
    let lastCommand: CommandRecord | null = status.lastCommand;
    const actions: Action[] = [];
    const feed = (observation: Observation): void => {
      const result = this.#options.transition(state, observation, this.#options.now(), settings);
      if (observation.type === 'command' && freshCommand) {
        lastCommand = {
          nonce: freshCommand.nonce,
          accepted: result.rejected === null,
          reason: result.rejected,
        };
      }
      state = result.state;
      for (const action of result.actions) {
        actions.push(action);
        if (action.type === 'publish-routes') routes = publishedFrom(action, settings, tokenSha256 ?? null);
      }
    };
    for (const observation of observations) {
      feed(observation);
      for (const world of this.#worldObservations(state, settings, deployment, canaryWorkload)) feed(world);
    }
    // Reported once, last, for the phase all of the above led to: a rollout started in this
    // reconcile is never told to delete the canary it is about to create from a read taken before.
    // Nor one started since: the canary is read before the Canary, whose status names a rollout
    // before its canary is created.
    if (canaryWorkload !== null) feed({ type: 'canary-present' });

    const next = this.#withExtras(state, routes, settings, status.conditions, lastCommand, withoutRouter);
    const changed = canonical(next) !== canonical(canary.status ?? null);
    if (changed) {
      try {
        await this.#options.custom.replaceNamespacedCustomObjectStatus({
          ...CANARY_PATH,
          namespace,
          name,
          body: { ...canary, status: next },
        });
      } catch (error) {
        if (code(error) !== 409) throw error;
        this.conflicts++;
        return 'conflict';
      }
      if (next.phase !== status.phase) {
        this.#log.info(
          { namespace, name, from: status.phase, to: next.phase, weight: next.weight },
          next.message,
        );
      }
    }
    if (commandText !== undefined) await this.#clearCommand(namespace, name, commandText);
    // Events report the status just written, so they go first (as in file mode): an action that
    // fails after them (the canary delete ending a rollout) must not lose them, and the retry,
    // deciding from that status, emits none of them again.
    const events = actions.filter((action) => action.type === 'record-event');
    const routerMissing = newlyFalse(stored?.conditions ?? [], next.conditions, 'RouterInjected');
    if (routerMissing !== null)
      events.push({
        type: 'record-event',
        eventType: 'Warning',
        reason: 'RouterMissing',
        message: routerMissing,
      });
    const effects = actions.filter((action) => action.type !== 'record-event');
    for (const action of [...events, ...effects])
      await this.#execute(action, deployment, canary, next, settings, canaryWorkload);
    // Level-triggered: a changed status is looked at again at once (e.g. canary ready after ensure).
    return changed ? 'conflict' : 'done';
  }

  /** What the cluster says about the workloads, for the phase the rollout is in now. */
  #worldObservations(
    state: RolloutStatus,
    settings: RolloutSettings,
    deployment: V1Deployment,
    canaryWorkload: V1Deployment | null,
  ): Observation[] {
    const revision = state.canaryRevision;
    const awaiting = weightAwaitingCanary(state, settings);
    if (awaiting !== null && canaryWorkload !== null) {
      // More traffic waits for the canary's capacity. Its spec is checked too: the workload read
      // may predate the scale-up asked for in this very reconcile.
      const replicas = canaryReplicas(deployment.spec?.replicas, awaiting);
      if (revision !== null && canaryIsReady(canaryWorkload, revision, replicas))
        return [{ type: 'canary-ready' }];
      const failure = canaryFailure(canaryWorkload);
      return failure === null ? [] : [{ type: 'canary-not-ready', reason: failure }];
    }
    switch (state.phase) {
      case 'Initializing': {
        if (revision !== null && canaryIsReady(canaryWorkload, revision)) return [{ type: 'canary-ready' }];
        const failure = canaryFailure(canaryWorkload);
        return failure === null ? [] : [{ type: 'canary-not-ready', reason: failure }];
      }
      case 'Promoting':
        if (revision !== null && promotionComplete(deployment, revision))
          return [{ type: 'promotion-complete' }];
        return canaryWorkload === null ? [{ type: 'canary-removed' }] : [];
      // RollingBack waits for the removal; the phases where the canary serves traffic re-create a
      // workload deleted by hand.
      case 'RollingBack':
      case 'Progressing':
      case 'Paused':
      case 'WaitingForPromotion':
        return canaryWorkload === null ? [{ type: 'canary-removed' }] : [];
      default:
        return [];
    }
  }

  #withExtras(
    state: RolloutStatus,
    routes: CanaryStatus['routes'],
    settings: RolloutSettings,
    previous: CanaryStatus['conditions'],
    lastCommand: CommandRecord | null,
    withoutRouter: readonly string[],
  ): CanaryStatus {
    const base: RolloutStatus = {
      phase: state.phase,
      stableRevision: state.stableRevision,
      canaryRevision: state.canaryRevision,
      failedRevisions: state.failedRevisions,
      step: state.step,
      weight: state.weight,
      routeGeneration: state.routeGeneration,
      phaseSince: state.phaseSince,
      stepSince: state.stepSince,
      failedChecks: state.failedChecks,
      inconclusiveChecks: state.inconclusiveChecks,
      pausedFrom: state.pausedFrom,
      message: state.message,
      verdicts: state.verdicts,
    };
    const conditions = conditionsFor(base, previous, this.#options.now(), withoutRouter);
    return { ...base, routes, steps: settings.steps, strategy: settings.strategy, conditions, lastCommand };
  }

  /**
   * sha256 of the token in `switchyard.io/canary-token-secret` (key `token`). A missing Secret or key
   * fails closed: a digest no token matches, so X-Canary is ignored until the Secret exists.
   */
  async #canaryTokenSha256(namespace: string, settings: RolloutSettings): Promise<string | null> {
    const name = settings.canaryTokenSecret;
    if (name === null) return null;
    const secret = await orNull(this.#options.core.readNamespacedSecret({ name, namespace }));
    const token = secret?.data?.token;
    if (token === undefined || token === '') {
      this.#log.warn(
        { namespace, secret: name },
        'canary token Secret (key "token") missing; X-Canary is ignored',
      );
      return createHash('sha256').update(randomBytes(32)).digest('hex');
    }
    return createHash('sha256').update(Buffer.from(token, 'base64')).digest('hex');
  }

  async #readCanary(namespace: string, name: string): Promise<CanaryObject | null> {
    return (await orNull(
      this.#options.custom.getNamespacedCustomObject({ ...CANARY_PATH, namespace, name }),
    )) as CanaryObject | null;
  }

  /** One Canary per opted-in Deployment, owner-referenced to it (garbage-collected with it). */
  async #createCanary(deployment: V1Deployment, settings: RolloutSettings): Promise<CanaryObject | null> {
    const namespace = deployment.metadata!.namespace!;
    const name = deployment.metadata!.name!;
    const body: CanaryObject = {
      apiVersion: CANARY_API_VERSION,
      kind: CANARY_KIND,
      metadata: {
        name,
        namespace,
        ownerReferences: [ownerReference('apps/v1', 'Deployment', deployment.metadata!, false)],
      },
      spec: { deployment: name },
    };
    try {
      await this.#options.custom.createNamespacedCustomObject({ ...CANARY_PATH, namespace, body });
    } catch (error) {
      if (code(error) === 409) return null;
      throw error;
    }
    this.#log.info({ namespace, name, steps: settings.steps }, 'created Canary');
    return this.#readCanary(namespace, name);
  }

  /** Removes the command annotation only if it still holds what we consumed (a newer one stays). */
  async #clearCommand(namespace: string, name: string, consumed: string): Promise<void> {
    const path = `/metadata/annotations/${COMMAND_ANNOTATION.replace('~', '~0').replace('/', '~1')}`;
    try {
      await this.#options.custom.patchNamespacedCustomObject(
        {
          ...CANARY_PATH,
          namespace,
          name,
          body: [
            { op: 'test', path, value: consumed },
            { op: 'remove', path },
          ],
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
    } catch (error) {
      // 422/409: the annotation changed meanwhile — a newer command the next reconcile takes.
      if (code(error) !== 422 && code(error) !== 409) throw error;
    }
  }

  /** Per-track Services, hop Secret and CA ConfigMap: created when missing, never overwritten blindly. */
  async #ensureNamespaceObjects(
    deployment: V1Deployment,
    canary: CanaryObject,
    key: string,
    revision: string | null,
  ): Promise<void> {
    const memo = `${key}@${revision ?? ''}`;
    if (this.#ensured.has(memo)) return;
    const { core } = this.#options;
    const namespace = deployment.metadata!.namespace!;
    const owner = ownerReference(CANARY_API_VERSION, CANARY_KIND, canary.metadata, true);
    for (const track of ['stable', 'canary'] as const) {
      const service = trackService(deployment, track, this.#options.routerPort, owner);
      const existing = await orNull(core.readNamespacedService({ name: service.metadata!.name!, namespace }));
      if (existing === null) await ignoreConflict(core.createNamespacedService({ namespace, body: service }));
    }
    if ((await orNull(core.readNamespacedSecret({ name: HOP_SECRET.name, namespace }))) === null) {
      await ignoreConflict(
        core.createNamespacedSecret({
          namespace,
          body: {
            metadata: {
              name: HOP_SECRET.name,
              namespace,
              labels: { 'app.kubernetes.io/name': 'switchyard' },
            },
            type: 'Opaque',
            // The mounted file is the header value routers send: printable hex, not raw bytes.
            data: { [HOP_SECRET.key]: Buffer.from(randomBytes(32).toString('hex')).toString('base64') },
          },
        }),
      );
    }
    const ca = this.#options.caBundle();
    if (ca !== null) {
      const current = await orNull(core.readNamespacedConfigMap({ name: CA_CONFIGMAP.name, namespace }));
      const body = {
        metadata: { name: CA_CONFIGMAP.name, namespace, labels: { 'app.kubernetes.io/name': 'switchyard' } },
        data: { [CA_CONFIGMAP.key]: ca },
      };
      if (current === null) await ignoreConflict(core.createNamespacedConfigMap({ namespace, body }));
      else if (current.data?.[CA_CONFIGMAP.key] !== ca) {
        await ignoreConflict(
          core.replaceNamespacedConfigMap({
            name: CA_CONFIGMAP.name,
            namespace,
            body: {
              ...body,
              metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion },
            },
          }),
        );
      }
    }
    this.#ensured.add(memo);
  }

  /**
   * `switchyard.io/patch-service: "true"` repoints numeric-targetPort Services at the router's port
   * name; without it, Services we patched are put back. Checked on every reconcile against the
   * watched Services, not once per setting: a re-applied manifest puts `targetPort: <number>` back
   * and would bypass the router until something else changed. Writes only what differs, so the
   * watch event of our own write finds nothing left to do.
   */
  async #patchServices(deployment: V1Deployment, settings: RolloutSettings): Promise<void> {
    const template = deployment.spec?.template;
    const resolution = resolveAppPort(template?.spec as unknown as PodSpec, settings.port);
    const { core } = this.#options;
    const namespace = deployment.metadata!.namespace!;
    const name = deployment.metadata!.name!;
    for (const service of this.#options.services(namespace)) {
      if (service.metadata?.labels?.[Label.service] === name) continue; // our per-track Services
      const next = settings.patchService
        ? resolution.ok
          ? repointedService(service, template?.metadata?.labels ?? {}, resolution.port, name)
          : null
        : restoredService(service, name);
      if (next === null || next === service || canonical(next) === canonical(service)) continue;
      try {
        // Pinned to the cached resourceVersion: a newer Service is not overwritten unseen.
        await core.replaceNamespacedService({ name: service.metadata!.name!, namespace, body: next });
      } catch (error) {
        // The cache lags a write (ours or the user's); its watch event brings this Deployment back.
        if (code(error) === 409) continue;
        throw error;
      }
      const patched = next.metadata?.annotations?.[ORIGINAL_TARGET_PORTS_ANNOTATION] !== undefined;
      const message = patched
        ? `Service ${service.metadata!.name} now targets the router's port (${PATCH_SERVICE_ANNOTATION})`
        : `Service ${service.metadata!.name} targetPorts restored (${settings.patchService ? `the router no longer fronts them, ${PATCH_SERVICE_ANNOTATION}` : `${PATCH_SERVICE_ANNOTATION} removed`})`;
      await this.#recordEvent(deployment, {
        type: 'record-event',
        eventType: 'Normal',
        reason: patched ? 'ServicePatched' : 'ServiceRestored',
        message,
      });
    }
  }

  /**
   * The Deployment no longer opts in: put patched Services back and delete its Canary (its canary
   * Deployment and per-track Services go with it, by owner reference). Routers drop out as the
   * Deployment's pods are replaced without them.
   */
  async #optOut(deployment: V1Deployment): Promise<void> {
    const namespace = deployment.metadata!.namespace!;
    const name = deployment.metadata!.name!;
    const canary = await this.#readCanary(namespace, name);
    if (canary === null) return;
    const { core, custom } = this.#options;
    for (const service of (await core.listNamespacedService({ namespace })).items) {
      const restored = restoredService(service, name);
      if (restored !== null)
        await core.replaceNamespacedService({ name: service.metadata!.name!, namespace, body: restored });
    }
    await orNull(
      custom.deleteNamespacedCustomObject({
        ...CANARY_PATH,
        namespace,
        name,
        propagationPolicy: 'Background',
      }),
    );
    await orNull(
      this.#options.apps.deleteNamespacedDeployment({ name: canaryDeploymentName(name), namespace }),
    );
    this.#log.info({ namespace, name }, 'Deployment opted out; Canary deleted');
  }

  /** A core/v1 Event on the Deployment (best effort: a lost Event never blocks the rollout), and a log line. */
  async #recordEvent(
    deployment: V1Deployment,
    action: Extract<Action, { type: 'record-event' }>,
  ): Promise<void> {
    const namespace = deployment.metadata!.namespace!;
    const name = deployment.metadata!.name!;
    const at = this.#options.now();
    await this.#options.core
      .createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${name}.`, namespace },
          involvedObject: {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name,
            namespace,
            uid: deployment.metadata?.uid,
          },
          reason: action.reason,
          message: action.message.slice(0, 1024),
          type: action.eventType,
          source: { component: EVENT_COMPONENT },
          reportingComponent: EVENT_COMPONENT,
          firstTimestamp: at,
          lastTimestamp: at,
          count: 1,
        },
      })
      .catch((error: unknown) =>
        this.#log.warn({ namespace, name, err: errorMessage(error) }, 'could not record event'),
      );
    const log =
      action.eventType === 'Warning' ? this.#log.warn.bind(this.#log) : this.#log.info.bind(this.#log);
    log({ namespace, name, event: action.reason }, action.message);
  }

  /** Forget memos (e.g. on losing leadership) so the next leader turn re-checks everything. */
  reset(): void {
    this.#ensured.clear();
    this.#verdicts.clear();
  }

  async #execute(
    action: Action,
    deployment: V1Deployment,
    canary: CanaryObject,
    status: CanaryStatus,
    settings: RolloutSettings,
    canaryWorkload: V1Deployment | null,
  ): Promise<void> {
    const { apps } = this.#options;
    const namespace = deployment.metadata!.namespace!;
    const name = deployment.metadata!.name!;
    switch (action.type) {
      case 'publish-routes':
        // Every replica serves the table derived from the Canary status just written (RouteProjector).
        return;
      case 'ensure-canary': {
        const replicas = canaryReplicas(deployment.spec?.replicas, action.weight);
        if (canaryWorkload === null) {
          if (podTemplateHash(deployment.spec?.template) !== action.revision) {
            this.#log.warn(
              { namespace, name, revision: action.revision },
              'Deployment template no longer matches the canary revision; not creating it',
            );
            return;
          }
          const owner = ownerReference(CANARY_API_VERSION, CANARY_KIND, canary.metadata, true);
          await ignoreConflict(
            apps.createNamespacedDeployment({
              namespace,
              body: canaryDeployment(deployment, action.revision, replicas, owner),
            }),
          );
          return;
        }
        const sameRevision = canaryWorkload.metadata?.annotations?.[REVISION_ANNOTATION] === action.revision;
        if (!sameRevision && podTemplateHash(deployment.spec?.template) === action.revision) {
          const owner = ownerReference(CANARY_API_VERSION, CANARY_KIND, canary.metadata, true);
          const desired = canaryDeployment(deployment, action.revision, replicas, owner);
          await ignoreConflict(
            apps.replaceNamespacedDeployment({
              name: canaryDeploymentName(name),
              namespace,
              body: {
                ...desired,
                metadata: { ...desired.metadata, resourceVersion: canaryWorkload.metadata?.resourceVersion },
              },
            }),
          );
          return;
        }
        if (canaryWorkload.spec?.replicas !== replicas) {
          await apps.patchNamespacedDeployment(
            { name: canaryDeploymentName(name), namespace, body: { spec: { replicas } } },
            MERGE,
          );
        }
        return;
      }
      case 'delete-canary':
        await orNull(
          apps.deleteNamespacedDeployment({
            name: canaryDeploymentName(name),
            namespace,
            propagationPolicy: 'Background',
          }),
        );
        return;
      case 'promote-stable': {
        // Asked on every tick while promoting: write only while the Deployment is still held.
        const release = stableRelease(deployment, action.revision);
        if (release === 'released') return;
        if (release === 'another-template') {
          this.#log.warn(
            { namespace, name, revision: action.revision },
            'Deployment template no longer matches the revision being promoted; not unpausing it',
          );
          return;
        }
        // The webhook lets the controller's own update through (its username is configured there).
        // Pinned to the version read: a template held back since then would be released without
        // a canary. On 409 the next reconcile sees it as a new revision.
        await ignoreConflict(
          apps.patchNamespacedDeployment(
            {
              name,
              namespace,
              body: {
                metadata: {
                  resourceVersion: deployment.metadata?.resourceVersion,
                  annotations: { [OwnedAnnotation.pendingRevision]: null },
                },
                spec: { paused: false },
              },
            },
            MERGE,
          ),
        );
        return;
      }
      case 'record-event':
        await this.#recordEvent(deployment, action);
        return;
      case 'analyse': {
        const window = this.window(namespace, name, { ...status, stepSince: action.since }, settings);
        if (window === null) return;
        await this.#options.analyzer
          .begin(window)
          .catch((error: unknown) =>
            this.#log.warn(
              { namespace, name, err: errorMessage(error) },
              'could not take the analysis baseline',
            ),
          );
        return;
      }
    }
  }
}
