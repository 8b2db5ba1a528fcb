import { describe, expect, it } from 'vitest';
import { runScenario, SCENARIOS } from './simulate.js';

// A smaller, seeded version of `make sim`: the statistical targets of the analysis, asserted.
// Fixed seeds make it deterministic; the margins hold over the 1000-run report too.
const RUNS = 300;

describe('judgement simulation (seeded)', () => {
  it('A/A at 100 req/s: false rollbacks < 1%', () => {
    const summary = runScenario(SCENARIOS.aa, RUNS, 11);
    expect(summary.rolledBack / RUNS).toBeLessThan(0.01);
    expect(summary.promoted / RUNS).toBeGreaterThan(0.99);
  });

  it('+2 pp error rate at 100 req/s: rolled back within 2 intervals in ≥ 95% of runs', () => {
    const summary = runScenario(SCENARIOS.errors, RUNS, 1_000_011, 2);
    expect(summary.rolledBackWithin / RUNS).toBeGreaterThanOrEqual(0.95);
  });

  it('+100 ms p99 at 100 req/s: rolled back within 2 intervals in ≥ 95% of runs', () => {
    const summary = runScenario(SCENARIOS.latency, RUNS, 2_000_011, 2);
    expect(summary.rolledBackWithin / RUNS).toBeGreaterThanOrEqual(0.95);
  });

  it('100% 5xx at 100 req/s: at 0% within 10 s in every run', () => {
    const summary = runScenario(SCENARIOS.allErrors, 100, 3_000_011);
    expect(summary.rollbackSeconds.filter((s) => s < 10)).toHaveLength(100);
    expect(summary.fastFails).toBe(100);
  });

  it('1 req/s: inconclusive until the progress deadline, never a false pass or fail verdict', () => {
    const summary = runScenario(SCENARIOS.lowTraffic, 100, 4_000_011, 10);
    expect(summary.runsWithFailVerdict).toBe(0);
    expect(summary.runsWithPassVerdict).toBe(0);
    expect(summary.deadlines).toBe(100);
  });
});
