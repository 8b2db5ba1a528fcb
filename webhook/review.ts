// AdmissionReview v1 at the edge: untrusted JSON in, a typed request out (or a SwitchyardError
// naming what is wrong), and the response envelope back. Nothing past this file sees raw bodies.

import { ErrorCode, SwitchyardError } from '../api/errors.js';

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly resource: { readonly group: string; readonly version: string; readonly resource: string } | null;
  readonly subResource: string | null;
  readonly name: string | null;
  readonly namespace: string | null;
  readonly operation: Operation;
  readonly username: string | null;
  readonly object: unknown;
  readonly oldObject: unknown;
  readonly dryRun: boolean;
}

export interface PatchOperation {
  readonly op: string;
  readonly path: string;
  readonly value?: unknown;
  readonly from?: string;
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: 'JSONPatch';
  /** base64 of the JSON Patch. */
  readonly patch?: string;
  readonly warnings?: readonly string[];
  readonly status?: { readonly code: number; readonly reason: string; readonly message: string };
}

export interface AdmissionReviewResponse {
  readonly apiVersion: 'admission.k8s.io/v1';
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

const OPERATIONS: readonly string[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];
const MAX_UID_LENGTH = 128;

function bad(field: string, message: string): never {
  throw new SwitchyardError(ErrorCode.AdmissionReviewInvalid, `AdmissionReview: ${field}: ${message}`, {
    field,
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown, field: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') bad(field, 'expected a string');
  return value;
}

/** Validates an AdmissionReview v1 request body. Throws SwitchyardError(AdmissionReviewInvalid). */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isObject(body)) bad('$', 'expected a JSON object');
  if (body.apiVersion !== 'admission.k8s.io/v1') {
    bad('apiVersion', `expected "admission.k8s.io/v1", got ${JSON.stringify(body.apiVersion) ?? 'nothing'}`);
  }
  if (body.kind !== 'AdmissionReview') bad('kind', 'expected "AdmissionReview"');
  const request = body.request;
  if (!isObject(request)) bad('request', 'expected an object');
  const uid = request.uid;
  if (typeof uid !== 'string' || uid.length === 0 || uid.length > MAX_UID_LENGTH) {
    bad('request.uid', `expected a non-empty string of at most ${MAX_UID_LENGTH} characters`);
  }
  const kind = request.kind;
  if (
    !isObject(kind) ||
    typeof kind.kind !== 'string' ||
    typeof kind.version !== 'string' ||
    (kind.group !== undefined && typeof kind.group !== 'string')
  ) {
    bad('request.kind', 'expected {group, version, kind}');
  }
  const operation = request.operation;
  if (typeof operation !== 'string' || !OPERATIONS.includes(operation)) {
    bad('request.operation', `expected one of ${OPERATIONS.join(', ')}`);
  }
  const resource = request.resource;
  const userInfo = request.userInfo;
  if (request.dryRun !== undefined && request.dryRun !== null && typeof request.dryRun !== 'boolean') {
    bad('request.dryRun', 'expected a boolean');
  }
  return Object.freeze({
    uid,
    kind: Object.freeze({
      group: (kind.group as string | undefined) ?? '',
      version: kind.version,
      kind: kind.kind,
    }),
    resource:
      isObject(resource) && typeof resource.resource === 'string'
        ? Object.freeze({
            group: typeof resource.group === 'string' ? resource.group : '',
            version: typeof resource.version === 'string' ? resource.version : '',
            resource: resource.resource,
          })
        : null,
    subResource: optionalString(request.subResource, 'request.subResource'),
    name: optionalString(request.name, 'request.name'),
    namespace: optionalString(request.namespace, 'request.namespace'),
    operation: operation as Operation,
    username: isObject(userInfo) ? optionalString(userInfo.username, 'request.userInfo.username') : null,
    object: request.object ?? null,
    oldObject: request.oldObject ?? null,
    dryRun: request.dryRun === true,
  });
}

export function reviewResponse(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export function allow(
  uid: string,
  patch: readonly PatchOperation[],
  warnings: readonly string[],
): AdmissionResponse {
  return {
    uid,
    allowed: true,
    ...(patch.length > 0
      ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
      : {}),
    ...(warnings.length > 0 ? { warnings: [...warnings] } : {}),
  };
}

export function deny(uid: string, message: string, warnings: readonly string[] = []): AdmissionResponse {
  return {
    uid,
    allowed: false,
    status: { code: 422, reason: 'Invalid', message },
    ...(warnings.length > 0 ? { warnings: [...warnings] } : {}),
  };
}
