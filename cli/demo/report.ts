// The end of a demo run: the outcome, why (the deciding verdict with its numbers), time taken,
// requests per version and client failures — as one screen of text, as JSON and as one
// self-contained HTML page with inline SVG charts of weight and error rate over time.

import type { Phase, Verdict } from '../../api/canary.js';
import type { RolloutEventView } from '../../controller/api.js';
import { formatVerdict } from '../operate.js';
import type { ClientCounts } from './load.js';
import type { Point, VersionTotals } from './sampler.js';
import type { Outcome, ScenarioName } from './scenarios.js';

export type RunOutcome = Outcome | 'TIMED OUT';

export interface DemoReport {
  readonly scenario: ScenarioName;
  readonly description: string;
  readonly expected: Outcome;
  readonly outcome: RunOutcome;
  readonly matchesExpectation: boolean;
  /** One line: the deciding check with its numbers. */
  readonly reason: string;
  readonly decidingVerdict: Verdict | null;
  readonly startedAt: string;
  /** Seconds from announcing v2 to the final phase. */
  readonly rolloutSeconds: number;
  /** Seconds of the whole run, start-up included. */
  readonly totalSeconds: number;
  readonly rollout: {
    readonly phase: Phase;
    readonly weight: number;
    readonly steps: readonly number[];
    readonly strategy: string;
    readonly interval: string;
    readonly message: string;
  };
  /** What each version's router served (its own metrics), from the first request to the end. */
  readonly served: { readonly v1: VersionTotals; readonly v2: VersionTotals };
  /** What the clients saw: the main load and the tester (`X-Canary: always`). */
  readonly clients: { readonly load: ClientCounts; readonly tester: ClientCounts };
  readonly verdicts: readonly Verdict[];
  readonly events: readonly RolloutEventView[];
  readonly timeline: readonly Point[];
}

/** Why the rollout ended as it did, from the verdicts and the final status message. */
export function decide(
  phase: Phase,
  verdicts: readonly Verdict[],
  message: string,
): { reason: string; verdict: Verdict | null } {
  if (phase === 'Failed' || phase === 'RollingBack') {
    const failed = [...verdicts].reverse().find((verdict) => verdict.outcome === 'fail');
    if (!failed) return { reason: message, verdict: null };
    const checks = failed.checks.filter((check) => check.outcome === 'fail');
    const why = checks.map((check) => `${check.name}: ${check.message}`).join('; ');
    return {
      reason: `${failed.fastFail ? 'fast fail' : 'failed analysis'} at step ${failed.step + 1} (${failed.weight}%) — ${why || formatVerdict(failed)}`,
      verdict: failed,
    };
  }
  const passed = verdicts.filter((verdict) => verdict.outcome === 'pass');
  const last = passed[passed.length - 1] ?? null;
  if (phase === 'Succeeded') {
    return {
      reason: `${passed.length} of ${verdicts.length} analyses passed; last: ${formatVerdict(last ?? undefined)}`,
      verdict: last,
    };
  }
  return { reason: `rollout still ${phase}: ${message}`, verdict: last };
}

function ratio(part: number, whole: number): string {
  return whole === 0 ? '-' : `${((part / whole) * 100).toFixed(1)}%`;
}

function okShare(totals: VersionTotals): string {
  return totals.requests === 0 ? 'none' : `${ratio(totals.requests - totals.errors, totals.requests)} ok`;
}

/** `canary, steps 10,50 every 3s`; A/B and blue-green have analysis periods, not weight steps. */
export function pacing(report: Pick<DemoReport, 'rollout'>): string {
  const { strategy, steps, interval } = report.rollout;
  return strategy === 'canary'
    ? `canary, steps ${steps.join(',')} every ${interval}`
    : `${strategy}, ${steps.length} analysis periods of ${interval}`;
}

/** Where the rollout left the traffic. */
export function ending(report: Pick<DemoReport, 'rollout'>): string {
  const { phase, weight } = report.rollout;
  if (phase === 'Succeeded') return 'v2 is now the stable version and serves 100 %';
  if (phase === 'Failed') return 'canary back to 0 %, v1 serves everyone';
  return `still ${phase} with the canary at ${weight} %`;
}

/** The one-screen text report (no colour: it is also what CI logs keep). */
export function reportText(report: DemoReport, paths: { json: string; html: string } | null): string {
  const clients = report.clients;
  const seen = clients.load.sent + clients.tester.sent;
  const failed = clients.load.failed + clients.tester.failed;
  const mark = report.matchesExpectation ? 'as expected' : `EXPECTED ${report.expected}`;
  const lines = [
    '',
    '════════════════════════════════════════════════════════════════════════',
    `  ${report.outcome}   scenario ${report.scenario} (${mark})`,
    `  why:      ${report.reason}`,
    `  time:     ${report.rolloutSeconds.toFixed(1)}s from announcing v2 to ${report.rollout.phase} (${report.totalSeconds.toFixed(1)}s in all)`,
    `  rollout:  ${pacing(report)}; ${ending(report)}`,
    `  served:   v1 ${report.served.v1.requests} requests (${okShare(report.served.v1)}), v2 ${report.served.v2.requests} requests (${okShare(report.served.v2)})`,
    `  clients:  ${seen} requests, ${failed} failed (${ratio(failed, seen)}); tester (X-Canary: always) ${clients.tester.byVersion.v2 ?? 0} of ${clients.tester.sent} answered by v2`,
  ];
  if (clients.load.shed + clients.tester.shed > 0) {
    lines.push(
      `  note:     ${clients.load.shed + clients.tester.shed} requests skipped by the load generator (too many still in flight: the machine was busy)`,
    );
  }
  if (paths) {
    lines.push(`  report:   ${paths.json}`, `            ${paths.html}`);
  }
  lines.push('════════════════════════════════════════════════════════════════════════', '');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// HTML

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

export interface Series {
  readonly name: string;
  readonly colour: string;
  /** [x, y]; y null = gap. */
  readonly points: readonly (readonly [number, number | null])[];
  /** Draw as steps (weights) instead of straight segments. */
  readonly step?: boolean;
}

/** A small line chart as inline SVG: axes, grid, one path per series, a legend. */
export function lineChart(title: string, unit: string, series: readonly Series[], yMax: number): string {
  const width = 720;
  const height = 220;
  const left = 48;
  const right = 12;
  const top = 28;
  const bottom = 30;
  const xs = series.flatMap((s) => s.points.map(([x]) => x));
  const xMax = Math.max(1, ...xs);
  const x = (value: number): number => left + (value / xMax) * (width - left - right);
  const y = (value: number): number => top + (1 - Math.min(value, yMax) / yMax) * (height - top - bottom);
  const grid: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const value = (yMax / 4) * i;
    grid.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" stroke="#eaeef2"/>`,
      `<text x="${left - 6}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end">${Number(value.toFixed(1))}${unit}</text>`,
    );
  }
  for (let i = 0; i <= 5; i++) {
    const value = (xMax / 5) * i;
    grid.push(
      `<text x="${x(value).toFixed(1)}" y="${height - 10}" text-anchor="middle">${value.toFixed(xMax < 10 ? 1 : 0)}s</text>`,
    );
  }
  const paths = series.map((s) => {
    let d = '';
    let pen = false;
    let previousY: number | null = null;
    for (const [px, py] of s.points) {
      if (py === null) {
        pen = false;
        continue;
      }
      if (!pen) d += `M${x(px).toFixed(1)},${y(py).toFixed(1)}`;
      else if (s.step && previousY !== null) d += `H${x(px).toFixed(1)}V${y(py).toFixed(1)}`;
      else d += `L${x(px).toFixed(1)},${y(py).toFixed(1)}`;
      pen = true;
      previousY = py;
    }
    return `<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="2"/>`;
  });
  const legend = series.map(
    (s, i) =>
      `<rect x="${left + 8 + i * 150}" y="8" width="12" height="4" fill="${s.colour}"/><text x="${left + 24 + i * 150}" y="14">${escapeHtml(s.name)}</text>`,
  );
  return [
    `<figure><figcaption>${escapeHtml(title)}</figcaption>`,
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="system-ui, sans-serif" font-size="11" fill="#57606a" role="img" aria-label="${escapeHtml(title)}">`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${height - bottom}" stroke="#8c959f"/>`,
    ...grid,
    ...paths,
    ...legend,
    '</svg></figure>',
  ].join('\n');
}

function errorPercent(rate: { successRate: number | null }): number | null {
  return rate.successRate === null ? null : (1 - rate.successRate) * 100;
}

export function reportHtml(report: DemoReport): string {
  const t = report.timeline;
  const weight = lineChart(
    'v2 share of live traffic over time (canary weight; 100 % once promoted)',
    '%',
    [{ name: 'v2 share', colour: '#0969da', step: true, points: t.map((p) => [p.t, p.v2Percent]) }],
    100,
  );
  const maxError = Math.max(4, ...t.flatMap((p) => [errorPercent(p.v1) ?? 0, errorPercent(p.v2) ?? 0]));
  const errors = lineChart(
    'Error rate per version (5xx and failed requests, measured by each version’s router)',
    '%',
    [
      { name: 'v1 (stable)', colour: '#1a7f37', points: t.map((p) => [p.t, errorPercent(p.v1)]) },
      { name: 'v2 (canary)', colour: '#cf222e', points: t.map((p) => [p.t, errorPercent(p.v2)]) },
    ],
    // Multiples of 4 so the four grid lines fall on whole numbers.
    Math.ceil(maxError / 4) * 4,
  );
  const maxRps = Math.max(10, ...t.flatMap((p) => [p.v1.rps, p.v2.rps]));
  const rates = lineChart(
    'Requests per second per version',
    '',
    [
      { name: 'v1 (stable)', colour: '#1a7f37', points: t.map((p) => [p.t, p.v1.rps]) },
      { name: 'v2 (canary)', colour: '#cf222e', points: t.map((p) => [p.t, p.v2.rps]) },
    ],
    Math.ceil(maxRps / 100) * 100,
  );
  const good = report.matchesExpectation;
  const verdictRows = report.verdicts
    .map(
      (v) =>
        `<tr><td>${escapeHtml(v.at.slice(11, 19))}</td><td>${v.step + 1}</td><td>${v.weight}%</td><td class="${v.outcome}">${v.outcome}${v.fastFail ? ' (fast)' : ''}</td><td>${escapeHtml(
          v.checks.map((c) => `${c.name} ${c.outcome}: ${c.message}`).join(' · '),
        )}</td></tr>`,
    )
    .join('\n');
  const eventRows = report.events
    .map(
      (e) =>
        `<tr><td>${escapeHtml(e.at.slice(11, 19))}</td><td>${escapeHtml(e.type)}</td><td>${escapeHtml(e.reason)}</td><td>${escapeHtml(e.message)}</td></tr>`,
    )
    .join('\n');
  const clients = report.clients;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>switchyard demo — ${escapeHtml(report.scenario)}: ${escapeHtml(report.outcome)}</title>
<style>
  body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 800px; color: #1f2328; }
  h1 { font-size: 22px; margin-bottom: 4px; }
  .outcome { font-weight: 700; color: ${report.outcome === 'PROMOTED' ? '#1a7f37' : '#cf222e'}; }
  .muted { color: #57606a; }
  figure { margin: 16px 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; }
  td, th { text-align: left; padding: 3px 8px 3px 0; border-bottom: 1px solid #eaeef2; vertical-align: top; }
  .pass { color: #1a7f37; } .fail { color: #cf222e; } .inconclusive { color: #9a6700; }
</style>
</head>
<body>
<h1>switchyard demo: <span class="outcome">${escapeHtml(report.outcome)}</span></h1>
<p class="muted">scenario <b>${escapeHtml(report.scenario)}</b> — ${escapeHtml(report.description)}; ${good ? 'outcome as expected' : `expected ${escapeHtml(report.expected)}`}. Started ${escapeHtml(report.startedAt)}.</p>
<table>
<tr><th>why</th><td>${escapeHtml(report.reason)}</td></tr>
<tr><th>time</th><td>${report.rolloutSeconds.toFixed(1)} s from announcing v2 to ${escapeHtml(report.rollout.phase)} (${report.totalSeconds.toFixed(1)} s in all)</td></tr>
<tr><th>rollout</th><td>${escapeHtml(pacing(report))}; ${escapeHtml(ending(report))}</td></tr>
<tr><th>message</th><td>${escapeHtml(report.rollout.message)}</td></tr>
<tr><th>served</th><td>v1 ${report.served.v1.requests} requests (${report.served.v1.errors} errors) · v2 ${report.served.v2.requests} requests (${report.served.v2.errors} errors)</td></tr>
<tr><th>clients</th><td>${clients.load.sent + clients.tester.sent} requests, ${clients.load.failed + clients.tester.failed} failed (5xx ${clients.load.serverErrors + clients.tester.serverErrors}, no answer ${clients.load.networkErrors + clients.tester.networkErrors})</td></tr>
</table>
${weight}
${errors}
${rates}
<h2>Verdicts</h2>
<table><tr><th>time</th><th>step</th><th>weight</th><th>outcome</th><th>checks</th></tr>
${verdictRows}
</table>
<h2>Events</h2>
<table><tr><th>time</th><th>type</th><th>reason</th><th>message</th></tr>
${eventRows}
</table>
</body>
</html>
`;
}
