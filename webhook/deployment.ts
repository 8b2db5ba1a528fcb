// Deployment admission: validates the switchyard.io annotations, labels the pod template for the
// pod webhook, and runs the release gate (pause + pending revision) that holds a new template back
// until the controller has released it as a canary. Pure: works on a deep copy, never calls the API.

import {
  DEFAULT_SETTINGS,
  POD_ANNOTATIONS,
  Annotation,
  Label,
  OwnedAnnotation,
  PATCH_SERVICE_ANNOTATION,
  STABLE_TRACK,
  isOptedIn,
  parseAnnotations,
  podTemplateHash,
  progressDeadlineMs,
  type RolloutSettings,
} from '../api/annotations.js';
import { formatDurationMs } from '../api/duration.js';
import { isSwitchyardError } from '../api/errors.js';
import { isInjected } from './inject.js';
import { resolveAppPort } from './ports.js';
import type { AdmissionRequest } from './review.js';
import type { Deployment } from './types.js';

export const DeploymentReason = {
  notOptedIn: 'not_opted_in',
  subresource: 'subresource',
  notApplicable: 'not_applicable',
  controllerUpdate: 'controller_update',
  invalidAnnotation: 'invalid_annotation',
  invalidName: 'invalid_name',
  portNotFound: 'port_not_found',
  labelled: 'labelled',
  releaseGate: 'release_gate',
  gateHeld: 'gate_held',
  optedOut: 'opted_out',
} as const;
export type DeploymentReason = (typeof DeploymentReason)[keyof typeof DeploymentReason];

export type DeploymentDecision =
  | {
      readonly allowed: true;
      readonly reason: DeploymentReason;
      /** The mutated copy, or null when the object passes unchanged. */
      readonly deployment: Deployment | null;
      readonly warnings: readonly string[];
    }
  | {
      readonly allowed: false;
      readonly reason: DeploymentReason;
      readonly message: string;
      readonly warnings: readonly string[];
    };

export interface DeploymentOptions {
  /** `request.userInfo.username` values of the controller; their updates pass unchanged. */
  readonly controllerUsernames: readonly string[];
  /**
   * Whether control's analysis queries Prometheus (`--prometheus-url`), which custom checks
   * (`switchyard.io/check.*`) need. Absent (offline `switchyard inject`): not known, assumed.
   */
  readonly prometheusConfigured?: boolean;
}

/**
 * The controller creates Services `<name>-stable` and `<name>-canary`, and Service names are
 * DNS-1035 labels (≤ 63): the Deployment's name must leave room for the 7-character suffix.
 */
const SERVICE_SUFFIX_LENGTH = '-canary'.length;
const MAX_NAME_LENGTH = 63 - SERVICE_SUFFIX_LENGTH;
const NAME_PATTERN = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

function unchanged(reason: DeploymentReason, warnings: readonly string[] = []): DeploymentDecision {
  return { allowed: true, reason, deployment: null, warnings };
}

function denied(
  reason: DeploymentReason,
  message: string,
  warnings: readonly string[] = [],
): DeploymentDecision {
  return { allowed: false, reason, message, warnings };
}

/** Checks the shape the handler relies on; anything else is a bug upstream, reported as an internal error. */
export function asDeployment(value: unknown): Deployment {
  const spec = (value as Deployment | null)?.spec;
  if (typeof spec !== 'object' || spec === null || !Array.isArray(spec.template?.spec?.containers)) {
    throw new TypeError('object is not a Deployment with spec.template.spec.containers');
  }
  return value as Deployment;
}

function optOut(old: Deployment, next: Deployment): DeploymentDecision {
  const copy = structuredClone(next);
  const annotations = copy.metadata?.annotations ?? {};
  const selector = copy.spec.selector?.matchLabels ?? {};
  const heldByUs = old.metadata?.annotations?.[OwnedAnnotation.pendingRevision] !== undefined;
  if (heldByUs && copy.spec.paused === true) copy.spec.paused = false;
  delete annotations[OwnedAnnotation.pendingRevision];
  const template = copy.spec.template.metadata;
  for (const label of [Label.inject, Label.track, Label.service]) {
    if (template?.labels && selector[label] === undefined) delete template.labels[label];
  }
  if (template?.annotations) for (const name of POD_ANNOTATIONS) delete template.annotations[name];
  return { allowed: true, reason: DeploymentReason.optedOut, deployment: copy, warnings: [] };
}

/** The warning for custom checks that control, without Prometheus, can never evaluate. */
function checksWithoutPrometheus(settings: RolloutSettings): string {
  const names = settings.checks.map((check) => `${Annotation.checkPrefix}${check.name}`).join(', ');
  return `${names}: custom checks need control's --prometheus-url, which is not set; with the builtin provider they stay inconclusive and every rollout fails at its progress deadline (${formatDurationMs(progressDeadlineMs(settings))})`;
}

/** Admission of one Deployment CREATE/UPDATE. */
export function admitDeployment(request: AdmissionRequest, options: DeploymentOptions): DeploymentDecision {
  if (request.subResource !== null) return unchanged(DeploymentReason.subresource);
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE')
    return unchanged(DeploymentReason.notApplicable);
  if (request.username !== null && options.controllerUsernames.includes(request.username)) {
    return unchanged(DeploymentReason.controllerUpdate);
  }
  const next = asDeployment(request.object);
  const old =
    request.operation === 'UPDATE' && request.oldObject !== null ? asDeployment(request.oldObject) : null;
  const annotations = next.metadata?.annotations ?? {};
  const optedIn = isOptedIn(annotations);
  const wasOptedIn = old !== null && isOptedIn(old.metadata?.annotations);

  if (!optedIn && annotations[Annotation.canary] === undefined) {
    return old !== null && wasOptedIn ? optOut(old, next) : unchanged(DeploymentReason.notOptedIn);
  }
  let parsed: ReturnType<typeof parseAnnotations>;
  try {
    parsed = parseAnnotations(annotations);
  } catch (error) {
    if (!isSwitchyardError(error)) throw error;
    return denied(DeploymentReason.invalidAnnotation, error.message);
  }
  const warnings = [...parsed.warnings];
  if (!optedIn) {
    return old !== null && wasOptedIn ? optOut(old, next) : unchanged(DeploymentReason.notOptedIn, warnings);
  }

  const name = next.metadata?.name ?? request.name ?? '';
  if (name.length > MAX_NAME_LENGTH || !NAME_PATTERN.test(name)) {
    return denied(
      DeploymentReason.invalidName,
      `${Annotation.canary}: an opted-in Deployment needs a metadata.name of 1–${MAX_NAME_LENGTH} lower-case letters, digits and '-', starting with a letter (it becomes the ${Label.service} label and the Services ${JSON.stringify(`${name}-stable`)}, ${JSON.stringify(`${name}-canary`)}); got ${JSON.stringify(name)}`,
      warnings,
    );
  }
  // A template injected offline (`switchyard inject`) already handed the port's name to the router.
  const resolution = isInjected(next.spec.template)
    ? null
    : resolveAppPort(next.spec.template.spec, parsed.settings.port);
  if (resolution !== null && !resolution.ok) {
    return denied(DeploymentReason.portNotFound, resolution.message, warnings);
  }
  if (options.prometheusConfigured === false && parsed.settings.checks.length > 0) {
    warnings.push(checksWithoutPrometheus(parsed.settings));
  }
  if (resolution !== null && resolution.port.name === null && !parsed.settings.patchService) {
    warnings.push(
      `container port ${resolution.port.number} has no name, so a Service with numeric targetPort: ${resolution.port.number} bypasses the router; name the port (and target the name) or set ${PATCH_SERVICE_ANNOTATION}: "true" to let the controller repoint the Service`,
    );
  }

  const copy = structuredClone(next);
  const template = copy.spec.template;
  template.metadata ??= {};
  template.metadata.labels ??= {};
  const labels = template.metadata.labels;
  // User labels win: a user who set a label on purpose keeps it.
  labels[Label.inject] ??= 'true';
  labels[Label.track] ??= STABLE_TRACK;
  labels[Label.service] ??= name;
  // The pod webhook reads the port and protocol from the template: keep the copies equal to the
  // Deployment's annotations, also when those are removed, so a change reaches the pods through
  // the release gate.
  for (const name of POD_ANNOTATIONS) {
    const value = annotations[name];
    if (value !== undefined) {
      template.metadata.annotations ??= {};
      template.metadata.annotations[name] = value.trim();
    } else if (template.metadata.annotations?.[name] !== undefined) {
      delete template.metadata.annotations[name];
    }
  }

  let reason: DeploymentReason = DeploymentReason.labelled;
  const runningInjected =
    old !== null && wasOptedIn && old.spec.template.metadata?.labels?.[Label.inject] === 'true';
  if (old !== null && runningInjected) {
    const oldAnnotations = old.metadata?.annotations ?? {};
    const oldProtocol = oldAnnotations[Annotation.protocol]?.trim() ?? DEFAULT_SETTINGS.protocol;
    if (oldProtocol !== parsed.settings.protocol) {
      warnings.push(
        `${Annotation.protocol} changes from "${oldProtocol}" to "${parsed.settings.protocol}": during the rollout stable and canary routers speak different protocols and cannot forward requests between the tracks; to switch protocols, set ${Annotation.canary}: "disabled" first and opt in again afterwards`,
      );
    }
    const newHash = podTemplateHash(template);
    copy.metadata ??= {};
    copy.metadata.annotations ??= {};
    if (podTemplateHash(old.spec.template) !== newHash) {
      copy.spec.paused = true;
      copy.metadata.annotations[OwnedAnnotation.pendingRevision] = newHash;
      reason = DeploymentReason.releaseGate;
      warnings.push(
        `switchyard: new pod template ${newHash} is held back (spec.paused: true) while the controller releases it as a canary`,
      );
    } else if (old.spec.paused === true && oldAnnotations[OwnedAnnotation.pendingRevision] !== undefined) {
      // A re-apply that drops our pause or annotation must not release an unreleased template.
      copy.metadata.annotations[OwnedAnnotation.pendingRevision] ??=
        oldAnnotations[OwnedAnnotation.pendingRevision]!;
      if (copy.spec.paused !== true) {
        copy.spec.paused = true;
        reason = DeploymentReason.gateHeld;
        warnings.push(
          `switchyard: revision ${oldAnnotations[OwnedAnnotation.pendingRevision]} is still held by the release gate; use switchyard promote/abort (or remove ${Annotation.canary}) instead of unpausing`,
        );
      }
    }
  }
  return { allowed: true, reason, deployment: copy, warnings };
}
