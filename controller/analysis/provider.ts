// The narrow interface every metrics provider implements (one file each), the factory that picks
// one by name (an unknown name is an error, never a silent fallback), and analyse(): measure + judge.

import type { CustomCheck, RolloutSettings } from '../../api/annotations.js';
import type { Verdict } from '../../api/canary.js';
import { ErrorCode, errorMessage, SwitchyardError } from '../../api/errors.js';
import { BuiltinProvider, type BuiltinOptions } from './builtin.js';
import {
  DEFAULT_JUDGE_OPTIONS,
  type JudgeOptions,
  judge,
  type Measurement,
  type VerdictContext,
} from './judge.js';
import { PrometheusProvider, type PrometheusOptions } from './prometheus.js';
import { EMPTY_COUNTS } from './window.js';

export const PROVIDERS = ['builtin', 'prometheus'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** One analysis window of one workload. */
export interface WindowQuery {
  readonly namespace: string;
  /** The opted-in workload (route-table service name), the `service` label of the metrics. */
  readonly service: string;
  /** Start of the window (`status.stepSince`). */
  readonly since: Date;
  readonly now: Date;
  /** Router admin base URLs to scrape (`http://10.0.0.7:15020`); used by `builtin` only. */
  readonly targets: readonly string[];
  readonly checks: readonly CustomCheck[];
}

export interface MetricsProvider {
  readonly name: ProviderName;
  /** Per-track counts over [since, now] and the custom checks' values. Rejects when the source is down. */
  measure(query: WindowQuery): Promise<Measurement>;
  /** Forget per-window state of a workload whose rollout ended. */
  forget(namespace: string, service: string): void;
}

export interface ProviderOptions extends BuiltinOptions, Partial<PrometheusOptions> {}

/** `--analysis-provider`: builtin (default) or prometheus (needs `--prometheus-url`). */
export function createProvider(name: string, options: ProviderOptions = {}): MetricsProvider {
  if (name === 'builtin') return new BuiltinProvider(options);
  if (name === 'prometheus') {
    if (!options.prometheusUrl) {
      throw new SwitchyardError(
        ErrorCode.FlagInvalid,
        'analysis provider prometheus needs --prometheus-url (e.g. http://prometheus.monitoring:9090)',
        { field: '--prometheus-url' },
      );
    }
    return new PrometheusProvider({ ...options, prometheusUrl: options.prometheusUrl });
  }
  throw new SwitchyardError(
    ErrorCode.FlagInvalid,
    `analysis provider ${JSON.stringify(name)} is unknown; expected one of: ${PROVIDERS.join(', ')}`,
    { field: '--analysis-provider' },
  );
}

/**
 * Measures the window and judges it. A provider failure is an inconclusive verdict naming the
 * error (it holds the step; the progress deadline fails a rollout whose metrics never come back).
 */
export async function analyse(
  provider: MetricsProvider,
  query: WindowQuery,
  settings: RolloutSettings,
  context: VerdictContext,
  options: JudgeOptions = DEFAULT_JUDGE_OPTIONS,
): Promise<Verdict> {
  try {
    return judge(await provider.measure(query), settings, context, options);
  } catch (error) {
    const verdict = judge(
      { canary: EMPTY_COUNTS, stable: EMPTY_COUNTS, custom: [] },
      settings,
      context,
      options,
    );
    const message = `${provider.name} metrics unavailable: ${errorMessage(error)}`;
    return {
      ...verdict,
      outcome: 'inconclusive',
      checks: [
        { name: 'metrics', outcome: 'inconclusive', value: null, threshold: null, message },
        ...verdict.checks,
      ],
    };
  }
}
