// The one entry point for every AdmissionReview: dispatches on kind, diffs mutated copies into a
// JSON Patch and turns any internal error into "allowed, with a warning" — a webhook bug must never
// stop a cluster from creating pods. Pure; the server adds logging and metrics from the decision.

import { errorMessage } from '../api/errors.js';
import { type InjectConfig, ROUTER_CONTAINER_NAME } from './config.js';
import { admitDeployment, type DeploymentOptions } from './deployment.js';
import { injectPod } from './inject.js';
import { diffPatch } from './patch.js';
import { type AdmissionRequest, type AdmissionResponse, type PatchOperation, allow, deny } from './review.js';
import type { Pod } from './types.js';

export interface AdmitOptions extends DeploymentOptions {
  readonly inject: InjectConfig;
}

export type Resource = 'pod' | 'deployment' | 'other';
export type Outcome = 'patched' | 'unchanged' | 'skipped' | 'denied' | 'error';

export interface AdmissionDecision {
  readonly response: AdmissionResponse;
  readonly resource: Resource;
  readonly outcome: Outcome;
  /** Stable snake_case reason (skip reason, gate decision, `internal_error`). */
  readonly reason: string;
  /** `namespace/name`, or `namespace/generateName*` for pods not named yet. */
  readonly subject: string;
  readonly error?: unknown;
}

export const DEFAULT_CONTROLLER_USERNAME = 'system:serviceaccount:switchyard-system:switchyard-control';

function subjectOf(request: AdmissionRequest): string {
  const metadata = (request.object as { metadata?: { name?: unknown; generateName?: unknown } } | null)
    ?.metadata;
  const name =
    request.name ??
    (typeof metadata?.name === 'string' && metadata.name !== '' ? metadata.name : null) ??
    (typeof metadata?.generateName === 'string' ? `${metadata.generateName}*` : '(unnamed)');
  return `${request.namespace ?? '(no namespace)'}/${name}`;
}

function asPod(value: unknown): Pod {
  const spec = (value as Pod | null)?.spec;
  if (typeof spec !== 'object' || spec === null || !Array.isArray(spec.containers)) {
    throw new TypeError('object is not a Pod with spec.containers');
  }
  for (const container of [...spec.containers, ...(spec.initContainers ?? [])]) {
    if (typeof container !== 'object' || container === null || typeof container.name !== 'string') {
      throw new TypeError('a container has no name');
    }
  }
  return value as Pod;
}

function resourceOf(request: AdmissionRequest): Resource {
  if (request.kind.group === '' && request.kind.kind === 'Pod') return 'pod';
  if (request.kind.group === 'apps' && request.kind.kind === 'Deployment') return 'deployment';
  return 'other';
}

/**
 * The diff, except that a native-sidecar router prepended to initContainers becomes one `add` at
 * index 0 instead of an element-by-element rewrite of the user's init containers.
 */
function injectionPatch(before: Pod, after: Pod): PatchOperation[] {
  const router = after.spec.initContainers?.[0];
  if (router?.name !== ROUTER_CONTAINER_NAME) return diffPatch(before, after);
  const rest = structuredClone(after);
  rest.spec.initContainers = rest.spec.initContainers!.slice(1);
  if (before.spec.initContainers === undefined) delete rest.spec.initContainers;
  const operations = diffPatch(before, rest);
  operations.push(
    before.spec.initContainers === undefined
      ? { op: 'add', path: '/spec/initContainers', value: [router] }
      : { op: 'add', path: '/spec/initContainers/0', value: router },
  );
  return operations;
}

function admitPod(request: AdmissionRequest, options: AdmitOptions, subject: string): AdmissionDecision {
  const base = { resource: 'pod' as const, subject };
  if (request.operation !== 'CREATE' || request.subResource !== null) {
    return { ...base, response: allow(request.uid, [], []), outcome: 'unchanged', reason: 'not_a_create' };
  }
  const pod = asPod(request.object);
  const result = injectPod(pod, options.inject);
  if (!result.injected) {
    const warnings =
      result.message === null
        ? []
        : [`switchyard: router not injected into pod ${subject} (${result.reason}): ${result.message}`];
    return { ...base, response: allow(request.uid, [], warnings), outcome: 'skipped', reason: result.reason };
  }
  return {
    ...base,
    response: allow(request.uid, injectionPatch(pod, result.pod), result.warnings),
    outcome: 'patched',
    reason: 'injected',
  };
}

function admitDeploymentReview(
  request: AdmissionRequest,
  options: AdmitOptions,
  subject: string,
): AdmissionDecision {
  const base = { resource: 'deployment' as const, subject };
  const decision = admitDeployment(request, options);
  if (!decision.allowed) {
    return {
      ...base,
      response: deny(
        request.uid,
        `switchyard: Deployment ${subject}: ${decision.message}`,
        decision.warnings,
      ),
      outcome: 'denied',
      reason: decision.reason,
    };
  }
  const patch = decision.deployment === null ? [] : diffPatch(request.object, decision.deployment);
  return {
    ...base,
    response: allow(request.uid, patch, decision.warnings),
    outcome: patch.length > 0 ? 'patched' : 'unchanged',
    reason: decision.reason,
  };
}

/** Answers one parsed AdmissionRequest. Never throws. */
export function admit(request: AdmissionRequest, options: AdmitOptions): AdmissionDecision {
  const subject = subjectOf(request);
  const resource = resourceOf(request);
  try {
    if (resource === 'pod') return admitPod(request, options, subject);
    if (resource === 'deployment') return admitDeploymentReview(request, options, subject);
    return {
      resource,
      subject,
      response: allow(request.uid, [], []),
      outcome: 'unchanged',
      reason: 'not_handled',
    };
  } catch (error) {
    const what = resource === 'pod' ? 'router not injected into pod' : `${resource} not mutated`;
    return {
      resource,
      subject,
      response: allow(
        request.uid,
        [],
        [`switchyard: ${what} ${subject}: internal error (${errorMessage(error)}); admitted unchanged`],
      ),
      outcome: 'error',
      reason: 'internal_error',
      error,
    };
  }
}
