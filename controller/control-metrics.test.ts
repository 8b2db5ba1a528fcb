import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { initialStatus } from './rollout-types.js';
import { type RolloutBackend, type RolloutSummary, summarize } from './api.js';
import { registerControlMetrics } from './control-metrics.js';
import { RouteStore } from './route-server.js';

function summary(name: string, warnings?: string[]): RolloutSummary {
  const status = { ...initialStatus(new Date(0)), phase: 'Progressing' as const, weight: 25 };
  const made = summarize('shop', name, status, { steps: [5, 25, 50], strategy: 'canary' }, new Date(0));
  return warnings ? { ...made, warnings } : made;
}

describe('control metrics', () => {
  it('reads the rollouts once per scrape for all rollout gauges', async () => {
    let lists = 0;
    const backend = {
      async list() {
        lists++;
        return [summary('web', ['1 pod without the router (web-1)']), summary('cart')];
      },
    } as unknown as RolloutBackend;
    const registry = new Registry();
    registerControlMetrics(registry, backend, new RouteStore());
    const text = await registry.metrics();
    expect(lists).toBe(1);
    expect(text).toContain('switchyard_canary_weight{namespace="shop",name="web"} 25');
    expect(text).toContain('switchyard_canary_phase{namespace="shop",name="cart",phase="Progressing"} 1');
    expect(text).toContain('switchyard_rollout_warnings{namespace="shop",name="web"} 1');
    expect(text).toContain('switchyard_rollout_warnings{namespace="shop",name="cart"} 0');
    await registry.metrics();
    expect(lists).toBe(2);
  });
});
