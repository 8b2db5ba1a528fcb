// The judgement simulator: synthetic per-track traffic (seeded PRNG, fake clock) fed through the
// real judge and the real transition. `make sim` prints its report; unit tests assert the targets.

import { DEFAULT_SETTINGS, type RolloutSettings } from '../../api/annotations.js';
import type { RolloutStatus } from '../../api/canary.js';
import { DURATION_BUCKETS } from '../../router/metrics.js';
import type { Observation } from '../rollout-types.js';
import { initialStatus, transition } from '../transition.js';
import { DEFAULT_JUDGE_OPTIONS, type JudgeOptions, judge } from './judge.js';
import { deltaCounts, type TrackCounts } from './window.js';

/** sfc32: small, fast, good enough for simulation; fully determined by the seed. */
export function seededRandom(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next();
  return next;
}

/** Latency model: log-normal with this median and log-space σ, optionally scaled (regression). */
export interface LatencyModel {
  readonly medianSeconds: number;
  readonly sigma: number;
  readonly scale: number;
  /** Requests slower than this normal quantile get `tailExtraSeconds` more (a tail-only regression). */
  readonly tailFromZ?: number;
  readonly tailExtraSeconds?: number;
}

export interface TrackModel {
  readonly errorRate: number;
  readonly latency: LatencyModel;
}

export interface Scenario {
  readonly name: string;
  /** Total service traffic, requests per second (Poisson arrivals). */
  readonly requestsPerSecond: number;
  readonly stable: TrackModel;
  readonly canary: TrackModel;
  readonly settings: RolloutSettings;
  /** How often the adapter analyses the current window. */
  readonly analyseEveryMs: number;
  /** Give up (count as still running) after this many intervals. */
  readonly maxIntervals: number;
}

export interface RunResult {
  readonly outcome: 'promoted' | 'rolled-back' | 'running';
  /** Seconds from the canary taking traffic to the 0 % publish, when rolled back. */
  readonly rollbackAfterSeconds: number | null;
  readonly fastFail: boolean;
  /** Rolled back by the progress deadline (no verdict), not by a failed check. */
  readonly deadline: boolean;
  readonly failVerdicts: number;
  readonly passVerdicts: number;
  readonly inconclusiveVerdicts: number;
}

export const BASE_LATENCY: LatencyModel = Object.freeze({ medianSeconds: 0.05, sigma: 0.5, scale: 1 });
export const HEALTHY: TrackModel = Object.freeze({ errorRate: 0.001, latency: BASE_LATENCY });

/** p-quantile of a latency model (inverse log-normal CDF). */
export function latencyQuantile(model: LatencyModel, z: number): number {
  const tail = model.tailFromZ !== undefined && z > model.tailFromZ ? (model.tailExtraSeconds ?? 0) : 0;
  return model.medianSeconds * Math.exp(model.sigma * z) * model.scale + tail;
}

const Z99 = 2.3263478740408408;

/** A scale making the model's p99 `extraSeconds` slower: every request slower in proportion. */
export function p99Regression(model: LatencyModel, extraSeconds: number): LatencyModel {
  const p99 = latencyQuantile(model, Z99);
  return { ...model, scale: model.scale * ((p99 + extraSeconds) / p99) };
}

/** Only the slowest 2% get `extraSeconds` slower: p99 moves by that much, the median not at all. */
export function p99TailRegression(model: LatencyModel, extraSeconds: number): LatencyModel {
  return { ...model, tailFromZ: 2.0537489106318225, tailExtraSeconds: extraSeconds };
}

class Track {
  requests = 0;
  errors = 0;
  readonly cumulative: number[] = DURATION_BUCKETS.map(() => 0);
  infinite = 0;

  constructor(
    readonly model: TrackModel,
    readonly random: () => number,
  ) {}

  serve(): void {
    this.requests++;
    if (this.random() < this.model.errorRate) this.errors++;
    const latency = this.#latency();
    this.infinite++;
    for (let i = DURATION_BUCKETS.length - 1; i >= 0 && latency <= (DURATION_BUCKETS[i] as number); i--) {
      this.cumulative[i] = (this.cumulative[i] as number) + 1;
    }
  }

  counts(): TrackCounts {
    return {
      requests: this.requests,
      errors: this.errors,
      buckets: [
        ...DURATION_BUCKETS.map((le, i) => ({ le, count: this.cumulative[i] as number })),
        { le: Number.POSITIVE_INFINITY, count: this.infinite },
      ],
    };
  }

  #latency(): number {
    // Box–Muller; one normal per request is plenty.
    const u = 1 - this.random();
    const v = this.random();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return latencyQuantile(this.model.latency, z);
  }
}

/** Poisson sample by inversion (rates here are small per second). */
function poisson(mean: number, random: () => number): number {
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * gaussian(random)));
  const limit = Math.exp(-mean);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** One seeded rollout of a fresh canary under `scenario`. */
export function simulateRun(
  scenario: Scenario,
  seed: number,
  options: JudgeOptions = DEFAULT_JUDGE_OPTIONS,
): RunResult {
  const random = seededRandom(seed);
  const stable = new Track(scenario.stable, random);
  const canary = new Track(scenario.canary, random);
  const { settings } = scenario;
  const start = Date.UTC(2026, 0, 1);
  let now = start;
  let state: RolloutStatus = initialStatus(new Date(now), 'stable');
  let windowStart: string | null = null;
  let baseline = { canary: canary.counts(), stable: stable.counts() };
  let fastFail = false;
  let passVerdicts = 0;
  let failVerdicts = 0;
  let inconclusiveVerdicts = 0;
  const send = (observation: Observation): void => {
    // The simulated canary has whatever capacity it is given, like an operator-sized one: a step's
    // weight goes live as the step starts.
    state = transition(state, observation, new Date(now), settings, 'operator').state;
    if (state.stepSince !== windowStart) {
      // The adapter's first scrape of a new window is its baseline.
      windowStart = state.stepSince;
      baseline = { canary: canary.counts(), stable: stable.counts() };
    }
  };
  send({ type: 'new-revision', revision: 'canary' });
  send({ type: 'canary-ready' });
  const trafficStart = now;
  const end = start + scenario.maxIntervals * settings.intervalMs;
  while (now < end) {
    now += 1000;
    const arrivals = poisson(scenario.requestsPerSecond, random);
    for (let i = 0; i < arrivals; i++) {
      if (random() * 100 < state.weight) canary.serve();
      else stable.serve();
    }
    send({ type: 'tick' });
    if (state.stepSince !== null && (now - trafficStart) % scenario.analyseEveryMs === 0) {
      const verdict = judge(
        {
          canary: deltaCounts(baseline.canary, canary.counts()),
          stable: deltaCounts(baseline.stable, stable.counts()),
          custom: [],
        },
        settings,
        { at: new Date(now), step: state.step, weight: state.weight },
        options,
      );
      const before = state.verdicts.length;
      send({ type: 'analysis', windowStart: state.stepSince, verdict });
      if (state.verdicts.length !== before || state.phase === 'RollingBack') {
        if (verdict.outcome === 'pass') passVerdicts++;
        else if (verdict.outcome === 'fail') failVerdicts++;
        else inconclusiveVerdicts++;
        fastFail ||= verdict.fastFail && state.phase === 'RollingBack';
      }
    }
    if (state.phase === 'Promoting') {
      return {
        outcome: 'promoted',
        rollbackAfterSeconds: null,
        fastFail,
        deadline: false,
        failVerdicts,
        passVerdicts,
        inconclusiveVerdicts,
      };
    }
    if (state.phase === 'RollingBack') {
      return {
        outcome: 'rolled-back',
        rollbackAfterSeconds: (now - trafficStart) / 1000,
        fastFail,
        deadline: state.message.includes('progress deadline'),
        failVerdicts,
        passVerdicts,
        inconclusiveVerdicts,
      };
    }
  }
  return {
    outcome: 'running',
    rollbackAfterSeconds: null,
    fastFail,
    deadline: false,
    failVerdicts,
    passVerdicts,
    inconclusiveVerdicts,
  };
}

export interface ScenarioSummary {
  readonly name: string;
  readonly runs: number;
  readonly promoted: number;
  readonly rolledBack: number;
  /** Rolled back within `withinIntervals` intervals of the canary taking traffic. */
  readonly rolledBackWithin: number;
  readonly withinIntervals: number;
  readonly fastFails: number;
  readonly deadlines: number;
  /** Runs with at least one fail verdict (not counting progress deadlines). */
  readonly runsWithFailVerdict: number;
  readonly runsWithPassVerdict: number;
  readonly medianRollbackSeconds: number | null;
  /** Every rollback's seconds after the canary took traffic, ascending. */
  readonly rollbackSeconds: readonly number[];
}

export function runScenario(
  scenario: Scenario,
  runs: number,
  baseSeed: number,
  withinIntervals = 2,
  options: JudgeOptions = DEFAULT_JUDGE_OPTIONS,
): ScenarioSummary {
  const results = Array.from({ length: runs }, (_, i) => simulateRun(scenario, baseSeed + i, options));
  const rollbacks = results
    .map((r) => r.rollbackAfterSeconds)
    .filter((s): s is number => s !== null)
    .sort((a, b) => a - b);
  const limit = (withinIntervals * scenario.settings.intervalMs) / 1000;
  return {
    name: scenario.name,
    runs,
    promoted: results.filter((r) => r.outcome === 'promoted').length,
    rolledBack: rollbacks.length,
    rolledBackWithin: rollbacks.filter((s) => s <= limit).length,
    withinIntervals,
    fastFails: results.filter((r) => r.fastFail).length,
    deadlines: results.filter((r) => r.deadline).length,
    runsWithFailVerdict: results.filter((r) => r.failVerdicts > 0 && !r.deadline).length,
    runsWithPassVerdict: results.filter((r) => r.passVerdicts > 0).length,
    medianRollbackSeconds:
      rollbacks.length > 0 ? (rollbacks[Math.floor(rollbacks.length / 2)] as number) : null,
    rollbackSeconds: rollbacks,
  };
}

const SIM_SETTINGS: RolloutSettings = { ...DEFAULT_SETTINGS };

function scenario(name: string, overrides: Partial<Scenario>): Scenario {
  return {
    name,
    requestsPerSecond: 100,
    stable: HEALTHY,
    canary: HEALTHY,
    settings: SIM_SETTINGS,
    analyseEveryMs: 5000,
    maxIntervals: 12,
    ...overrides,
  };
}

/** The scenarios of the report, with default settings (steps 5,25,50, interval 1m, 2 failed checks). */
export const SCENARIOS = {
  aa: scenario('A/A 100 req/s (false rollback)', {}),
  errors: scenario('+2 pp errors 100 req/s', { canary: { ...HEALTHY, errorRate: HEALTHY.errorRate + 0.02 } }),
  latency: scenario('+100 ms p99 100 req/s', {
    canary: { ...HEALTHY, latency: p99Regression(BASE_LATENCY, 0.1) },
  }),
  latencyTail: scenario('+100 ms p99, tail only', {
    canary: { ...HEALTHY, latency: p99TailRegression(BASE_LATENCY, 0.1) },
  }),
  latencyTailRatio: scenario('+100 ms p99, tail only, ratio 1.3', {
    canary: { ...HEALTHY, latency: p99TailRegression(BASE_LATENCY, 0.1) },
    settings: { ...SIM_SETTINGS, maxLatencyRatio: 1.3 },
  }),
  aaRatio: scenario('A/A 100 req/s, ratio 1.3', { settings: { ...SIM_SETTINGS, maxLatencyRatio: 1.3 } }),
  allErrors: scenario('100% 5xx 100 req/s', { canary: { ...HEALTHY, errorRate: 1 } }),
  lowTraffic: scenario('A/A 1 req/s', { requestsPerSecond: 1 }),
} as const satisfies Record<string, Scenario>;
