import { describe, expect, it } from 'vitest';
import type { Verdict } from '../../api/canary.js';
import { Display, fitWidth, progressLine, verdictLine } from './display.js';
import { addCounts, type ClientCounts } from './load.js';
import { type DemoReport, decide, lineChart, reportHtml, reportText } from './report.js';
import type { Point } from './sampler.js';

const stats = (requests: number, errors: number) => ({
  requests,
  errors,
  successRate: requests === 0 ? null : 1 - errors / requests,
  p50Seconds: 0.004,
  p99Seconds: 0.02,
});

function verdict(outcome: Verdict['outcome'], step: number, overrides: Partial<Verdict> = {}): Verdict {
  return {
    at: `2026-01-01T00:00:0${step}.000Z`,
    step,
    weight: [10, 50][step] ?? 100,
    outcome,
    fastFail: false,
    checks: [
      {
        name: 'success-rate',
        outcome,
        value: outcome === 'fail' ? 0.8 : 1,
        threshold: 0.99,
        message: outcome === 'fail' ? 'canary success 80.00% < 99.00% over 95 requests' : 'ok',
      },
      { name: 'error-rate-z-test', outcome: 'pass', value: 0.2, threshold: 0.01, message: 'p 0.2' },
    ],
    canary: stats(95, outcome === 'fail' ? 19 : 0),
    stable: stats(600, 0),
    ...overrides,
  };
}

const clients: ClientCounts = {
  byVersion: { v1: 900, v2: 95 },
  sent: 1000,
  failed: 5,
  serverErrors: 4,
  networkErrors: 1,
  shed: 0,
  lastError: 'HTTP 500 from v2',
};

const rate = (rps: number, successRate: number | null) => ({ rps, successRate, p99Ms: 12 });
const points: Point[] = [
  {
    t: 0.5,
    phase: 'Progressing',
    weight: 10,
    v2Percent: 10,
    step: 0,
    v1: rate(180, 1),
    v2: rate(20, 0.8),
    clientsSent: 100,
    clientsFailed: 4,
  },
  {
    t: 1.5,
    phase: 'Failed',
    weight: 0,
    v2Percent: 0,
    step: 0,
    v1: rate(200, 1),
    v2: rate(0, null),
    clientsSent: 300,
    clientsFailed: 5,
  },
];

function report(overrides: Partial<DemoReport> = {}): DemoReport {
  const verdicts = [verdict('fail', 0)];
  return {
    scenario: 'errors',
    description: 'v2 answers 20 % <500>',
    expected: 'ROLLED BACK',
    outcome: 'ROLLED BACK',
    matchesExpectation: true,
    ...decideFields(verdicts),
    startedAt: '2026-01-01T00:00:00.000Z',
    rolloutSeconds: 1.5,
    totalSeconds: 2.7,
    rollout: {
      phase: 'Failed',
      weight: 0,
      steps: [10, 50],
      strategy: 'canary',
      interval: '3s',
      message: 'rolled back',
    },
    served: { v1: { requests: 900, errors: 0 }, v2: { requests: 95, errors: 19 } },
    clients: {
      load: clients,
      tester: { ...clients, byVersion: { v2: 7 }, sent: 7, failed: 0, serverErrors: 0, networkErrors: 0 },
    },
    verdicts,
    events: [
      { at: '2026-01-01T00:00:01.000Z', type: 'Warning', reason: 'RolledBack', message: 'rolled back <x>' },
    ],
    timeline: points,
    ...overrides,
  };
}

function decideFields(verdicts: Verdict[]) {
  const { reason, verdict: deciding } = decide('Failed', verdicts, 'rolled back');
  return { reason, decidingVerdict: deciding };
}

describe('demo report', () => {
  it('names the failing check with its numbers as the reason for a rollback', () => {
    const { reason, verdict: deciding } = decide('Failed', [verdict('pass', 0), verdict('fail', 1)], 'x');
    expect(deciding?.step).toBe(1);
    expect(reason).toBe(
      'failed analysis at step 2 (50%) — success-rate: canary success 80.00% < 99.00% over 95 requests',
    );
    const fast = decide('Failed', [verdict('fail', 0, { fastFail: true })], 'x');
    expect(fast.reason).toMatch(/^fast fail at step 1 \(10%\)/);
  });

  it('falls back to the status message when no analysis failed (e.g. an abort)', () => {
    expect(decide('Failed', [verdict('pass', 0)], 'aborted by operator')).toEqual({
      reason: 'aborted by operator',
      verdict: null,
    });
  });

  it('counts passed analyses for a promotion', () => {
    const { reason } = decide(
      'Succeeded',
      [verdict('pass', 0), verdict('inconclusive', 1), verdict('pass', 1)],
      'ok',
    );
    expect(reason).toMatch(/^2 of 3 analyses passed; last: pass: canary 100\.0% of 95/);
  });

  it('prints outcome, reason, time, per-version requests and client failures on one screen', () => {
    const text = reportText(report(), { json: '.demo/demo-errors.json', html: '.demo/demo-errors.html' });
    const lines = text.split('\n');
    expect(lines).toContain('  ROLLED BACK   scenario errors (as expected)');
    expect(text).toContain('  time:     1.5s from announcing v2 to Failed (2.7s in all)');
    expect(text).toContain('  served:   v1 900 requests (100.0% ok), v2 95 requests (80.0% ok)');
    expect(text).toContain(
      '  clients:  1007 requests, 5 failed (0.5%); tester (X-Canary: always) 7 of 7 answered by v2',
    );
    expect(text).toContain('            .demo/demo-errors.html');
    expect(lines.length).toBeLessThan(20);
    expect(reportText(report({ outcome: 'PROMOTED', matchesExpectation: false }), null)).toContain(
      'PROMOTED   scenario errors (EXPECTED ROLLED BACK)',
    );
  });

  it('writes a self-contained HTML page with escaped text and SVG charts of weight and errors', () => {
    const html = reportHtml(report());
    expect(html.match(/<svg /g)).toHaveLength(3);
    expect(html).toContain('v2 answers 20 % &lt;500&gt;');
    expect(html).toContain('rolled back &lt;x&gt;');
    expect(html).not.toMatch(/(src|href)=/);
  });

  it('draws weights as steps and leaves gaps where a version had no requests', () => {
    const svg = lineChart(
      't',
      '%',
      [
        {
          name: 'w',
          colour: '#000',
          step: true,
          points: [
            [0, 10],
            [5, 50],
          ],
        },
        {
          name: 'e',
          colour: '#f00',
          points: [
            [0, 1],
            [2, null],
            [5, 2],
          ],
        },
      ],
      100,
    );
    const [weights, errors] = [...svg.matchAll(/<path d="([^"]*)"/g)].map((match) => match[1]);
    expect(weights).toMatch(/^M[\d.]+,[\d.]+H[\d.]+V[\d.]+$/);
    expect(errors?.match(/M/g)).toHaveLength(2);
  });
});

describe('demo display', () => {
  it('formats a plain progress line and a verdict line with the deciding check', () => {
    const rollout = { phase: 'Progressing', step: 0, steps: [10, 50] } as never;
    expect(progressLine(points[0]!, rollout)).toBe(
      '[  0.5s] Progressing step 1/2 weight  10% | v1 180/s ok 100.0% p99  12ms | v2  20/s ok  80.0% p99  12ms | clients 100 sent 4 failed',
    );
    expect(verdictLine(3.25, verdict('fail', 0))).toMatch(
      /^\[ {2}3\.3s\] verdict step 1 at 10%: fail success-rate: .* — success-rate: canary success 80\.00% < 99\.00% over 95 requests$/,
    );
  });

  it('cuts block lines to the terminal width without counting colour codes', () => {
    expect(fitWidth('\u001b[1mabcdef\u001b[0m', 3)).toBe('\u001b[1mabc\u001b[0m');
    expect(fitWidth('abc', 10)).toBe('abc');
  });

  it('redraws the block in place on a terminal, with lines scrolling above it; plain lines otherwise', () => {
    const rollout = { phase: 'Progressing', step: 0, steps: [10, 50] } as never;
    let tty = '';
    const live = new Display({ write: (text: string) => (tty += text) }, true, 1000, 60);
    live.progress(points[0]!, rollout, undefined, 0);
    live.line('event');
    live.progress(points[1]!, rollout, undefined, 10);
    live.progress(points[1]!, rollout, undefined, 20);
    const clears = tty.split('\u001b[6F\u001b[J');
    // block | clear, event, block | clear, block: each redraw erases exactly the 6 rows it drew
    expect(clears).toHaveLength(3);
    expect(clears[1]).toMatch(/^event\n/);
    for (const line of tty.replace(new RegExp(`${'\u001b'}\\[[0-9;]*[A-Za-z]`, 'g'), '').split('\n')) {
      expect(line.length).toBeLessThan(60);
    }

    let plain = '';
    const lines = new Display({ write: (text: string) => (plain += text) }, false, 1000);
    lines.progress(points[0]!, rollout, undefined, 0);
    lines.progress(points[0]!, rollout, undefined, 500); // throttled
    lines.progress(points[1]!, rollout, undefined, 600, true); // the final state always prints
    expect(plain).not.toContain('\u001b');
    expect(plain.trimEnd().split('\n')).toHaveLength(2);
  });

  it('adds up main load and tester counts', () => {
    const sum = addCounts(clients, { ...clients, byVersion: { v2: 5, none: 1 }, lastError: null });
    expect(sum.byVersion).toEqual({ v1: 900, v2: 100, none: 1 });
    expect(sum.failed).toBe(10);
    expect(sum.lastError).toBe('HTTP 500 from v2');
  });
});
