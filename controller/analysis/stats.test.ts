import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  binomialUpperTail,
  conditionalBinomialTest,
  mannWhitneyBuckets,
  twoProportionZTest,
  upperTail,
} from './stats.js';

describe('normal tail', () => {
  it.each([
    [0, 0.5],
    [1.6448536269514722, 0.05],
    [2.3263478740408408, 0.01],
    [3.090232306167813, 0.001],
    [4.753424308822899, 1e-6],
    [6.361340902404056, 1e-10],
    [-1.6448536269514722, 0.95],
  ])('P(Z ≥ %f) = %f (relative error < 1e-5)', (z, p) => {
    expect(Math.abs(upperTail(z) - p) / p).toBeLessThan(1e-5);
  });
});

describe('two-proportion z-test', () => {
  it('matches the textbook statistic without continuity correction', () => {
    // 30/1000 vs 20/1000: pooled 0.025, se = sqrt(0.025·0.975·0.002) = 0.006982, z = 1.4322.
    const test = twoProportionZTest(30, 1000, 20, 1000, 0);
    expect(test?.z).toBeCloseTo(1.4322, 3);
    expect(test?.pValue).toBeCloseTo(0.07604, 4);
  });

  it('is one-sided: a better canary is never significant', () => {
    expect(twoProportionZTest(0, 500, 50, 5000)?.pValue).toBeGreaterThan(0.5);
  });

  it('says nothing without requests, and p = 1 without any error', () => {
    expect(twoProportionZTest(0, 0, 1, 10)).toBeNull();
    expect(twoProportionZTest(0, 100, 0, 100)).toEqual({ z: 0, pValue: 1 });
  });
});

describe('exact conditional binomial test', () => {
  it('sums the binomial tail', () => {
    // P(X ≥ 2), X ~ Bin(3, 0.5) = 4/8.
    expect(binomialUpperTail(2, 3, 0.5)).toBeCloseTo(0.5, 12);
    expect(binomialUpperTail(0, 3, 0.5)).toBe(1);
    expect(binomialUpperTail(4, 3, 0.5)).toBe(0);
    // All 3 errors on a canary taking 5% of requests: 0.05³.
    expect(conditionalBinomialTest(3, 50, 0, 950)).toBeCloseTo(1.25e-4, 8);
  });

  it('stays accurate far in the tail', () => {
    // P(X ≥ 100), X ~ Bin(100, 0.05) = 0.05^100 ≈ 7.9e-131.
    expect(binomialUpperTail(100, 100, 0.05)).toBeCloseTo(0.05 ** 100, 140);
  });

  it('is ~1 below the mean even where the first term underflows', () => {
    // P(X = 1) for Bin(5000, 0.5) is 5000 · 2^-5000: 0 in floating point; the tail is 1 - 2^-5000.
    expect(binomialUpperTail(1, 5000, 0.5)).toBe(1);
    // P(X ≥ 2500), X ~ Bin(5000, 0.5) = 1/2 + P(X = 2500)/2 ≈ 0.505641.
    expect(binomialUpperTail(2500, 5000, 0.5)).toBeCloseTo(0.505641, 5);
  });

  it('matches direct summation on both sides of the mean', () => {
    const choose = (n: number, r: number): number => {
      let c = 1;
      for (let i = 1; i <= r; i++) c = (c * (n - r + i)) / i;
      return c;
    };
    for (const [k, p] of [
      [20, 0.3],
      [40, 0.05],
      [7, 0.9],
    ] as const) {
      for (let x = 0; x <= k + 1; x++) {
        let direct = 0;
        for (let j = x; j <= k; j++) direct += choose(k, j) * p ** j * (1 - p) ** (k - j);
        expect(binomialUpperTail(x, k, p), `Bin(${k}, ${p}), x = ${x}`).toBeCloseTo(direct, 12);
      }
    }
  });
});

function bruteForceU(canary: readonly number[], stable: readonly number[]): number {
  // Pairwise: a canary request in a higher bucket than a stable one counts 1, same bucket 1/2.
  let u = 0;
  canary.forEach((c, i) => {
    stable.forEach((s, j) => {
      u += c * s * (i > j ? 1 : i === j ? 0.5 : 0);
    });
  });
  return u;
}

describe('Mann–Whitney U on buckets', () => {
  it('U equals the pairwise count with ties as halves', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(20), fc.nat(20)), { minLength: 1, maxLength: 8 }), (pairs) => {
        const canary = pairs.map(([c]) => c);
        const stable = pairs.map(([, s]) => s);
        const result = mannWhitneyBuckets(canary, stable);
        if (canary.every((c) => c === 0) || stable.every((s) => s === 0)) expect(result).toBeNull();
        else expect(result?.u).toBeCloseTo(bruteForceU(canary, stable), 6);
      }),
    );
  });

  it('detects a slower canary and not a faster one', () => {
    const stable = [400, 300, 200, 100, 0];
    const slower = [10, 20, 30, 30, 10];
    expect(mannWhitneyBuckets(slower, stable)?.pValue).toBeLessThan(1e-6);
    expect(mannWhitneyBuckets([40, 30, 20, 10, 0], stable)?.pValue).toBeGreaterThan(0.3);
    expect(mannWhitneyBuckets([100, 0, 0, 0, 0], stable)?.pValue).toBeGreaterThan(0.99);
  });

  it('uses the tie-corrected variance (all in one bucket: no evidence either way)', () => {
    expect(mannWhitneyBuckets([0, 50, 0], [0, 500, 0])).toMatchObject({ pValue: 1, effect: 0.5 });
  });
});
