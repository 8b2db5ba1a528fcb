// The Canary custom object as the adapter reads and writes it: RolloutStatus plus what every
// replica needs to serve routes (the last published split) and what kubectl/CLI show (conditions).

import type { RolloutSettings } from '../../api/annotations.js';
import {
  CANARY_GROUP,
  CANARY_KIND,
  CANARY_VERSION,
  isActivePhase,
  type RolloutStatus,
} from '../../api/canary.js';
import { parseRouteTable, type RouteTable } from '../../api/routes.js';
import type { PublishRoutes } from '../rollout-types.js';
import { trackUpstream } from './names.js';

export const CANARY_API_VERSION = `${CANARY_GROUP}/${CANARY_VERSION}`;

/** The split last published: a PublishRoutes action without its type, plus the sticky cookie. */
export interface PublishedRoutes {
  readonly generation: number;
  readonly weights: { readonly stable: number; readonly canary: number };
  readonly canaryTrack: boolean;
  readonly rulesToCanary: PublishRoutes['rulesToCanary'];
  readonly mirrorPercent: number;
  readonly stickyCookie: string | null;
  /** sha256 (hex) of the X-Canary token from `switchyard.io/canary-token-secret`, or null. */
  readonly canaryTokenSha256?: string | null;
}

export interface Condition {
  readonly type: 'Ready' | 'Progressing' | 'Analysis' | 'RouterInjected';
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: string;
}

/** Outcome of the last operator command taken from the command annotation. */
export interface CommandRecord {
  readonly nonce: string;
  readonly accepted: boolean;
  readonly reason: string | null;
}

export interface CanaryStatus extends RolloutStatus {
  readonly routes: PublishedRoutes;
  readonly steps: readonly number[];
  readonly strategy: string;
  readonly conditions: readonly Condition[];
  readonly lastCommand: CommandRecord | null;
}

export interface CanaryObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    ownerReferences?: unknown[];
    creationTimestamp?: string;
  };
  spec?: { deployment?: string };
  status?: CanaryStatus;
}

/** A Canary's status, or null when it has none yet (just created) or one we cannot read. */
export function statusOf(object: CanaryObject | undefined): CanaryStatus | null {
  const status = object?.status as Partial<CanaryStatus> | undefined;
  if (!status || typeof status.phase !== 'string' || typeof status.routeGeneration !== 'number') return null;
  if (typeof status.routes !== 'object' || status.routes === null) return null;
  return {
    ...(status as CanaryStatus),
    failedRevisions: status.failedRevisions ?? [],
    verdicts: status.verdicts ?? [],
    conditions: status.conditions ?? [],
    lastCommand: status.lastCommand ?? null,
  };
}

export function publishedFrom(
  action: PublishRoutes,
  settings: RolloutSettings,
  canaryTokenSha256: string | null = null,
): PublishedRoutes {
  return {
    canaryTokenSha256,
    generation: action.generation,
    weights: { stable: action.weights.stable, canary: action.weights.canary },
    canaryTrack: action.canaryTrack,
    rulesToCanary: action.rulesToCanary,
    mirrorPercent: action.mirrorPercent,
    stickyCookie: settings.stickyCookie,
  };
}

/** The stable-only table a Canary starts with, so routers have a table before any rollout. */
export function stableOnlyRoutes(generation: number, settings: RolloutSettings): PublishedRoutes {
  return {
    generation,
    weights: { stable: 100, canary: 0 },
    canaryTrack: false,
    rulesToCanary: [],
    mirrorPercent: 0,
    stickyCookie: settings.stickyCookie,
  };
}

/**
 * The route table every control replica serves for one Deployment, derived from its Canary status
 * alone: followers and the leader serve identical tables without talking to each other.
 */
export function routeTableOf(namespace: string, name: string, routes: PublishedRoutes): RouteTable {
  const withCanary = routes.canaryTrack;
  return parseRouteTable({
    service: name,
    generation: routes.generation,
    tracks: withCanary
      ? {
          stable: { upstream: trackUpstream(namespace, name, 'stable') },
          canary: { upstream: trackUpstream(namespace, name, 'canary') },
        }
      : { stable: { upstream: trackUpstream(namespace, name, 'stable') } },
    weights: withCanary ? { stable: routes.weights.stable, canary: routes.weights.canary } : { stable: 100 },
    rules: withCanary ? routes.rulesToCanary.map((match) => ({ match, track: 'canary' })) : [],
    sticky: routes.stickyCookie === null ? null : { cookie: routes.stickyCookie, maxAgeSeconds: 3600 },
    mirror:
      withCanary && routes.mirrorPercent > 0 ? { track: 'canary', percent: routes.mirrorPercent } : null,
    canaryHeader: { name: 'x-canary', tokenSha256: routes.canaryTokenSha256 ?? null },
  });
}

function condition(
  previous: readonly Condition[],
  type: Condition['type'],
  status: Condition['status'],
  reason: string,
  message: string,
  now: string,
): Condition {
  const before = previous.find((item) => item.type === type);
  const lastTransitionTime = before && before.status === status ? before.lastTransitionTime : now;
  return { type, status, reason, message, lastTransitionTime };
}

/** How many pod names a RouterInjected message lists. */
const LISTED_PODS = 5;

/** The RouterInjected condition's message for pods running without the router. */
export function podsWithoutRouterMessage(pods: readonly string[]): string {
  const listed = pods.slice(0, LISTED_PODS).join(', ') + (pods.length > LISTED_PODS ? ', …' : '');
  return (
    `${pods.length} pod${pods.length === 1 ? '' : 's'} without the router (${listed}): admitted while ` +
    "the pod webhook was unreachable, or refused by it (control's log says why); they " +
    'serve outside the split and unmeasured. Delete them: their ReplicaSet re-creates them through ' +
    'the webhook'
  );
}

/**
 * Ready / Progressing / Analysis / RouterInjected in the usual shape; transition times move only
 * when a status flips. `withoutRouter`: the Deployment's pods that run without the router.
 */
export function conditionsFor(
  status: RolloutStatus,
  previous: readonly Condition[],
  now: Date,
  withoutRouter: readonly string[],
): Condition[] {
  const at = now.toISOString();
  const active = isActivePhase(status.phase);
  const last = status.verdicts[status.verdicts.length - 1];
  return [
    condition(
      previous,
      'Ready',
      status.phase === 'Failed' ? 'False' : 'True',
      status.phase,
      status.phase === 'Failed' ? status.message : `stable ${status.stableRevision ?? 'unknown'} serves`,
      at,
    ),
    condition(previous, 'Progressing', active ? 'True' : 'False', status.phase, status.message, at),
    last === undefined
      ? condition(previous, 'Analysis', 'Unknown', 'NoVerdict', 'no analysis yet', at)
      : condition(
          previous,
          'Analysis',
          last.outcome === 'pass' ? 'True' : last.outcome === 'fail' ? 'False' : 'Unknown',
          last.outcome === 'pass' ? 'Passed' : last.outcome === 'fail' ? 'Failed' : 'Inconclusive',
          `step ${last.step + 1} at ${last.weight}%: ${last.outcome}`,
          at,
        ),
    withoutRouter.length === 0
      ? condition(previous, 'RouterInjected', 'True', 'AllPodsRouted', 'every pod runs the router', at)
      : condition(
          previous,
          'RouterInjected',
          'False',
          'PodsWithoutRouter',
          podsWithoutRouterMessage(withoutRouter),
          at,
        ),
  ];
}

export const CANARY_KIND_NAME = CANARY_KIND;
