import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ErrorCode, SwitchyardError } from '../../api/errors.js';
import { parseExposition } from './exposition.js';
import { countsFromSamples } from './window.js';

async function routerExposition(): Promise<string> {
  const registry = new Registry();
  const requests = new Counter({
    name: 'switchyard_requests_total',
    help: 'h',
    labelNames: ['service', 'track', 'code_class'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'switchyard_request_duration_seconds',
    help: 'h',
    labelNames: ['service', 'track'],
    buckets: [0.01, 0.1, 1],
    registers: [registry],
  });
  requests.labels('shop', 'stable', '2xx').inc(90);
  requests.labels('shop', 'stable', '5xx').inc(3);
  requests.labels('shop', 'stable', '4xx').inc(7);
  requests.labels('shop', 'canary', '2xx').inc(8);
  requests.labels('shop', 'canary', 'error').inc(2);
  requests.labels('other', 'canary', '5xx').inc(1000);
  for (const seconds of [0.005, 0.05, 0.05, 0.5, 5]) duration.labels('shop', 'canary').observe(seconds);
  duration.labels('shop', 'stable').observe(0.005);
  return registry.metrics();
}

describe('parseExposition + countsFromSamples', () => {
  it('reads what prom-client writes into per-track requests, errors (5xx + error) and buckets', async () => {
    const counts = countsFromSamples(parseExposition(await routerExposition()), 'shop');
    expect(counts.stable).toMatchObject({ requests: 100, errors: 3 });
    expect(counts.canary).toEqual({
      requests: 10,
      errors: 2,
      buckets: [
        { le: 0.01, count: 1 },
        { le: 0.1, count: 3 },
        { le: 1, count: 4 },
        { le: Number.POSITIVE_INFINITY, count: 5 },
      ],
    });
  });

  it('handles escaped label values, timestamps, special values and comments', () => {
    const samples = parseExposition(
      [
        '# HELP x help with "quotes"',
        '# TYPE x counter',
        'x{a="q\\"uote",b="back\\\\slash",c="new\\nline"} 12 1700000000000',
        'y +Inf',
        'z{} NaN',
        '',
      ].join('\n'),
    );
    expect(samples[0]).toEqual({
      name: 'x',
      labels: { a: 'q"uote', b: 'back\\slash', c: 'new\nline' },
      value: 12,
    });
    expect(samples[1]?.value).toBe(Number.POSITIVE_INFINITY);
    expect(samples[2]?.value).toBeNaN();
  });

  it.each([
    ['x{a="1"} abc', 'line 1'],
    ['ok 1\nx{a=1} 2', 'line 2'],
    ['x{a="1" 2', 'line 1'],
    ['{a="1"} 2', 'line 1'],
  ])('rejects %j naming the line', (text, where) => {
    try {
      parseExposition(text);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SwitchyardError);
      expect((error as SwitchyardError).code).toBe(ErrorCode.MetricsInvalid);
      expect((error as Error).message).toContain(where);
    }
  });
});
