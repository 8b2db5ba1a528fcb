// The three PATCH flavours kubectl and client-node send: RFC 6902 JSON patch, RFC 7386 merge patch,
// and a simplified strategic merge patch (lists of objects merged by their Kubernetes merge key,
// `$patch`/`$setElementOrder`/`$retainKeys` directives honoured or ignored as noted).

import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { ApiError, clone, isObject } from './objects.js';

export function applyJsonPatch<T>(document: T, operations: unknown): T {
  if (!Array.isArray(operations)) throw new ApiError(400, 'BadRequest', 'json patch must be an array');
  try {
    return fastJsonPatch.applyPatch(clone(document), operations as Operation[], true, false).newDocument;
  } catch (error) {
    throw new ApiError(
      422,
      'Invalid',
      `the server rejected our request due to an error in our request: ${String(error)}`,
    );
  }
}

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: Record<string, unknown> = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

/** Merge keys of the lists built-in types mark `patchStrategy: merge` (k8s.io/api tags). */
function mergeKeyFor(field: string, items: readonly unknown[]): string | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
    case 'hostAliases':
      return field === 'hostAliases' ? 'ip' : 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'volumeDevices':
      return 'devicePath';
    case 'ports': {
      const sample = items.find(isObject);
      if (sample && 'containerPort' in sample) return 'containerPort';
      return 'port';
    }
    case 'conditions':
      return 'type';
    case 'ownerReferences':
      return 'uid';
    case 'tolerations':
    case 'topologySpreadConstraints':
      return undefined;
    default:
      return undefined;
  }
}

const PRIMITIVE_MERGE_LISTS = new Set(['finalizers']);

function strategicList(field: string, original: unknown, patch: unknown[]): unknown[] {
  const base = Array.isArray(original) ? original : [];
  const key = mergeKeyFor(field, [...patch, ...base]);
  if (PRIMITIVE_MERGE_LISTS.has(field)) {
    const merged = [...base];
    for (const item of patch) if (!merged.includes(item)) merged.push(item);
    return merged;
  }
  if (!key) {
    return patch.filter((item) => !(isObject(item) && '$patch' in item)).map((item) => clone(item));
  }
  if (patch.some((item) => isObject(item) && item.$patch === 'replace')) {
    return patch.filter((item) => !(isObject(item) && item.$patch === 'replace')).map((item) => clone(item));
  }
  const result = base.map((item) => clone(item));
  for (const item of patch) {
    if (!isObject(item)) continue;
    const index = result.findIndex((existing) => isObject(existing) && existing[key] === item[key]);
    if (item.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    if (index >= 0) result[index] = strategicMerge(result[index], item);
    else result.push(strategicMerge({}, item));
  }
  return result;
}

function orderBy(list: unknown[], order: unknown, key: string | undefined): unknown[] {
  if (!Array.isArray(order) || !key) return list;
  const position = (item: unknown) => {
    const index = order.findIndex((entry) => isObject(entry) && isObject(item) && entry[key] === item[key]);
    return index < 0 ? order.length : index;
  };
  return [...list].sort((a, b) => position(a) - position(b));
}

export function strategicMerge(original: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _ignored, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const result: Record<string, unknown> = isObject(original) ? clone(original) : {};
  const retainKeys = Array.isArray(patch.$retainKeys) ? (patch.$retainKeys as string[]) : undefined;
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const current = result[field];
      if (Array.isArray(current) && Array.isArray(value)) {
        result[field] = current.filter((item) => !value.includes(item));
      }
      continue;
    }
    if (value === null) {
      delete result[key];
    } else if (Array.isArray(value)) {
      const merged = strategicList(key, result[key], value);
      const order = patch[`$setElementOrder/${key}`];
      result[key] = orderBy(merged, order, mergeKeyFor(key, merged));
    } else if (isObject(value)) {
      const merged = strategicMerge(result[key], value);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else {
      result[key] = value;
    }
  }
  if (retainKeys) {
    for (const key of Object.keys(result)) if (!retainKeys.includes(key)) delete result[key];
  }
  return result;
}

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export function patchTypeOf(contentType: string | undefined): PatchType {
  const type = (contentType ?? '').split(';')[0]?.trim();
  switch (type) {
    case 'application/json-patch+json':
      return 'json';
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+json':
      return 'apply';
    default:
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
      );
  }
}
