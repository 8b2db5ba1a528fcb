// Control's own Prometheus metrics: rollout gauges read from the backend at scrape time (no state
// of their own to drift) and the route server's held polls.

import { Gauge, type Registry } from 'prom-client';
import { PHASES } from '../api/canary.js';
import type { RolloutBackend } from './api.js';
import type { RouteStore } from './route-server.js';

export function registerControlMetrics(
  registry: Registry,
  backend: RolloutBackend,
  routes: RouteStore,
): void {
  new Gauge({
    name: 'switchyard_canary_weight',
    help: 'Current canary weight in percent, per rollout',
    labelNames: ['namespace', 'name'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const rollout of await backend.list()) {
        this.labels(rollout.namespace, rollout.name).set(rollout.weight);
      }
    },
  });
  new Gauge({
    name: 'switchyard_canary_phase',
    help: 'Rollout phase: 1 for the current phase, 0 for the others',
    labelNames: ['namespace', 'name', 'phase'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const rollout of await backend.list()) {
        for (const phase of PHASES)
          this.labels(rollout.namespace, rollout.name, phase).set(phase === rollout.phase ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'switchyard_rollout_warnings',
    help: 'Problems beside the rollout an operator should act on (Kubernetes: pods without the router)',
    labelNames: ['namespace', 'name'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const rollout of await backend.list()) {
        this.labels(rollout.namespace, rollout.name).set(rollout.warnings?.length ?? 0);
      }
    },
  });
  new Gauge({
    name: 'switchyard_route_polls_waiting',
    help: 'Router long polls currently held by the route server',
    registers: [registry],
    collect() {
      this.set(routes.waiting());
    },
  });
}
