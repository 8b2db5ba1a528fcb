// Control's own Prometheus metrics: rollout gauges read from the backend at scrape time (no state
// of their own to drift) and the route server's held polls.

import { Gauge, type Registry } from 'prom-client';
import { PHASES } from '../api/canary.js';
import type { RolloutBackend, RolloutSummary } from './api.js';
import type { RouteStore } from './route-server.js';

export function registerControlMetrics(
  registry: Registry,
  backend: RolloutBackend,
  routes: RouteStore,
): void {
  // A scrape collects every gauge at once: they share one backend list (on Kubernetes, one API call).
  let listing: Promise<readonly RolloutSummary[]> | null = null;
  const rollouts = () =>
    (listing ??= backend.list().finally(() => {
      listing = null;
    }));
  const rolloutGauge = <Label extends string>(
    name: string,
    help: string,
    labelNames: readonly Label[],
    set: (gauge: Gauge<Label>, rollout: RolloutSummary) => void,
  ): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        this.reset();
        for (const rollout of await rollouts()) set(this, rollout);
      },
    });
  };
  rolloutGauge(
    'switchyard_canary_weight',
    'Current canary weight in percent, per rollout',
    ['namespace', 'name'],
    (gauge, rollout) => gauge.labels(rollout.namespace, rollout.name).set(rollout.weight),
  );
  rolloutGauge(
    'switchyard_canary_phase',
    'Rollout phase: 1 for the current phase, 0 for the others',
    ['namespace', 'name', 'phase'],
    (gauge, rollout) => {
      for (const phase of PHASES)
        gauge.labels(rollout.namespace, rollout.name, phase).set(phase === rollout.phase ? 1 : 0);
    },
  );
  rolloutGauge(
    'switchyard_rollout_warnings',
    'Problems beside the rollout an operator should act on (Kubernetes: pods without the router)',
    ['namespace', 'name'],
    (gauge, rollout) => gauge.labels(rollout.namespace, rollout.name).set(rollout.warnings?.length ?? 0),
  );
  new Gauge({
    name: 'switchyard_route_polls_waiting',
    help: 'Router long polls currently held by the route server',
    registers: [registry],
    collect() {
      this.set(routes.waiting());
    },
  });
}
