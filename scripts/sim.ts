// `make sim`: runs the judgement simulator over ≥ 1000 seeded runs per scenario and prints the
// report table. Args: --runs N (default 1000), --seed S (default 1). Exit 1 when a target is missed.

import { type ScenarioSummary, runScenario, SCENARIOS } from '../controller/analysis/simulate.js';

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`${name}: expected a positive integer, got ${process.argv[index + 1]}\n`);
    process.exit(2);
  }
  return value;
}

const runs = flag('--runs', 1000);
const seed = flag('--seed', 1);
const pct = (n: number, of: number): string => `${((100 * n) / of).toFixed(1)}%`;

interface Row {
  readonly summary: ScenarioSummary;
  readonly metric: string;
  readonly value: number;
  readonly target: string;
  readonly ok: boolean;
}

const started = process.hrtime.bigint();
const aa = runScenario(SCENARIOS.aa, runs, seed);
const errors = runScenario(SCENARIOS.errors, runs, seed + 1_000_000, 2);
const latency = runScenario(SCENARIOS.latency, runs, seed + 2_000_000, 2);
const allErrors = runScenario(SCENARIOS.allErrors, runs, seed + 3_000_000, 2);
const low = runScenario(SCENARIOS.lowTraffic, runs, seed + 4_000_000, 10);
const tail = runScenario(SCENARIOS.latencyTail, runs, seed + 5_000_000, 2);
const tailRatio = runScenario(SCENARIOS.latencyTailRatio, runs, seed + 6_000_000, 2);
const aaRatio = runScenario(SCENARIOS.aaRatio, runs, seed + 7_000_000, 2);

const rows: Row[] = [
  {
    summary: aa,
    metric: 'false rollback',
    value: aa.rolledBack / runs,
    target: '< 1%',
    ok: aa.rolledBack / runs < 0.01,
  },
  {
    summary: errors,
    metric: 'rolled back ≤ 2 intervals',
    value: errors.rolledBackWithin / runs,
    target: '≥ 95%',
    ok: errors.rolledBackWithin / runs >= 0.95,
  },
  {
    summary: latency,
    metric: 'rolled back ≤ 2 intervals',
    value: latency.rolledBackWithin / runs,
    target: '≥ 95%',
    ok: latency.rolledBackWithin / runs >= 0.95,
  },
  {
    summary: tail,
    metric: 'rolled back (any time)',
    value: tail.rolledBack / runs,
    target: 'report',
    ok: true,
  },
  {
    summary: tailRatio,
    metric: 'rolled back (any time)',
    value: tailRatio.rolledBack / runs,
    target: 'report',
    ok: true,
  },
  {
    summary: aaRatio,
    metric: 'false rollback',
    value: aaRatio.rolledBack / runs,
    target: '< 1%',
    ok: aaRatio.rolledBack / runs < 0.01,
  },
  {
    summary: allErrors,
    metric: 'at 0% in < 10 s',
    value: allErrors.rollbackSeconds.filter((seconds) => seconds < 10).length / runs,
    target: '100%',
    ok: allErrors.rollbackSeconds.filter((seconds) => seconds < 10).length === runs,
  },
  {
    summary: low,
    metric: 'false fail/pass verdict',
    value: (low.runsWithFailVerdict + low.runsWithPassVerdict) / runs,
    target: '0%',
    ok: low.runsWithFailVerdict + low.runsWithPassVerdict === 0,
  },
];

const header = [
  'scenario',
  'runs',
  'promoted',
  'rolled back',
  'fast fail',
  'deadline',
  'median s',
  'metric',
  'value',
  'target',
  '',
];
const table = rows.map(({ summary, metric, value, target, ok }) => [
  summary.name,
  String(summary.runs),
  pct(summary.promoted, summary.runs),
  pct(summary.rolledBack, summary.runs),
  pct(summary.fastFails, summary.runs),
  pct(summary.deadlines, summary.runs),
  summary.medianRollbackSeconds === null ? '-' : String(summary.medianRollbackSeconds),
  metric,
  `${(value * 100).toFixed(1)}%`,
  target,
  ok ? 'ok' : 'MISSED',
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => (row[i] ?? '').length)));
const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
process.stdout.write(`${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
for (const row of table) process.stdout.write(`${line(row)}\n`);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(
  `\nseed ${seed}, ${runs} runs per scenario, ${seconds.toFixed(1)} s. Default settings (steps 5,25,50, interval 60 s,\n` +
    `2 failed checks, min-requests 50); stable: 0.1% errors, log-normal latency median 50 ms (p99 ≈ 160 ms);\n` +
    `analysis every 5 s; "median s" = seconds from the canary's first traffic to the 0% publish.\n`,
);
process.exit(rows.every((row) => row.ok) ? 0 : 1);
