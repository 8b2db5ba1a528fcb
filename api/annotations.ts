// The `switchyard.io/*` annotation vocabulary: names, defaults and the typed settings they parse
// into. The same vocabulary configures file mode. Parsing lives here too (one place for both).

export const ANNOTATION_PREFIX = 'switchyard.io/';

export const Annotation = {
  canary: 'switchyard.io/canary',
  port: 'switchyard.io/port',
  steps: 'switchyard.io/steps',
  interval: 'switchyard.io/interval',
  maxFailedChecks: 'switchyard.io/max-failed-checks',
  successRate: 'switchyard.io/success-rate',
  p99Latency: 'switchyard.io/p99-latency',
  maxLatencyRatio: 'switchyard.io/max-latency-ratio',
  minRequests: 'switchyard.io/min-requests',
  promotion: 'switchyard.io/promotion',
  strategy: 'switchyard.io/strategy',
  match: 'switchyard.io/match',
  sticky: 'switchyard.io/sticky',
  mirror: 'switchyard.io/mirror',
  canaryTokenSecret: 'switchyard.io/canary-token-secret',
  /** Prefix of custom PromQL checks: `switchyard.io/check.<name>`. */
  checkPrefix: 'switchyard.io/check.',
} as const;

export type Strategy = 'canary' | 'ab' | 'bluegreen';
export type Promotion = 'auto' | 'manual';
export type CheckOperator = '<' | '<=' | '>' | '>=' | '==' | '!=';

export interface CustomCheck {
  readonly name: string;
  readonly query: string;
  readonly operator: CheckOperator;
  readonly threshold: number;
}

/** A rule in `switchyard.io/match`, same shape as a route-table rule's `match`. */
export type MatchRule =
  | {
      readonly header: {
        readonly name: string;
        readonly exact?: string;
        readonly prefix?: string;
        readonly regex?: string;
      };
    }
  | {
      readonly cookie: {
        readonly name: string;
        readonly exact?: string;
        readonly prefix?: string;
        readonly regex?: string;
      };
    };

/** Everything an opted-in workload's annotations say, validated and with defaults applied. */
export interface RolloutSettings {
  /** App container port to front: a port name or number; null = the first TCP port. */
  readonly port: string | number | null;
  /** Ascending canary weights in percent, each 1-99; 100 is implied after the last. Default [5,25,50]. */
  readonly steps: readonly number[];
  /** Time per step in milliseconds. Default 60 000, minimum 10 000. */
  readonly intervalMs: number;
  /** Failed analyses before rollback. Default 2. */
  readonly maxFailedChecks: number;
  /** Minimum canary success rate, 0-1. Default 0.99. */
  readonly successRate: number;
  /** Maximum canary p99 in milliseconds, or null. */
  readonly p99LatencyMs: number | null;
  /** Maximum canary p99 / stable p99, or null. */
  readonly maxLatencyRatio: number | null;
  /** Requests per step before a verdict. Default 50. */
  readonly minRequests: number;
  readonly promotion: Promotion;
  readonly strategy: Strategy;
  /** A/B match rules (strategy ab). Empty otherwise. */
  readonly match: readonly MatchRule[];
  /** Sticky-session cookie name, or null for no stickiness. */
  readonly stickyCookie: string | null;
  /** Percent of stable traffic mirrored to the canary, 0-100. Default 0. */
  readonly mirrorPercent: number;
  /** Name of a Secret holding the X-Canary token, or null (header honoured without a token). */
  readonly canaryTokenSecret: string | null;
  readonly checks: readonly CustomCheck[];
}

export const DEFAULT_SETTINGS: RolloutSettings = Object.freeze({
  port: null,
  steps: Object.freeze([5, 25, 50]),
  intervalMs: 60_000,
  maxFailedChecks: 2,
  successRate: 0.99,
  p99LatencyMs: null,
  maxLatencyRatio: null,
  minRequests: 50,
  promotion: 'auto',
  strategy: 'canary',
  match: Object.freeze([]),
  stickyCookie: null,
  mirrorPercent: 0,
  canaryTokenSecret: null,
  checks: Object.freeze([]),
});
