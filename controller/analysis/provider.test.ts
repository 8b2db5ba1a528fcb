import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../api/annotations.js';
import { ErrorCode, SwitchyardError } from '../../api/errors.js';
import { analyse, createProvider, type MetricsProvider } from './provider.js';
import { bucketsQuery, customQuery, rangeOf, requestsQuery, trackCounts } from './prometheus.js';

describe('createProvider', () => {
  it('rejects an unknown provider naming the allowed ones', () => {
    expect(() => createProvider('datadog')).toThrow(
      /"datadog" is unknown; expected one of: builtin, prometheus/,
    );
    try {
      createProvider('datadog');
    } catch (error) {
      expect((error as SwitchyardError).code).toBe(ErrorCode.FlagInvalid);
    }
  });

  it('needs --prometheus-url for prometheus', () => {
    expect(() => createProvider('prometheus')).toThrow(SwitchyardError);
    expect(createProvider('prometheus', { prometheusUrl: 'http://127.0.0.1:9090' }).name).toBe('prometheus');
    expect(createProvider('builtin').name).toBe('builtin');
  });
});

describe('analyse', () => {
  it('turns a provider failure into an inconclusive verdict that names it', async () => {
    const down: MetricsProvider = {
      name: 'prometheus',
      measure: () => Promise.reject(new Error('connect ECONNREFUSED')),
      forget: () => {},
    };
    const query = {
      namespace: 'default',
      service: 'shop',
      since: new Date(0),
      now: new Date(60_000),
      targets: [],
      checks: [],
    };
    const verdict = await analyse(down, query, DEFAULT_SETTINGS, {
      at: new Date(60_000),
      step: 0,
      weight: 5,
    });
    expect(verdict.outcome).toBe('inconclusive');
    expect(verdict.checks[0]).toMatchObject({ name: 'metrics', outcome: 'inconclusive' });
    expect(verdict.checks[0]?.message).toContain('ECONNREFUSED');
  });
});

describe('PromQL', () => {
  it('queries the pinned metric names over the window', () => {
    const range = rangeOf(new Date(0), new Date(60_500));
    expect(range).toBe('61s');
    expect(requestsQuery('service="shop"', range)).toBe(
      'sum by (track, code_class) (increase(switchyard_requests_total{service="shop"}[61s]))',
    );
    expect(bucketsQuery('service="shop"', range)).toBe(
      'increase(switchyard_request_duration_seconds_bucket{service="shop"}[61s])',
    );
    expect(
      customQuery({ name: 'q', query: 'sum(rate(x[$window]))', operator: '<', threshold: 1 }, range),
    ).toBe('sum(rate(x[61s]))');
  });
});

describe('prometheus answers to track counts', () => {
  const requests = [
    { metric: { track: 'stable', code_class: '2xx' }, value: [0, '29'] as const },
    { metric: { track: 'stable', code_class: '5xx' }, value: [0, '1'] as const },
  ];
  /** One router's bucket series, as `increase(...)` answers them. */
  const router = (pod: string, counts: Readonly<Record<string, string>>) =>
    Object.entries(counts).map(([le, count]) => ({
      metric: { service: 'shop', track: 'stable', pod, le },
      value: [0, count] as const,
    }));

  it('adds routers with different bucket layouts on the bounds all of them have', () => {
    const buckets = [
      ...router('shop-old', { '0.1': '10', '0.2': '15', '+Inf': '20' }),
      ...router('shop-new', { '0.1': '5', '0.15': '8', '+Inf': '10' }),
      // increase() extrapolates each series alone: a bucket below the one before is lifted to it.
      ...router('shop-new-2', { '0.1': '2.4', '0.15': '2.4', '+Inf': '2.2' }),
    ];
    expect(trackCounts('stable', requests, buckets)).toEqual({
      requests: 30,
      errors: 1,
      buckets: [
        { le: 0.1, count: 17.4 },
        { le: Number.POSITIVE_INFINITY, count: 32.4 },
      ],
    });
    expect(trackCounts('canary', requests, buckets)).toEqual({ requests: 0, errors: 0, buckets: [] });
  });
});
