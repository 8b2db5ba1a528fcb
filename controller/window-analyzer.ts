// The seams both rollout adapters (file mode, Kubernetes) drive: the transition function and the
// window analysis. Mode-independent, so neither adapter imports the other.

import type { RolloutSettings } from '../api/annotations.js';
import type { RolloutStatus, Verdict } from '../api/canary.js';
import type { Observation, TransitionResult } from './rollout-types.js';
import type { CanarySizing } from './transition.js';

export type TransitionFn = (
  state: RolloutStatus,
  observation: Observation,
  now: Date,
  settings: RolloutSettings,
  sizing?: CanarySizing,
) => TransitionResult;

/** One track as the analysis sees it. */
export interface AnalysisTrack {
  /** Where other routers send this track's requests (scheme://host:port). */
  readonly upstream: string;
  /** Router admin URLs whose `/metrics` measure this track (builtin analysis). */
  readonly admin: readonly string[];
}

/** What an analysis needs to know about one window of one service. */
export interface AnalysisWindow {
  readonly namespace: string;
  readonly service: string;
  readonly stable: AnalysisTrack;
  readonly canary: AnalysisTrack;
  /** ISO start of the window (`status.stepSince`). */
  readonly since: string;
  readonly step: number;
  readonly weight: number;
  readonly settings: RolloutSettings;
}

/**
 * Analysis as the adapters use it. `begin` is called when a window starts (a builtin provider takes
 * its counter baseline there); `analyse` judges the window so far, or returns null when nothing
 * could be measured (e.g. every router unreachable).
 */
export interface WindowAnalyzer {
  begin(window: AnalysisWindow): Promise<void>;
  analyse(window: AnalysisWindow, now: Date): Promise<Verdict | null>;
}
