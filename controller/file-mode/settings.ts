// The `rollout:` block of a file-mode service: the annotation vocabulary without the
// `switchyard.io/` prefix, parsed by the very same parseAnnotations the Kubernetes path uses.

import {
  ANNOTATION_PREFIX,
  Annotation,
  DEFAULT_SETTINGS,
  parseAnnotations,
  type RolloutSettings,
} from '../../api/annotations.js';
import { ErrorCode, SwitchyardError, isSwitchyardError } from '../../api/errors.js';

/** Annotations that only make sense on Kubernetes objects. */
const KUBERNETES_ONLY = new Set([
  'canary',
  'port',
  'protocol',
  'canary-token-secret',
  'patch-service',
  'pending-revision',
  'injected',
]);

const ALLOWED = Object.values(Annotation)
  .map((name) => name.slice(ANNOTATION_PREFIX.length))
  .filter((name) => !KUBERNETES_ONLY.has(name) && name !== 'check.');

function fail(field: string, message: string): never {
  throw new SwitchyardError(ErrorCode.ConfigInvalid, `config: ${field}: ${message}`, { field });
}

export interface RolloutBlockOptions {
  /** Allow intervals under 10 s (tests and demos only: `unsafeShortIntervals: true`). */
  readonly allowShortIntervals: boolean;
}

/** Parses a service's `rollout:` block (keys as the annotations, without prefix); errors name `field.key`. */
export function parseRolloutBlock(
  input: unknown,
  field: string,
  options: RolloutBlockOptions,
): RolloutSettings {
  if (input === undefined || input === null) return DEFAULT_SETTINGS;
  if (typeof input !== 'object' || Array.isArray(input))
    fail(field, 'expected a mapping of rollout settings');
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(input)) {
    const at = `${field}.${key}`;
    if (KUBERNETES_ONLY.has(key)) fail(at, 'applies to Kubernetes workloads only, not to file mode');
    let text: string;
    if (typeof value === 'string') text = value;
    else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
    else if (key === 'match' && Array.isArray(value)) text = JSON.stringify(value);
    else fail(at, `expected a string or number, got ${JSON.stringify(value)}`);
    annotations[`${ANNOTATION_PREFIX}${key}`] = text;
  }
  let parsed: ReturnType<typeof parseAnnotations>;
  try {
    // The parser sees the real interval even when short, so progress-deadline is checked against it.
    parsed = parseAnnotations(annotations, options.allowShortIntervals ? { minIntervalMs: 1 } : {});
  } catch (error) {
    if (!isSwitchyardError(error)) throw error;
    const key = (error.field ?? '').slice(ANNOTATION_PREFIX.length);
    const extra =
      key === 'interval' && !options.allowShortIntervals
        ? ' (unsafeShortIntervals: true allows less than 10s, for tests and demos only)'
        : '';
    fail(`${field}.${key}`, `${error.message.slice(ANNOTATION_PREFIX.length + key.length + 2)}${extra}`);
  }
  const unknown = parsed.warnings.find((warning) => warning.startsWith('unknown annotation'));
  if (unknown) {
    const key = /unknown annotation switchyard\.io\/(\S+)/.exec(unknown)?.[1] ?? '?';
    fail(`${field}.${key}`, `unknown setting; allowed: ${ALLOWED.join(', ')}, check.<name>`);
  }
  return parsed.settings;
}
