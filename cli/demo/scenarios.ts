// The demo's scenarios: how v2 behaves, which rollout settings control gets for it, and which
// outcome a correct switchyard must reach — so `switchyard demo` doubles as a smoke test.

export const SCENARIOS = ['healthy', 'errors', 'latency', 'ab', 'bluegreen'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export type Outcome = 'PROMOTED' | 'ROLLED BACK';

/** Requests the load generator marks as the A/B segment (strategy ab). */
export const AB_HEADER = { name: 'x-user-group', value: 'beta' } as const;

export interface Scenario {
  readonly name: ScenarioName;
  /** One line for the banner: what v2 does. */
  readonly description: string;
  readonly v2: { readonly errorRate: number; readonly latencyMs: number };
  readonly expected: Outcome;
  /** Fraction of the main load sent with the A/B header (strategy ab only). */
  readonly abShare: number;
  /** `rollout:` keys of switchyard.yaml (the annotation vocabulary without the prefix). */
  readonly rollout: Readonly<Record<string, string>>;
}

export interface Pace {
  readonly steps: string;
  readonly interval: string;
  readonly minRequests: number;
  readonly tick: string;
  /** True when the interval is under control's 10 s minimum (the demo-only config switch). */
  readonly shortIntervals: boolean;
}

/** `--fast`: two short steps, the whole run well under a minute; otherwise the default pace. */
export function paceFor(fast: boolean): Pace {
  return fast
    ? { steps: '10,50', interval: '3s', minRequests: 40, tick: '250ms', shortIntervals: true }
    : { steps: '5,25,50', interval: '15s', minRequests: 50, tick: '1s', shortIntervals: false };
}

export const LATENCY_ADDED_MS = 200;
export const P99_LIMIT = '150ms';
export const ERROR_RATE = 0.2;

export function scenario(name: ScenarioName, pace: Pace): Scenario {
  const base = {
    steps: pace.steps,
    interval: pace.interval,
    'min-requests': String(pace.minRequests),
    'success-rate': '0.99',
    'max-failed-checks': '2',
  };
  switch (name) {
    case 'healthy':
      return {
        name,
        description: 'v2 is healthy: expect it to be PROMOTED step by step',
        v2: { errorRate: 0, latencyMs: 0 },
        expected: 'PROMOTED',
        abShare: 0,
        rollout: base,
      };
    case 'errors':
      return {
        name,
        description: `v2 answers ${ERROR_RATE * 100} % of requests with HTTP 500: expect it to be ROLLED BACK`,
        v2: { errorRate: ERROR_RATE, latencyMs: 0 },
        expected: 'ROLLED BACK',
        abShare: 0,
        rollout: base,
      };
    case 'latency':
      return {
        name,
        description: `v2 adds ${LATENCY_ADDED_MS} ms to every response (limit p99 ${P99_LIMIT}): expect it to be ROLLED BACK`,
        v2: { errorRate: 0, latencyMs: LATENCY_ADDED_MS },
        expected: 'ROLLED BACK',
        abShare: 0,
        rollout: { ...base, 'p99-latency': P99_LIMIT },
      };
    case 'ab':
      return {
        name,
        description: `A/B test: requests with ${AB_HEADER.name}: ${AB_HEADER.value} (20 % of the load) go to healthy v2: expect PROMOTED`,
        v2: { errorRate: 0, latencyMs: 0 },
        expected: 'PROMOTED',
        abShare: 0.2,
        rollout: {
          ...base,
          strategy: 'ab',
          match: JSON.stringify([{ header: { name: AB_HEADER.name, exact: AB_HEADER.value } }]),
        },
      };
    case 'bluegreen':
      return {
        name,
        description:
          'blue-green: v2 gets no live traffic, only testers and a 20 % mirror, then one switch 0 → 100: expect PROMOTED',
        v2: { errorRate: 0, latencyMs: 0 },
        expected: 'PROMOTED',
        abShare: 0,
        rollout: { ...base, strategy: 'bluegreen', mirror: '20' },
      };
  }
}

export function isScenarioName(value: string): value is ScenarioName {
  return (SCENARIOS as readonly string[]).includes(value);
}
