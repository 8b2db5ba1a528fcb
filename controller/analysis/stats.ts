// The statistics behind the judges: normal tail probabilities, a one-sided two-proportion z-test
// and a tie-corrected Mann–Whitney U on histogram buckets. Pure numbers in, numbers out.

/**
 * erfc with fractional error below 1.2e-7 everywhere (Numerical Recipes `erfcc`, a Chebyshev
 * fit). Relative accuracy in the far tail matters: fast fail compares p-values with 1e-6.
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** P(Z ≥ z) for a standard normal Z. */
export function upperTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

export interface TestResult {
  /** The standardised statistic (positive = canary worse). */
  readonly z: number;
  /** One-sided p-value: the chance of a canary at least this much worse if it were as good. */
  readonly pValue: number;
}

/**
 * H1: the canary's error rate is higher than stable's. Pooled two-proportion z-test, one-sided,
 * with a continuity correction of `continuity` errors taken off the canary side: without it one
 * or two errors among a few hundred canary requests against a near-zero stable rate look
 * significant (the normal approximation is anti-conservative at small counts).
 */
export function twoProportionZTest(
  canaryErrors: number,
  canaryRequests: number,
  stableErrors: number,
  stableRequests: number,
  continuity = 0.5,
): TestResult | null {
  if (canaryRequests <= 0 || stableRequests <= 0) return null;
  const pooled = (canaryErrors + stableErrors) / (canaryRequests + stableRequests);
  const variance = pooled * (1 - pooled) * (1 / canaryRequests + 1 / stableRequests);
  // No errors anywhere (or nothing but errors): the rates cannot differ.
  if (!(variance > 0)) return { z: 0, pValue: 1 };
  const difference = Math.max(0, canaryErrors - continuity) / canaryRequests - stableErrors / stableRequests;
  const z = difference / Math.sqrt(variance);
  return { z, pValue: upperTail(z) };
}

export interface MannWhitneyResult extends TestResult {
  /** U of the canary sample. */
  readonly u: number;
  /** U / (n1·n2): the chance a canary request is slower than a stable one (ties count half). */
  readonly effect: number;
}

/**
 * H1: canary latencies tend to be larger. Each histogram bucket is one group of ties (we only know
 * which bucket a request fell in), so ranks are mid-ranks per bucket and the variance carries the
 * tie correction; normal approximation with continuity correction.
 */
export function mannWhitneyBuckets(
  canary: readonly number[],
  stable: readonly number[],
): MannWhitneyResult | null {
  const n1 = canary.reduce((a, b) => a + b, 0);
  const n2 = stable.reduce((a, b) => a + b, 0);
  if (n1 <= 0 || n2 <= 0 || canary.length !== stable.length) return null;
  const n = n1 + n2;
  let below = 0;
  let rankSum = 0;
  let tieTerm = 0;
  for (let i = 0; i < canary.length; i++) {
    const c = canary[i] ?? 0;
    const t = c + (stable[i] ?? 0);
    rankSum += c * (below + (t + 1) / 2);
    tieTerm += t * t * t - t;
    below += t;
  }
  const u = rankSum - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  const effect = u / (n1 * n2);
  if (!(variance > 0)) return { z: 0, pValue: 1, u, effect };
  const z = (u - mean - 0.5) / Math.sqrt(variance);
  return { z, pValue: upperTail(z), u, effect };
}

/**
 * P(X ≥ x) for X ~ Binomial(k, p). Whichever tail lies away from the mean is summed, starting from
 * its first term in log space and walking outwards: its terms only shrink, so tiny tails stay
 * accurate, and a first term that underflows means that tail really is negligible.
 */
export function binomialUpperTail(x: number, k: number, p: number): number {
  if (x <= 0) return 1;
  if (x > k) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  if (x > k * p) return Math.min(1, binomialTailFrom(x, k, p, 1));
  return Math.max(0, 1 - binomialTailFrom(x - 1, k, p, -1));
}

/** P(X = from) + P(X = from + step) + … (step ±1) until the terms no longer change the sum. */
function binomialTailFrom(from: number, k: number, p: number, step: 1 | -1): number {
  let logTerm = from * Math.log(p) + (k - from) * Math.log1p(-p);
  for (let i = 1; i <= from; i++) logTerm += Math.log((k - from + i) / i);
  let term = Math.exp(logTerm);
  let sum = 0;
  const odds = p / (1 - p);
  for (let j = from; j >= 0 && j <= k; j += step) {
    sum += term;
    term *= step === 1 ? ((k - j) / (j + 1)) * odds : j / (k - j + 1) / odds;
    if (term <= sum * 1e-16) break;
  }
  return sum;
}

/**
 * Exact one-sided test of "canary errors are more frequent": given the errors both tracks saw
 * together, how likely is it that at least this many landed on the canary if each error picked a
 * track in proportion to its requests. Exact at any count, where the z-test is not.
 */
export function conditionalBinomialTest(
  canaryErrors: number,
  canaryRequests: number,
  stableErrors: number,
  stableRequests: number,
): number | null {
  if (canaryRequests <= 0 || stableRequests <= 0) return null;
  const errors = Math.round(canaryErrors + stableErrors);
  return binomialUpperTail(
    Math.round(canaryErrors),
    errors,
    canaryRequests / (canaryRequests + stableRequests),
  );
}
