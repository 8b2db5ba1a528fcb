import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../api/annotations.js';
import { ErrorCode, SwitchyardError } from '../../api/errors.js';
import { analyse, createProvider, type MetricsProvider } from './provider.js';
import { bucketsQuery, customQuery, rangeOf, requestsQuery } from './prometheus.js';

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
      'sum by (track, le) (increase(switchyard_request_duration_seconds_bucket{service="shop"}[61s]))',
    );
    expect(
      customQuery({ name: 'q', query: 'sum(rate(x[$window]))', operator: '<', threshold: 1 }, range),
    ).toBe('sum(rate(x[61s]))');
  });
});
