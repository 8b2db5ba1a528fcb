import { describe, expect, it } from 'vitest';
import { DEFAULT_RPS, demoUsage, parseDemoFlags } from './demo.js';
import { paceFor, SCENARIOS, scenario } from './demo/scenarios.js';

describe('switchyard demo flags', () => {
  it('defaults to the healthy scenario at the normal pace', () => {
    expect(parseDemoFlags([])).toEqual({
      scenario: 'healthy',
      fast: false,
      keep: false,
      outDir: '.demo',
      rps: DEFAULT_RPS,
    });
    expect(parseDemoFlags(['--fast', '--scenario', 'errors', '--keep', '--out', 'r', '--rps', '50'])).toEqual(
      {
        scenario: 'errors',
        fast: true,
        keep: true,
        outDir: 'r',
        rps: 50,
      },
    );
  });

  it.each([
    [
      ['--scenario', 'chaos'],
      /--scenario: "chaos" — expected one of healthy, errors, latency, ab, bluegreen/,
    ],
    [['--rps', '5'], /--rps: "5" — expected a whole number .* from 10 to 2000/],
    [['--rps', '1e3'], /--rps: "1e3"/],
    [['--nope'], /demo: Unknown option '--nope'/],
  ])('rejects %j naming what is allowed', (argv, message) => {
    expect(() => parseDemoFlags(argv)).toThrow(message);
  });

  it('documents every flag in --help', () => {
    expect(parseDemoFlags(['--help'])).toBe('help');
    for (const flag of ['--scenario', '--fast', '--keep', '--out', '--rps', ...SCENARIOS]) {
      expect(demoUsage()).toContain(flag);
    }
  });

  it('expects promotion for healthy, ab and bluegreen and a rollback for errors and latency', () => {
    const pace = paceFor(true);
    const expected = Object.fromEntries(SCENARIOS.map((name) => [name, scenario(name, pace).expected]));
    expect(expected).toEqual({
      healthy: 'PROMOTED',
      errors: 'ROLLED BACK',
      latency: 'ROLLED BACK',
      ab: 'PROMOTED',
      bluegreen: 'PROMOTED',
    });
    // Short intervals only with --fast, through the demo-only config switch.
    expect(paceFor(true).shortIntervals).toBe(true);
    expect(paceFor(false)).toMatchObject({ shortIntervals: false, interval: '15s' });
  });
});
