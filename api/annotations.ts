// The `switchyard.io/*` annotation vocabulary: names, defaults and the typed settings they parse
// into. The same vocabulary configures file mode. Parsing lives here too (one place for both).

import { createHash } from 'node:crypto';
import { formatDurationMs, parseDurationMs } from './duration.js';
import { ErrorCode, SwitchyardError } from './errors.js';
import { DEFAULT_STICKY_COOKIE, parseRouteTable } from './routes.js';

export const ANNOTATION_PREFIX = 'switchyard.io/';

export const Annotation = {
  canary: 'switchyard.io/canary',
  port: 'switchyard.io/port',
  protocol: 'switchyard.io/protocol',
  steps: 'switchyard.io/steps',
  interval: 'switchyard.io/interval',
  progressDeadline: 'switchyard.io/progress-deadline',
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

/** Deployment annotations the Deployment webhook copies into the pod template for the pod webhook. */
export const POD_ANNOTATIONS: readonly string[] = Object.freeze([Annotation.port, Annotation.protocol]);

export type Strategy = 'canary' | 'ab' | 'bluegreen';
export type Promotion = 'auto' | 'manual';
/** What the app's port speaks, and so the router: HTTP/1.1, or also HTTP/2 cleartext (gRPC). */
export type Protocol = 'http' | 'h2c';
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
  /** What the app port speaks; the router speaks it too. Default http. */
  readonly protocol: Protocol;
  /** Ascending canary weights in percent, each 1-99; 100 is implied after the last. Default [5,25,50]. */
  readonly steps: readonly number[];
  /** Time per step in milliseconds. Default 60 000, minimum 10 000. */
  readonly intervalMs: number;
  /**
   * Time without progress before the rollout fails, in milliseconds, at least intervalMs; null =
   * 10 intervals. Read it through progressDeadlineMs(settings).
   */
  readonly progressDeadlineMs: number | null;
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
  /** `switchyard.io/patch-service: "true"`: the controller may repoint numeric Service targetPorts. Default false. */
  readonly patchService: boolean;
}

export const DEFAULT_SETTINGS: RolloutSettings = Object.freeze({
  port: null,
  protocol: 'http',
  steps: Object.freeze([5, 25, 50]),
  intervalMs: 60_000,
  progressDeadlineMs: null,
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
  patchService: false,
});

/** Shortest `switchyard.io/interval`: shorter steps see too little traffic for the statistics. */
const MIN_INTERVAL_MS = 10_000;
const MAX_INTERVAL_MS = 86_400_000;
/** Without `switchyard.io/progress-deadline`, the deadline is this many intervals. */
const DEFAULT_PROGRESS_DEADLINE_INTERVALS = 10;
const MAX_PROGRESS_DEADLINE_MS = DEFAULT_PROGRESS_DEADLINE_INTERVALS * MAX_INTERVAL_MS;

/**
 * How long a step (or Initializing, or a promotion) may go without progress — inconclusive
 * verdicts, a canary that is not ready or not scaled — before the rollout fails: a rollout never
 * wedges. Derived here rather than stored at parse time, so settings built with another interval
 * (file mode's short intervals, tests) keep the 10-interval default.
 */
export function progressDeadlineMs(settings: RolloutSettings): number {
  return settings.progressDeadlineMs ?? DEFAULT_PROGRESS_DEADLINE_INTERVALS * settings.intervalMs;
}

// ---------------------------------------------------------------------------------------------
// Annotations and labels the webhook and controller write themselves (never set by users).

/** Names switchyard writes on objects; users do not set these. */
export const OwnedAnnotation = {
  /** Deployment: hash of the pod template the release gate is holding back (see podTemplateHash). */
  pendingRevision: 'switchyard.io/pending-revision',
  /** Pod: switchyard version that injected the router; makes injection idempotent. */
  injected: 'switchyard.io/injected',
} as const;

/**
 * Deployment annotation, set by the user: `"true"` lets the controller repoint Services that
 * select the Deployment's pods with a numeric `targetPort` at the router's port name. Default false.
 */
export const PATCH_SERVICE_ANNOTATION = 'switchyard.io/patch-service';

/** Pod-template labels added by the Deployment webhook and read by the pod webhook and controller. */
export const Label = {
  /** `"true"` on pods that get the router (the pod webhook's objectSelector). */
  inject: 'switchyard.io/inject',
  /** `stable` or `canary`: the router's `--track`. */
  track: 'switchyard.io/track',
  /** The opted-in Deployment's name: the router's `--service` (the routing key). */
  service: 'switchyard.io/service',
} as const;

export const STABLE_TRACK = 'stable';
export const CANARY_TRACK = 'canary';
/** Value of `switchyard.io/canary` that opts a Deployment in. */
export const OPT_IN_VALUE = 'enabled';

/** Secret the controller keeps per namespace; the router mounts it optionally. Key holds the token. */
export const HOP_SECRET = Object.freeze({ name: 'switchyard-hop', key: 'token' });
/** ConfigMap with the control CA bundle the controller keeps per namespace. */
export const CA_CONFIGMAP = Object.freeze({ name: 'switchyard-ca', key: 'ca.crt' });
/** Audience of the projected service-account token a router presents to control. */
export const CONTROL_TOKEN_AUDIENCE = 'switchyard';

// ---------------------------------------------------------------------------------------------
// Parsing

/** Every `switchyard.io/*` annotation name we know; anything else under the prefix gets a warning. */
export const KNOWN_ANNOTATIONS: readonly string[] = Object.freeze([
  ...Object.values(Annotation).filter((name) => name !== Annotation.checkPrefix),
  ...Object.values(OwnedAnnotation),
  PATCH_SERVICE_ANNOTATION,
]);

export interface ParsedAnnotations {
  readonly settings: RolloutSettings;
  readonly warnings: readonly string[];
}

export interface ParseOptions {
  /** Shortest interval allowed; below MIN_INTERVAL_MS only for file mode's `unsafeShortIntervals`. */
  readonly minIntervalMs?: number;
}

const PORT_NAME_PATTERN = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$/;
const DNS_SUBDOMAIN_PATTERN =
  /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CHECK_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const COOKIE_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Anchored at the end only: no backtracking over the (user-controlled) PromQL before it.
const CHECK_TAIL = /(<=|>=|==|!=|<|>)\s*(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$/;
/** Longer values are rejected before any parsing (Kubernetes allows 256 KiB of annotations in total). */
const MAX_VALUE_LENGTH = 16_384;

function quote(value: string): string {
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text;
}

function invalid(annotation: string, value: string, allowed: string): never {
  throw new SwitchyardError(
    ErrorCode.AnnotationInvalid,
    `${annotation}: ${quote(value)} — expected ${allowed}`,
    {
      field: annotation,
    },
  );
}

function integerIn(annotation: string, value: string, min: number, max: number): number {
  const text = value.trim();
  const number = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    invalid(annotation, value, `an integer ${min}–${max}`);
  }
  return number;
}

function decimalIn(annotation: string, value: string, min: number, max: number, allowed: string): number {
  const text = value.trim();
  const number = /^(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(number) || number < min || number > max) invalid(annotation, value, allowed);
  return number;
}

function durationIn(
  annotation: string,
  value: string,
  minMs: number,
  maxMs: number,
  allowed: string,
): number {
  const ms = parseDurationMs(value);
  if (ms === null || ms < minMs || ms > maxMs) invalid(annotation, value, allowed);
  return ms;
}

/** A deadline shorter than one interval would fail a step before its first verdict could count. */
function parseProgressDeadline(value: string, intervalMs: number): number {
  return durationIn(
    Annotation.progressDeadline,
    value,
    intervalMs,
    MAX_PROGRESS_DEADLINE_MS,
    `a duration from the interval (${formatDurationMs(intervalMs)}) to ${formatDurationMs(MAX_PROGRESS_DEADLINE_MS)}, e.g. "10m", "1h"`,
  );
}

function oneOf<T extends string>(annotation: string, value: string, allowed: readonly T[]): T {
  const text = value.trim();
  if (!(allowed as readonly string[]).includes(text))
    invalid(annotation, value, `one of ${allowed.join(', ')}`);
  return text as T;
}

function parsePort(value: string): string | number {
  const text = value.trim();
  if (/^\d+$/.test(text)) return integerIn(Annotation.port, value, 1, 65_535);
  if (!PORT_NAME_PATTERN.test(text)) {
    invalid(Annotation.port, value, 'a container port name (lower-case, ≤15 characters) or a number 1–65535');
  }
  return text;
}

function parseSteps(value: string): readonly number[] {
  const allowed = 'ascending integers 1–99 separated by commas, e.g. "5,25,50"';
  const parts = value.split(',').map((part) => part.trim());
  const steps: number[] = [];
  for (const part of parts) {
    const step = /^\d{1,2}$/.test(part) ? Number(part) : Number.NaN;
    if (!(step >= 1 && step <= 99)) invalid(Annotation.steps, value, allowed);
    if (steps.length > 0 && step <= steps[steps.length - 1]!) invalid(Annotation.steps, value, allowed);
    steps.push(step);
  }
  return Object.freeze(steps);
}

function parseSticky(value: string): string | null {
  const text = value.trim();
  if (text === 'none' || text === 'false' || text === '') return null;
  if (text === 'cookie' || text === 'true') return DEFAULT_STICKY_COOKIE;
  const custom = /^cookie:(.+)$/.exec(text)?.[1];
  if (custom !== undefined && COOKIE_NAME_PATTERN.test(custom)) return custom;
  return invalid(Annotation.sticky, value, '"cookie", "cookie:<cookie-name>" or "none"');
}

function parseMatch(value: string): readonly MatchRule[] {
  const allowed =
    'a JSON array of rules like [{"header":{"name":"x-user-group","exact":"beta"}}] (header or cookie; exactly one of exact, prefix, regex)';
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    invalid(Annotation.match, value, allowed);
  }
  if (!Array.isArray(json) || json.length === 0) invalid(Annotation.match, value, allowed);
  // Validate with the route-table schema itself, so a rule the webhook admits is one every router accepts.
  try {
    const table = parseRouteTable({
      service: 'annotation',
      generation: 0,
      tracks: { stable: { upstream: 'http://127.0.0.1:1' }, canary: { upstream: 'http://127.0.0.1:2' } },
      weights: { stable: 100 },
      rules: json.map((match: unknown) => ({ match, track: 'canary' })),
    });
    return Object.freeze(table.rules.map((rule) => Object.freeze(rule.match as MatchRule)));
  } catch (error) {
    const detail = error instanceof Error ? error.message.replace(/^route table: /, '') : String(error);
    const where = detail.replace(/^rules\[(\d+)\]\.match/, 'rule $1');
    return invalid(Annotation.match, value, `${allowed}; ${where}`);
  }
}

function parseCheck(annotation: string, value: string): CustomCheck {
  const name = annotation.slice(Annotation.checkPrefix.length);
  if (!CHECK_NAME_PATTERN.test(name)) {
    invalid(
      annotation,
      value,
      `a check name after "${Annotation.checkPrefix}" that is a lower-case DNS label`,
    );
  }
  const match = CHECK_TAIL.exec(value);
  const query = match ? value.slice(0, match.index).trim() : '';
  if (!match || query === '')
    invalid(
      annotation,
      value,
      '"<PromQL returning one number> <op> <threshold>" with op one of < <= > >= == !=',
    );
  return Object.freeze({
    name,
    query,
    operator: match[1] as CheckOperator,
    threshold: Number(match[2]),
  });
}

/** Levenshtein distance, for "did you mean" hints. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function unknownWarning(annotation: string): string {
  if (annotation.length > 100) return `unknown annotation ${annotation.slice(0, 60)}… (ignored)`;
  const candidates = [...KNOWN_ANNOTATIONS, `${Annotation.checkPrefix}<name>`];
  let best: string | null = null;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(annotation, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const suffixLength = annotation.length - ANNOTATION_PREFIX.length;
  return best !== null && bestDistance <= Math.max(2, Math.floor(suffixLength / 3))
    ? `unknown annotation ${annotation} (ignored) — did you mean ${best}?`
    : `unknown annotation ${annotation} (ignored); known: ${KNOWN_ANNOTATIONS.join(', ')}, ${Annotation.checkPrefix}<name>`;
}

/** True when the object's annotations opt it in (`switchyard.io/canary: enabled`). */
export function isOptedIn(annotations: Readonly<Record<string, string>> | null | undefined): boolean {
  return annotations?.[Annotation.canary]?.trim() === OPT_IN_VALUE;
}

/**
 * Validates every `switchyard.io/*` annotation into frozen settings with DESIGN.md defaults.
 * Throws SwitchyardError(AnnotationInvalid) naming the annotation, its value and what is allowed;
 * unknown names under the prefix come back as warnings.
 */
export function parseAnnotations(
  annotations: Readonly<Record<string, unknown>> | null | undefined,
  options: ParseOptions = {},
): ParsedAnnotations {
  const { minIntervalMs = MIN_INTERVAL_MS } = options;
  const source = annotations ?? {};
  const warnings: string[] = [];
  const settings: { -readonly [K in keyof RolloutSettings]: RolloutSettings[K] } = { ...DEFAULT_SETTINGS };
  const checks: CustomCheck[] = [];
  // Checked once the interval is known, whatever the order of the annotations.
  let progressDeadline: string | null = null;
  for (const annotation of Object.keys(source).sort()) {
    if (!annotation.startsWith(ANNOTATION_PREFIX)) continue;
    const raw = source[annotation];
    if (typeof raw !== 'string') invalid(annotation, String(raw), 'a string value');
    const value = raw;
    if (value.length > MAX_VALUE_LENGTH)
      invalid(annotation, value, `a value of at most ${MAX_VALUE_LENGTH} characters`);
    switch (annotation) {
      case Annotation.canary:
        oneOf(annotation, value, [OPT_IN_VALUE, 'disabled']);
        break;
      case Annotation.port:
        settings.port = parsePort(value);
        break;
      case Annotation.protocol:
        settings.protocol = oneOf<Protocol>(annotation, value, ['http', 'h2c']);
        break;
      case Annotation.steps:
        settings.steps = parseSteps(value);
        break;
      case Annotation.interval:
        settings.intervalMs = durationIn(
          annotation,
          value,
          minIntervalMs,
          MAX_INTERVAL_MS,
          `a duration from ${formatDurationMs(minIntervalMs)} to ${formatDurationMs(MAX_INTERVAL_MS)}, e.g. "1m", "30s", "1m30s"`,
        );
        break;
      case Annotation.progressDeadline:
        progressDeadline = value;
        break;
      case Annotation.maxFailedChecks:
        settings.maxFailedChecks = integerIn(annotation, value, 1, 100);
        break;
      case Annotation.successRate:
        settings.successRate = decimalIn(annotation, value, 0, 1, 'a number from 0 to 1, e.g. "0.99"');
        break;
      case Annotation.p99Latency:
        settings.p99LatencyMs = durationIn(
          annotation,
          value,
          1,
          600_000,
          'a duration from 1ms to 10m, e.g. "500ms", "2s"',
        );
        break;
      case Annotation.maxLatencyRatio:
        settings.maxLatencyRatio = decimalIn(annotation, value, 1, 1000, 'a number ≥ 1, e.g. "1.5"');
        break;
      case Annotation.minRequests:
        settings.minRequests = integerIn(annotation, value, 0, 1_000_000);
        break;
      case Annotation.promotion:
        settings.promotion = oneOf<Promotion>(annotation, value, ['auto', 'manual']);
        break;
      case Annotation.strategy:
        settings.strategy = oneOf<Strategy>(annotation, value, ['canary', 'ab', 'bluegreen']);
        break;
      case Annotation.match:
        settings.match = parseMatch(value);
        break;
      case Annotation.sticky:
        settings.stickyCookie = parseSticky(value);
        break;
      case Annotation.mirror:
        settings.mirrorPercent = integerIn(annotation, value, 0, 100);
        break;
      case Annotation.canaryTokenSecret:
        if (!DNS_SUBDOMAIN_PATTERN.test(value.trim()))
          invalid(annotation, value, 'a Secret name (lower-case DNS subdomain)');
        settings.canaryTokenSecret = value.trim();
        break;
      case PATCH_SERVICE_ANNOTATION:
        settings.patchService = oneOf(annotation, value, ['true', 'false']) === 'true';
        break;
      case OwnedAnnotation.pendingRevision:
      case OwnedAnnotation.injected:
        break;
      default:
        if (annotation.startsWith(Annotation.checkPrefix)) checks.push(parseCheck(annotation, value));
        else warnings.push(unknownWarning(annotation));
    }
  }
  if (progressDeadline !== null) {
    settings.progressDeadlineMs = parseProgressDeadline(progressDeadline, settings.intervalMs);
  }
  if (settings.strategy === 'ab' && settings.match.length === 0) {
    invalid(Annotation.strategy, 'ab', `${Annotation.match} with at least one rule when the strategy is ab`);
  }
  if (settings.strategy !== 'ab' && settings.match.length > 0) {
    warnings.push(
      `${Annotation.match} is used only with ${Annotation.strategy}: "ab" (ignored for "${settings.strategy}")`,
    );
  }
  settings.checks = Object.freeze(checks);
  return Object.freeze({ settings: Object.freeze(settings), warnings: Object.freeze(warnings) });
}

// ---------------------------------------------------------------------------------------------
// Pod-template hash

const HASH_IGNORED_LABELS: readonly string[] = [Label.inject, Label.track, Label.service];

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/**
 * A stable 16-hex-digit hash of a pod template that ignores what switchyard itself adds (the
 * inject/track/service labels and the `switchyard.io/*` template annotations) and key order, so
 * the webhook's gate and the controller agree on what "the same template" is. The template's copies
 * of `switchyard.io/port` and `switchyard.io/protocol` count: they decide which port the injected
 * router fronts and what it speaks, and changing them re-creates every pod, so they go through a
 * canary like any other template change.
 */
export function podTemplateHash(template: unknown): string {
  const copy = (typeof template === 'object' && template !== null ? structuredClone(template) : {}) as {
    metadata?: {
      labels?: Record<string, unknown>;
      annotations?: Record<string, unknown>;
      creationTimestamp?: unknown;
    };
  };
  if (copy.metadata) {
    delete copy.metadata.creationTimestamp;
    for (const label of HASH_IGNORED_LABELS) delete copy.metadata.labels?.[label];
    for (const key of Object.keys(copy.metadata.annotations ?? {})) {
      if (key.startsWith(ANNOTATION_PREFIX) && !POD_ANNOTATIONS.includes(key))
        delete copy.metadata.annotations![key];
    }
    // An emptied map and an absent one are the same template.
    if (copy.metadata.labels && Object.keys(copy.metadata.labels).length === 0) delete copy.metadata.labels;
    if (copy.metadata.annotations && Object.keys(copy.metadata.annotations).length === 0)
      delete copy.metadata.annotations;
  }
  return createHash('sha256').update(canonicalJson(copy)).digest('hex').slice(0, 16);
}
