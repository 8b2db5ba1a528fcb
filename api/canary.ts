// Rollout state shared by the controller core, its adapters (Kubernetes Canary status, file-mode
// state dir), the API and the CLI. Everything a restarted controller needs to resume lives here.

export const CANARY_GROUP = 'switchyard.io';
export const CANARY_VERSION = 'v1alpha1';
export const CANARY_PLURAL = 'canaries';
export const CANARY_KIND = 'Canary';

export const PHASES = [
  'Idle',
  'Initializing',
  'Progressing',
  'Paused',
  'WaitingForPromotion',
  'Promoting',
  'Succeeded',
  'RollingBack',
  'Failed',
] as const;
export type Phase = (typeof PHASES)[number];

/** Phases in which a rollout is under way (a canary may exist, routes may include it). */
const ACTIVE_PHASES: ReadonlySet<string> = new Set<Phase>([
  'Initializing',
  'Progressing',
  'Paused',
  'WaitingForPromotion',
  'Promoting',
  'RollingBack',
]);

export function isActivePhase(phase: string): boolean {
  return ACTIVE_PHASES.has(phase);
}

/** Operator commands, from the CLI, the API or the dashboard. */
export type Command =
  | { readonly type: 'promote'; readonly full: boolean }
  | { readonly type: 'abort' }
  | { readonly type: 'retry' }
  | { readonly type: 'pause' }
  | { readonly type: 'resume' }
  | { readonly type: 'set-weight'; readonly weight: number };

export type CheckOutcome = 'pass' | 'fail' | 'inconclusive';

/** One check of one analysis, with the numbers that decided it. */
export interface CheckResult {
  /** e.g. `success-rate`, `p99-latency`, `latency-ratio`, `error-rate-z-test`, `latency-mann-whitney`, `check.<name>`. */
  readonly name: string;
  readonly outcome: CheckOutcome;
  /** Observed value (rate, seconds, ratio, p-value…), null when there was no data. */
  readonly value: number | null;
  /** The bound it was held against, null for comparisons without one. */
  readonly threshold: number | null;
  readonly pValue?: number;
  /** One line a person can read: "canary success 0.80 < 0.99 over 412 requests". */
  readonly message: string;
}

export interface TrackStats {
  readonly requests: number;
  readonly errors: number;
  readonly successRate: number | null;
  readonly p50Seconds: number | null;
  readonly p99Seconds: number | null;
}

/** The verdict of one analysis of one step, as recorded on the status and logged once. */
export interface Verdict {
  readonly at: string;
  readonly step: number;
  readonly weight: number;
  readonly outcome: CheckOutcome;
  /** True when the evidence was overwhelming and the step was cut short (fast fail). */
  readonly fastFail: boolean;
  readonly checks: readonly CheckResult[];
  readonly canary: TrackStats;
  readonly stable: TrackStats;
}

/** Persisted state of the rollout of one workload (Canary `.status`, or one file in the state dir). */
export interface RolloutStatus {
  readonly phase: Phase;
  /** Hash of the pod template (or canary upstream in file mode) that serves as stable. */
  readonly stableRevision: string | null;
  /**
   * Hash being rolled out; outside a rollout (Idle, Succeeded, Failed) the failed revision the
   * workload holds back, which `retry` reruns, else null.
   */
  readonly canaryRevision: string | null;
  /** Revisions that failed and must not start again on their own (`retry` reruns them). */
  readonly failedRevisions: readonly string[];
  /** Index into the weight steps; equal to steps.length when at 100 %. */
  readonly step: number;
  /** Current canary weight in percent. */
  readonly weight: number;
  /** Route-table generation last published; strictly increasing, also across restarts. */
  readonly routeGeneration: number;
  /** ISO time the current phase began. */
  readonly phaseSince: string;
  /** ISO time the current step's analysis window began, null outside Progressing. */
  readonly stepSince: string | null;
  /** Failed analyses so far in this rollout. */
  readonly failedChecks: number;
  /** Consecutive inconclusive analyses at this step (progress deadline). */
  readonly inconclusiveChecks: number;
  /** Phase to return to on `resume`. */
  readonly pausedFrom: Phase | null;
  /** Human-readable reason of the latest transition. */
  readonly message: string;
  /** Most recent verdicts, newest last (bounded). */
  readonly verdicts: readonly Verdict[];
}

export const MAX_RECORDED_VERDICTS = 20;
