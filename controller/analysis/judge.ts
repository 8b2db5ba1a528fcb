// Turns one window of per-track counts into a Verdict: absolute thresholds, canary-vs-stable
// statistical tests, the min-requests guard and fast fail. Pure; every number lands in the verdict.

import type { CheckOperator, CustomCheck, RolloutSettings } from '../../api/annotations.js';
import type { CheckOutcome, CheckResult, TrackStats, Verdict } from '../../api/canary.js';
import { bucketCounts, histogramQuantile, onSharedBounds } from './histogram.js';
import { conditionalBinomialTest, mannWhitneyBuckets, twoProportionZTest } from './stats.js';
import type { Bucket, TrackCounts } from './window.js';

/** A custom check's query result for the window: null when the query returned nothing or NaN. */
export interface CustomValue {
  readonly check: CustomCheck;
  readonly value: number | null;
  /** Why there is no value (query error), for the message. */
  readonly error?: string;
}

/** What a provider measured over one window. */
export interface Measurement {
  readonly canary: TrackCounts;
  readonly stable: TrackCounts;
  readonly custom: readonly CustomValue[];
}

/**
 * Tuning of the judges. The defaults were chosen with `make sim` (see docs/analysis.md): α = 0.01
 * for both tests keeps the A/A false-rollback rate well under 1 % across a whole rollout (a
 * rollback needs max-failed-checks failures), fast fail at p < 1e-6 stays silent on healthy
 * canaries even though it is looked at every few seconds.
 */
export interface JudgeOptions {
  /** α of the one-sided error-rate z-test. */
  readonly errorRateAlpha: number;
  /** α of the one-sided Mann–Whitney latency test. */
  readonly latencyAlpha: number;
  /**
   * Least effect size U/(n1·n2) for a latency failure: with thousands of requests a 1 ms shift is
   * "significant"; 0.56 is a small effect (Vargha–Delaney), below that a canary is not worse in
   * any way a user would notice.
   */
  readonly minLatencyEffect: number;
  /**
   * Least slowdown, in seconds, of the canary at its median, p75 or p90 for a latency failure. The
   * two tracks' routers do different work (the smaller track's router forwards most of what it
   * receives), so on a fast app the canary can measure a fraction of a millisecond slower with
   * overwhelming significance and a large effect size; no user notices that. Regressions bigger
   * than this, and tail latency through p99-latency / max-latency-ratio, still fail.
   */
  readonly minLatencyShiftSeconds: number;
  /** Errors taken off the canary side of the z-test (continuity correction). */
  readonly continuity: number;
  readonly fastFailErrorRate: number;
  readonly fastFailMinRequests: number;
  readonly fastFailPValue: number;
}

export const DEFAULT_JUDGE_OPTIONS: JudgeOptions = Object.freeze({
  errorRateAlpha: 0.01,
  latencyAlpha: 0.01,
  minLatencyEffect: 0.56,
  minLatencyShiftSeconds: 0.005,
  continuity: 0.25,
  fastFailErrorRate: 0.5,
  fastFailMinRequests: 10,
  fastFailPValue: 1e-6,
});

export interface VerdictContext {
  readonly at: Date;
  readonly step: number;
  readonly weight: number;
}

const percent = (value: number): string => `${(value * 100).toFixed(2)}%`;
const ms = (seconds: number): string => `${(seconds * 1000).toFixed(1)}ms`;
const pText = (p: number): string => (p < 1e-4 ? p.toExponential(1) : p.toFixed(4));

function check(
  name: string,
  outcome: CheckOutcome,
  value: number | null,
  threshold: number | null,
  message: string,
  pValue?: number,
): CheckResult {
  return pValue === undefined
    ? { name, outcome, value, threshold, message }
    : { name, outcome, value, threshold, pValue, message };
}

export function trackStats(counts: TrackCounts): TrackStats {
  return {
    requests: counts.requests,
    errors: counts.errors,
    successRate: counts.requests > 0 ? 1 - counts.errors / counts.requests : null,
    p50Seconds: histogramQuantile(0.5, counts.buckets),
    p99Seconds: histogramQuantile(0.99, counts.buckets),
  };
}

/** Null when `track` has enough requests, else the inconclusive reason. */
function tooFew(track: string, counts: TrackCounts, minRequests: number): string | null {
  return counts.requests < minRequests
    ? `${track} ${counts.requests} requests < min-requests ${minRequests}`
    : null;
}

/** Null when both tracks have enough requests for a comparison, else the first reason. */
function tooFewEither(canary: TrackCounts, stable: TrackCounts, minRequests: number): string | null {
  return tooFew('canary', canary, minRequests) ?? tooFew('stable', stable, minRequests);
}

const OPERATORS: { readonly [O in CheckOperator]: (a: number, b: number) => boolean } = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '==': (a, b) => a === b,
  '!=': (a, b) => a !== b,
};

function customCheck({ check: custom, value, error }: CustomValue): CheckResult {
  const name = `check.${custom.name}`;
  const rule = `${custom.operator} ${custom.threshold}`;
  // NaN or no series is never a pass: the check could not be evaluated.
  if (value === null || Number.isNaN(value)) {
    return check(
      name,
      'inconclusive',
      null,
      custom.threshold,
      `${name}: no value${error ? ` (${error})` : ''}; need ${rule}`,
    );
  }
  const ok = OPERATORS[custom.operator](value, custom.threshold);
  return check(
    name,
    ok ? 'pass' : 'fail',
    value,
    custom.threshold,
    `${name}: ${value} ${ok ? 'meets' : 'violates'} ${rule}`,
  );
}

function successRateCheck(canary: TrackCounts, settings: RolloutSettings): CheckResult {
  // min-requests 0 waives the guard, but a rate over no requests is not a number: still no verdict.
  const few =
    tooFew('canary', canary, settings.minRequests) ?? (canary.requests > 0 ? null : 'canary has no requests');
  if (few) return check('success-rate', 'inconclusive', null, settings.successRate, few);
  const rate = 1 - canary.errors / canary.requests;
  const ok = rate >= settings.successRate;
  return check(
    'success-rate',
    ok ? 'pass' : 'fail',
    rate,
    settings.successRate,
    `canary success ${percent(rate)} ${ok ? '≥' : '<'} ${percent(settings.successRate)} over ${canary.requests} requests`,
  );
}

function p99Check(canary: TrackCounts, limitMs: number, minRequests: number): CheckResult {
  const limit = limitMs / 1000;
  const few = tooFew('canary', canary, minRequests);
  const p99 = histogramQuantile(0.99, canary.buckets);
  if (few || p99 === null)
    return check('p99-latency', 'inconclusive', p99, limit, few ?? 'canary has no latency histogram');
  const ok = p99 <= limit;
  return check(
    'p99-latency',
    ok ? 'pass' : 'fail',
    p99,
    limit,
    `canary p99 ${ms(p99)} ${ok ? '≤' : '>'} ${ms(limit)}`,
  );
}

function ratioCheck(
  canary: TrackCounts,
  stable: TrackCounts,
  shared: SharedLatency,
  maxRatio: number,
  minRequests: number,
): CheckResult {
  const few = tooFew('canary', canary, minRequests) ?? tooFew('stable', stable, minRequests);
  const canaryP99 = histogramQuantile(0.99, shared.canary);
  const stableP99 = histogramQuantile(0.99, shared.stable);
  if (few || canaryP99 === null || stableP99 === null || stableP99 <= 0) {
    const why = few ?? shared.unusable ?? 'no latency histogram to compare';
    return check('latency-ratio', 'inconclusive', null, maxRatio, why);
  }
  const ratio = canaryP99 / stableP99;
  const ok = ratio <= maxRatio;
  return check(
    'latency-ratio',
    ok ? 'pass' : 'fail',
    ratio,
    maxRatio,
    `canary p99 ${ms(canaryP99)} / stable p99 ${ms(stableP99)} = ${ratio.toFixed(2)} ${ok ? '≤' : '>'} ${maxRatio}${shared.note}`,
  );
}

function zTestCheck(
  canary: TrackCounts,
  stable: TrackCounts,
  settings: RolloutSettings,
  options: JudgeOptions,
): CheckResult {
  const alpha = options.errorRateAlpha;
  const few = tooFewEither(canary, stable, settings.minRequests);
  const test = twoProportionZTest(
    canary.errors,
    canary.requests,
    stable.errors,
    stable.requests,
    options.continuity,
  );
  if (few || test === null)
    return check('error-rate-z-test', 'inconclusive', null, alpha, few ?? 'no requests');
  const worse = test.pValue < alpha;
  return check(
    'error-rate-z-test',
    worse ? 'fail' : 'pass',
    test.pValue,
    alpha,
    `canary errors ${percent(canary.errors / canary.requests)} vs stable ${percent(stable.errors / stable.requests)}: z ${test.z.toFixed(2)}, p ${pText(test.pValue)} ${worse ? '<' : '≥'} α ${alpha}`,
    test.pValue,
  );
}

/** Canary and stable latency histograms on the bucket bounds both have. */
interface SharedLatency {
  readonly canary: readonly Bucket[];
  readonly stable: readonly Bucket[];
  /** Why the two cannot be compared, or null when they can. */
  readonly unusable: string | null;
  /** Appended to a comparison's message when bounds only one side has were merged away. */
  readonly note: string;
}

/**
 * Routers of different versions may bucket latency differently; comparing each track at its own
 * resolution would read the same latencies as different quantiles, so both are read on the
 * bounds they share (exact for cumulative buckets, see onSharedBounds).
 */
function sharedLatency(canary: TrackCounts, stable: TrackCounts): SharedLatency {
  const [c = [], s = []] = onSharedBounds([canary.buckets, stable.buckets]);
  const merged = c.length < canary.buckets.length || s.length < stable.buckets.length;
  const usable = c.length >= 2 && c.at(-1)?.le === Number.POSITIVE_INFINITY;
  return {
    canary: c,
    stable: s,
    unusable: usable
      ? null
      : merged && c.length + s.length > 0
        ? 'canary and stable latency histograms share no bucket bound but +Inf (routers of different versions?)'
        : 'no comparable latency histograms',
    note: merged && usable ? `; on the ${c.length} bucket bounds canary and stable share` : '',
  };
}

const SHIFT_QUANTILES = [0.5, 0.75, 0.9] as const;

/** The most the canary is slower than stable at the median, p75 or p90 (seconds; 0 when faster). */
function latencyShift(canary: readonly Bucket[], stable: readonly Bucket[]): number {
  let shift = 0;
  for (const q of SHIFT_QUANTILES) {
    const c = histogramQuantile(q, canary);
    const s = histogramQuantile(q, stable);
    if (c !== null && s !== null) shift = Math.max(shift, c - s);
  }
  return shift;
}

function mannWhitneyCheck(
  canary: TrackCounts,
  stable: TrackCounts,
  shared: SharedLatency,
  settings: RolloutSettings,
  options: JudgeOptions,
): CheckResult {
  const alpha = options.latencyAlpha;
  const few = tooFewEither(canary, stable, settings.minRequests);
  const test =
    shared.unusable === null
      ? mannWhitneyBuckets(bucketCounts(shared.canary), bucketCounts(shared.stable))
      : null;
  if (few || !test) {
    const why = few ?? shared.unusable ?? 'no comparable latency histograms';
    return check('latency-mann-whitney', 'inconclusive', null, alpha, why);
  }
  const significant = test.pValue < alpha;
  const shift = latencyShift(shared.canary, shared.stable);
  const large = test.effect >= options.minLatencyEffect;
  const noticeable = shift >= options.minLatencyShiftSeconds;
  const worse = significant && large && noticeable;
  const verdict = worse
    ? ` < α ${alpha}`
    : !significant
      ? ` ≥ α ${alpha}`
      : !large
        ? ` (effect < ${options.minLatencyEffect})`
        : ` (shift ${ms(shift)} < ${ms(options.minLatencyShiftSeconds)})`;
  return check(
    'latency-mann-whitney',
    worse ? 'fail' : 'pass',
    test.pValue,
    alpha,
    `canary slower than stable in ${percent(test.effect)} of pairs: z ${test.z.toFixed(2)}, p ${pText(test.pValue)}${verdict}${shared.note}`,
    test.pValue,
  );
}

/** Overwhelming evidence of a bad canary, or null: judged on any amount of data ≥ fastFailMinRequests. */
function fastFailCheck(canary: TrackCounts, stable: TrackCounts, options: JudgeOptions): CheckResult | null {
  if (canary.requests < options.fastFailMinRequests) return null;
  const rate = canary.errors / canary.requests;
  if (rate >= options.fastFailErrorRate) {
    return check(
      'fast-fail',
      'fail',
      rate,
      options.fastFailErrorRate,
      `canary error rate ${percent(rate)} ≥ ${percent(options.fastFailErrorRate)} over ${canary.requests} requests`,
    );
  }
  const test = twoProportionZTest(
    canary.errors,
    canary.requests,
    stable.errors,
    stable.requests,
    options.continuity,
  );
  // The z-test's normal tail is far too small at a handful of errors; the exact conditional test
  // must agree before a few unlucky errors can end a rollout without waiting for the interval.
  const exact = conditionalBinomialTest(canary.errors, canary.requests, stable.errors, stable.requests);
  if (test === null || exact === null) return null;
  const pValue = Math.max(test.pValue, exact);
  if (pValue >= options.fastFailPValue) return null;
  return check(
    'fast-fail',
    'fail',
    pValue,
    options.fastFailPValue,
    `canary errors ${percent(rate)} vs stable ${percent(stable.errors / stable.requests)}: z-test p ${pText(test.pValue)}, exact p ${pText(exact)} < ${options.fastFailPValue}`,
    pValue,
  );
}

const SEVERITY: { readonly [O in CheckOutcome]: number } = { pass: 0, inconclusive: 1, fail: 2 };

/** The verdict of one window. Any fail → fail; else any inconclusive → inconclusive; else pass. */
export function judge(
  measurement: Measurement,
  settings: RolloutSettings,
  context: VerdictContext,
  options: JudgeOptions = DEFAULT_JUDGE_OPTIONS,
): Verdict {
  const { canary, stable } = measurement;
  const shared = sharedLatency(canary, stable);
  const checks: CheckResult[] = [successRateCheck(canary, settings)];
  if (settings.p99LatencyMs !== null)
    checks.push(p99Check(canary, settings.p99LatencyMs, settings.minRequests));
  if (settings.maxLatencyRatio !== null) {
    checks.push(ratioCheck(canary, stable, shared, settings.maxLatencyRatio, settings.minRequests));
  }
  checks.push(
    zTestCheck(canary, stable, settings, options),
    mannWhitneyCheck(canary, stable, shared, settings, options),
  );
  checks.push(...measurement.custom.map(customCheck));
  const fastFail = fastFailCheck(canary, stable, options);
  if (fastFail) checks.unshift(fastFail);
  const outcome = checks.reduce<CheckOutcome>(
    (worst, result) => (SEVERITY[result.outcome] > SEVERITY[worst] ? result.outcome : worst),
    'pass',
  );
  return {
    at: context.at.toISOString(),
    step: context.step,
    weight: context.weight,
    outcome,
    fastFail: fastFail !== null,
    checks,
    canary: trackStats(canary),
    stable: trackStats(stable),
  };
}
