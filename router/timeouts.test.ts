import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Expiring, sweepIntervalMs, Timeouts } from './timeouts.js';

class Exchange extends Expiring {
  expired = 0;
  constructor(readonly onExpire: () => void = () => {}) {
    super();
  }
  expire(): void {
    this.expired++;
    this.onExpire();
  }
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function timeouts(shortestMs = 1000): Timeouts {
  return new Timeouts(() => performance.now(), shortestMs);
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
  it('expires an exchange after its deadline, within one sweep interval, once', () => {
    const list = timeouts(1000); // sweeps every 100 ms
    const exchange = new Exchange();
    list.watch(exchange, 1000);
    vi.advanceTimersByTime(999);
    expect(exchange.expired).toBe(0);
    vi.advanceTimersByTime(101);
    expect(exchange.expired).toBe(1);
    expect(exchange.watched).toBe(false);
    vi.advanceTimersByTime(5000);
    expect(exchange.expired).toBe(1);
  });

  it('never expires an exchange that was unwatched', () => {
    const list = timeouts();
    const exchange = new Exchange();
    list.watch(exchange, 1000);
    list.unwatch(exchange);
    vi.advanceTimersByTime(5000);
    expect(exchange.expired).toBe(0);
  });

  it('moves the deadline when watched again or when expiresAt is pushed', () => {
    const list = timeouts(1000);
    const exchange = new Exchange();
    list.watch(exchange, 1000);
    vi.advanceTimersByTime(800);
    list.watch(exchange, 1000);
    vi.advanceTimersByTime(800);
    expect(exchange.expired).toBe(0);
    exchange.expiresAt = performance.now() + 1000;
    vi.advanceTimersByTime(800);
    expect(exchange.expired).toBe(0);
    vi.advanceTimersByTime(300);
    expect(exchange.expired).toBe(1);
  });

  it('expires each of several exchanges by its own deadline and unlinks from any position', () => {
    const list = timeouts(1000);
    const [a, b, c, d] = [new Exchange(), new Exchange(), new Exchange(), new Exchange()];
    list.watch(a, 500);
    list.watch(b, 3000);
    list.watch(c, 1500);
    list.watch(d, 2000);
    list.unwatch(c); // the middle of the list
    vi.advanceTimersByTime(600);
    expect([a.expired, b.expired, c.expired, d.expired]).toEqual([1, 0, 0, 0]);
    vi.advanceTimersByTime(1500);
    expect([a.expired, b.expired, c.expired, d.expired]).toEqual([1, 0, 0, 1]);
    vi.advanceTimersByTime(1000);
    expect([a.expired, b.expired, c.expired, d.expired]).toEqual([1, 1, 0, 1]);
  });

  it('copes with an expiry that unwatches another exchange during the sweep', () => {
    const list = timeouts(1000);
    const other = new Exchange();
    const first = new Exchange(() => list.unwatch(other));
    list.watch(other, 500);
    list.watch(first, 500); // newest: swept first, and unwatches the next one in line
    vi.advanceTimersByTime(600);
    expect(first.expired).toBe(1);
    expect(other.expired).toBe(0);
    expect(other.watched).toBe(false);
  });

  it('runs its timer only while something is watched', () => {
    const list = timeouts(1000);
    expect(vi.getTimerCount()).toBe(0);
    const exchange = new Exchange();
    list.watch(exchange, 1000);
    expect(vi.getTimerCount()).toBe(1);
    list.unwatch(exchange);
    vi.advanceTimersByTime(100);
    expect(vi.getTimerCount()).toBe(0);
    list.watch(exchange, 1000);
    expect(vi.getTimerCount()).toBe(1);
  });
});
