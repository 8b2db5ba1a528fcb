import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Expiring, sweepIntervalMs, Timeouts } from './timeouts.js';

class Exchange extends Expiring {
  readonly errors: string[] = [];
  constructor(readonly onExpire: () => void = () => {}) {
    super();
  }
  expire(error: Error): void {
    this.errors.push(error.name);
    this.onExpire();
  }
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Headers timeout 1 s, body timeout 2 s: swept every 100 ms. */
function timeouts(): Timeouts {
  return new Timeouts(() => performance.now(), 1000, 2000);
}

describe('sweepIntervalMs', () => {
  it.each([
    [300, 30],
    [30_000, 1000],
    [20, 5],
    [1, 5],
  ])('checks every tenth of %i ms, within 5 ms and 1 s: %i ms', (shortest, interval) => {
    expect(sweepIntervalMs(shortest)).toBe(interval);
  });
});

describe('Timeouts', () => {
  it('expires an exchange without a response head after the headers timeout, within one sweep, once', () => {
    const list = timeouts();
    const exchange = new Exchange();
    list.awaitHeaders(exchange);
    vi.advanceTimersByTime(999);
    expect(exchange.errors).toEqual([]);
    vi.advanceTimersByTime(101);
    expect(exchange.errors).toEqual(['HeadersTimeoutError']);
    expect(exchange.watched).toBe(false);
    vi.advanceTimersByTime(5000);
    expect(exchange.errors).toEqual(['HeadersTimeoutError']);
  });

  it('after the head, each chunk gives the next one the body timeout', () => {
    const list = timeouts();
    const exchange = new Exchange();
    list.awaitHeaders(exchange);
    vi.advanceTimersByTime(800);
    list.awaitBody(exchange); // the head
    vi.advanceTimersByTime(1900);
    list.awaitBody(exchange); // a chunk
    vi.advanceTimersByTime(1900);
    expect(exchange.errors).toEqual([]);
    vi.advanceTimersByTime(200);
    expect(exchange.errors).toEqual(['BodyTimeoutError']);
  });

  it('never expires an exchange that was unwatched', () => {
    const list = timeouts();
    const exchange = new Exchange();
    list.awaitHeaders(exchange);
    list.unwatch(exchange);
    vi.advanceTimersByTime(5000);
    expect(exchange.errors).toEqual([]);
  });

  it('expires each of several exchanges by its own deadline and unlinks from any position', () => {
    const list = timeouts();
    const [a, b, c, d] = [new Exchange(), new Exchange(), new Exchange(), new Exchange()];
    list.awaitHeaders(a); // due at 1000
    vi.advanceTimersByTime(500);
    list.awaitBody(b); // due at 2500
    list.awaitHeaders(c); // due at 1500
    list.awaitHeaders(d);
    list.unwatch(c); // the middle of the list
    vi.advanceTimersByTime(600);
    expect([a, b, c, d].map((x) => x.errors.length)).toEqual([1, 0, 0, 0]);
    vi.advanceTimersByTime(500);
    expect([a, b, c, d].map((x) => x.errors.length)).toEqual([1, 0, 0, 1]);
    vi.advanceTimersByTime(1000);
    expect([a, b, c, d].map((x) => x.errors.length)).toEqual([1, 1, 0, 1]);
  });

  it('copes with an expiry that unwatches another exchange during the sweep', () => {
    const list = timeouts();
    const other = new Exchange();
    const first = new Exchange(() => list.unwatch(other));
    list.awaitHeaders(other);
    list.awaitHeaders(first); // newest: swept first, and unwatches the next one in line
    vi.advanceTimersByTime(1100);
    expect(first.errors).toHaveLength(1);
    expect(other.errors).toEqual([]);
    expect(other.watched).toBe(false);
  });

  it('runs its timer only while something is watched', () => {
    const list = timeouts();
    expect(vi.getTimerCount()).toBe(0);
    const exchange = new Exchange();
    list.awaitHeaders(exchange);
    expect(vi.getTimerCount()).toBe(1);
    list.unwatch(exchange);
    vi.advanceTimersByTime(100);
    expect(vi.getTimerCount()).toBe(0);
    list.awaitBody(exchange);
    expect(vi.getTimerCount()).toBe(1);
  });
});
