// What the rollout core consumes (observations) and produces (actions). Adapters (Kubernetes,
// file mode) turn the world into observations and execute actions; they decide nothing.

import type { MatchRule } from '../api/annotations.js';
import type { Command, RolloutStatus, Verdict } from '../api/canary.js';

/** Something an adapter saw. Every observation is valid in every phase (some are ignored). */
export type Observation =
  /** A pod template (or canary upstream) is pending; `revision` is its hash. */
  | { readonly type: 'new-revision'; readonly revision: string }
  /** The canary workload has its replicas available. */
  | { readonly type: 'canary-ready' }
  | { readonly type: 'canary-not-ready'; readonly reason: string }
  /**
   * An analysis of the window that began at `windowStart` (the `since` of the `analyse` action,
   * equal to `status.stepSince`). Adapters analyse every few seconds; a verdict for an older window
   * is ignored.
   */
  | { readonly type: 'analysis'; readonly windowStart: string; readonly verdict: Verdict }
  /** Time passed; lets deadlines fire without any other event. */
  | { readonly type: 'tick' }
  | { readonly type: 'command'; readonly command: Command }
  /** The stable workload now runs the canary revision and is available (Deployment rolled out). */
  | { readonly type: 'promotion-complete' }
  /** The canary workload is gone. */
  | { readonly type: 'canary-removed' }
  /**
   * The canary workload exists. Reported after every other observation, for the phase they led to:
   * outside a rollout it is left over (a failed delete, or a stop between status write and delete).
   */
  | { readonly type: 'canary-present' };

export type ObservationType = Observation['type'];

/** How the route table should split traffic; the adapter adds upstreams, sticky and canaryHeader. */
export interface PublishRoutes {
  readonly type: 'publish-routes';
  /** The route-table generation to publish; strictly greater than every earlier one. */
  readonly generation: number;
  readonly weights: { readonly stable: number; readonly canary: number };
  /** Whether the table lists the canary track at all (false once a rollout is over or rolled back). */
  readonly canaryTrack: boolean;
  /** Match rules whose requests go to the canary (strategy ab), empty otherwise. */
  readonly rulesToCanary: readonly MatchRule[];
  /** Percent of stable traffic mirrored to the canary (0 = no mirror). */
  readonly mirrorPercent: number;
}

export type Action =
  | PublishRoutes
  /**
   * Create the canary workload for `revision` if missing, and size it: `weight` is the percent of
   * live traffic it is about to take (adapters scale replicas proportionally, minimum 1, unless an
   * annotation fixes them).
   */
  | { readonly type: 'ensure-canary'; readonly revision: string; readonly weight: number }
  | { readonly type: 'delete-canary' }
  /** Point the stable workload at `revision` (Kubernetes: unpause the Deployment). */
  | { readonly type: 'promote-stable'; readonly revision: string }
  | {
      readonly type: 'record-event';
      readonly eventType: 'Normal' | 'Warning';
      /** Stable UpperCamelCase reason, e.g. `StepAdvanced`, `RolledBack`. */
      readonly reason: string;
      readonly message: string;
    }
  /**
   * Analyse from `since` (ISO) until told otherwise. The persisted `status.stepSince` says the same:
   * adapters (also after a restart) analyse `[stepSince, now]` whenever `stepSince` is not null, and
   * stop when it is null.
   */
  | { readonly type: 'analyse'; readonly since: string; readonly step: number; readonly weight: number };

export type ActionType = Action['type'];

export interface TransitionResult {
  readonly state: RolloutStatus;
  /** In order; when a rollback happens the 0 % publish is always first. */
  readonly actions: readonly Action[];
  /** Set when the observation was an operator command that is not valid now: the reason. */
  readonly rejected: string | null;
}

/** The status of a workload with no rollout yet; `stableRevision` is what serves today, if known. */
export function initialStatus(now: Date, stableRevision: string | null = null): RolloutStatus {
  return {
    phase: 'Idle',
    stableRevision,
    canaryRevision: null,
    failedRevisions: [],
    step: 0,
    weight: 0,
    routeGeneration: 0,
    phaseSince: now.toISOString(),
    stepSince: null,
    failedChecks: 0,
    inconclusiveChecks: 0,
    pausedFrom: null,
    message: 'no rollout yet',
    verdicts: [],
  };
}
