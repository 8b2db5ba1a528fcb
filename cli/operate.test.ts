import { describe, expect, it } from 'vitest';
import type { Verdict } from '../api/canary.js';
import { ErrorCode } from '../api/errors.js';
import { initialStatus } from '../controller/rollout-types.js';
import type { RolloutSummary } from '../controller/api.js';
import { formatAge, formatVerdict, operate, renderTable, statusRows, warningLines } from './operate.js';

const io = { stdout: { write: () => true }, stderr: { write: () => true }, env: {}, now: () => 0 };

function verdict(outcome: Verdict['outcome'], fastFail = false): Verdict {
  return {
    at: '2026-01-01T00:00:00.000Z',
    step: 0,
    weight: 20,
    outcome,
    fastFail,
    checks: [
      { name: 'success-rate', outcome: 'fail', value: 0.5, threshold: 0.99, message: 'canary success 50%' },
      { name: 'fast-fail', outcome: 'fail', value: 0.5, threshold: 0.5, message: 'overwhelming' },
    ],
    canary: { requests: 40, errors: 20, successRate: 0.5, p50Seconds: 0.001, p99Seconds: 0.0034 },
    stable: { requests: 160, errors: 0, successRate: 1, p50Seconds: 0.001, p99Seconds: 0.002 },
  };
}

describe('status rendering', () => {
  it('formats ages compactly', () => {
    expect([0, 59, 60, 185, 3600, 7380, 90_000].map(formatAge)).toEqual([
      '0s',
      '59s',
      '1m00s',
      '3m05s',
      '1h00m',
      '2h03m',
      '1d1h',
    ]);
  });

  it('shows the outcome, the deciding check and the numbers of both tracks', () => {
    expect(formatVerdict(verdict('fail', true))).toBe(
      'fail (fast) success-rate: canary 50.0% of 40 p99 3ms | stable 100.0% of 160 p99 2ms',
    );
    expect(formatVerdict(undefined)).toBe('-');
  });

  it('renders aligned columns with step as current/total and the age in phase', () => {
    const status = {
      ...initialStatus(new Date(0)),
      phase: 'Progressing' as const,
      step: 1,
      weight: 25,
      verdicts: [verdict('pass')],
    };
    const rollout: RolloutSummary = {
      namespace: 'default',
      name: 'shop',
      phase: 'Progressing',
      weight: 25,
      step: 1,
      steps: [5, 25, 50],
      strategy: 'canary',
      message: '',
      phaseSince: new Date(0).toISOString(),
      timeInPhaseSeconds: 0,
      stableRevision: null,
      canaryRevision: 'abc',
      lastVerdicts: status.verdicts,
      status,
    };
    const table = renderTable(
      statusRows([rollout, { ...rollout, name: 'cart', step: 3, phase: 'Succeeded' }], 65_000),
    );
    const [header, shop, cart] = table.trimEnd().split('\n');
    expect(header).toMatch(/^NAMESPACE {2}NAME {2}PHASE {8}WEIGHT {2}STEP {2}LAST VERDICT +AGE$/);
    expect(shop).toMatch(
      /^default {4}shop {2}Progressing {2}25% {5}2\/3 {3}pass: canary 50\.0% of 40 .* 1m05s$/,
    );
    expect(cart).toMatch(/Succeeded .* 3\/3 /);
    expect(header!.indexOf('AGE')).toBe(shop!.indexOf('1m05s'));
    // Warnings go below the table, one line each, naming the rollout.
    expect(
      warningLines([rollout, { ...rollout, name: 'cart', warnings: ['1 pod without the router (cart-1)'] }]),
    ).toBe('warning: default/cart: 1 pod without the router (cart-1)\n');
  });
});

describe('operate argument handling', () => {
  it('rejects a --control that is not an http(s) origin', async () => {
    await expect(operate('status', ['--control', 'control:8443'], io)).rejects.toMatchObject({
      code: ErrorCode.FlagInvalid,
    });
  });

  it.each([
    ['set-weight', ['shop', '101']],
    ['set-weight', ['shop']],
    ['promote', []],
    ['rollout', ['start', 'shop']],
    ['rollout', ['stop', 'shop']],
    ['abort', ['shop', 'extra']],
  ] as const)('%s %j is a flag error', async (command, args) => {
    await expect(operate(command, [...args, '--control', 'http://127.0.0.1:1'], io)).rejects.toMatchObject({
      code: ErrorCode.FlagInvalid,
    });
  });
});
