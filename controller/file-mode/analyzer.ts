// Analysis for file mode: a metrics provider (builtin scrapes the configured router admin URLs,
// prometheus queries PromQL) plus the shared judge, behind the runtime's WindowAnalyzer seam.

import type { Verdict } from '../../api/canary.js';
import type { Measurement } from '../analysis/judge.js';
import { analyse, type MetricsProvider, type WindowQuery } from '../analysis/provider.js';
import { sumCounts } from '../analysis/window.js';
import type { AnalysisWindow, WindowAnalyzer } from './runtime.js';

function query(window: AnalysisWindow, now: Date): WindowQuery {
  return {
    namespace: window.namespace,
    service: window.service,
    since: new Date(window.since),
    now,
    targets: [...window.stable.admin, ...window.canary.admin],
    checks: window.settings.checks,
  };
}

/**
 * Builtin analysis in file mode attributes traffic by *where it was measured*: everything the
 * stable track's routers served is stable, everything the canary's routers served is canary.
 * A router labels its metrics with its own `--track`, and after a promotion the promoted routers
 * (started as `--track canary`) serve the stable track: by-target attribution keeps the next
 * rollout's analysis right without restarting them.
 */
class ByTargetProvider implements MetricsProvider {
  readonly name = 'builtin' as const;
  readonly #inner: MetricsProvider;
  readonly #stable: readonly string[];

  constructor(inner: MetricsProvider, stableTargets: readonly string[]) {
    this.#inner = inner;
    this.#stable = stableTargets;
  }

  async measure(query: WindowQuery): Promise<Measurement> {
    const stableTargets = query.targets.filter((target) => this.#stable.includes(target));
    const canaryTargets = query.targets.filter((target) => !this.#stable.includes(target));
    // Separate keys: the inner provider keeps one baseline per (namespace, service) window.
    const [stable, canary] = await Promise.all([
      this.#inner.measure({ ...query, namespace: `${query.namespace}#stable`, targets: stableTargets }),
      this.#inner.measure({ ...query, namespace: `${query.namespace}#canary`, targets: canaryTargets }),
    ]);
    return {
      stable: sumCounts([stable.stable, stable.canary]),
      canary: sumCounts([canary.stable, canary.canary]),
      custom: stable.custom,
    };
  }

  forget(namespace: string, service: string): void {
    this.#inner.forget(`${namespace}#stable`, service);
    this.#inner.forget(`${namespace}#canary`, service);
  }
}

export class ProviderAnalyzer implements WindowAnalyzer {
  readonly #provider: MetricsProvider;

  constructor(provider: MetricsProvider) {
    this.#provider = provider;
  }

  #for(window: AnalysisWindow): MetricsProvider {
    return this.#provider.name === 'builtin'
      ? new ByTargetProvider(this.#provider, window.stable.admin)
      : this.#provider;
  }

  /** The builtin provider's first measurement of a window is its baseline: take it as the window opens. */
  async begin(window: AnalysisWindow): Promise<void> {
    await this.#for(window).measure(query(window, new Date(window.since)));
  }

  analyse(window: AnalysisWindow, now: Date): Promise<Verdict> {
    return analyse(this.#for(window), query(window, now), window.settings, {
      at: now,
      step: window.step,
      weight: window.weight,
    });
  }
}
