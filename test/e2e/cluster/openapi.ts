// Just enough OpenAPI v3 for kubectl: per group-version documents whose PATCH operations carry
// the `fieldValidation` query parameter (so kubectl leaves validation to the server instead of
// downloading /openapi/v2 schemas) and no strategic-merge request body (so `kubectl apply`
// computes its patch from the types compiled into kubectl, or a JSON merge patch for CRs).

import { createHash } from 'node:crypto';
import { apiVersionOf, type ResourceType } from './resources.js';

function groupVersionPath(type: ResourceType): string {
  return type.group === '' ? `api/${type.version}` : `apis/${type.group}/${type.version}`;
}

export function openApiRoot(types: readonly ResourceType[]): Record<string, unknown> {
  const hash = createHash('sha256')
    .update(JSON.stringify(types.map((type) => [type.group, type.version, type.resource])))
    .digest('hex')
    .slice(0, 32)
    .toUpperCase();
  const paths: Record<string, unknown> = {};
  for (const type of types) {
    const path = groupVersionPath(type);
    paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
  }
  return { paths };
}

export function openApiGroupVersion(
  types: readonly ResourceType[],
  path: string,
): Record<string, unknown> | undefined {
  const members = types.filter((type) => groupVersionPath(type) === path);
  if (members.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const type of members) {
    const prefix = `/${path}${type.namespaced ? '/namespaces/{namespace}' : ''}/${type.resource}`;
    const gvk = { group: type.group, version: type.version, kind: type.kind };
    const parameters = [
      { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
    ];
    paths[`${prefix}/{name}`] = {
      get: {
        operationId: `read${type.kind}`,
        'x-kubernetes-action': 'get',
        'x-kubernetes-group-version-kind': gvk,
      },
      put: {
        operationId: `replace${type.kind}`,
        'x-kubernetes-action': 'put',
        'x-kubernetes-group-version-kind': gvk,
        parameters,
      },
      patch: {
        operationId: `patch${type.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': gvk,
        parameters,
      },
      delete: {
        operationId: `delete${type.kind}`,
        'x-kubernetes-action': 'delete',
        'x-kubernetes-group-version-kind': gvk,
      },
    };
    paths[prefix] = {
      post: {
        operationId: `create${type.kind}`,
        'x-kubernetes-action': 'post',
        'x-kubernetes-group-version-kind': gvk,
        parameters,
      },
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: `fake ${apiVersionOf(members[0] as ResourceType)}` },
    paths,
    components: { schemas: {} },
  };
}

function field(number: number, payload: Buffer): Buffer {
  const lengthBytes: number[] = [];
  let length = payload.length;
  do {
    let byte = length & 0x7f;
    length >>>= 7;
    if (length > 0) byte |= 0x80;
    lengthBytes.push(byte);
  } while (length > 0);
  return Buffer.concat([Buffer.from([(number << 3) | 2, ...lengthBytes]), payload]);
}

/**
 * `/openapi/v2` as kubectl downloads it (gnostic OpenAPIv2 protobuf): a document with no
 * definitions. kubectl only falls back to it for client-side validation (e.g. of a `kind: List`),
 * and with no schema for a kind it skips validating that kind.
 */
export function openApiV2Protobuf(version: string): Buffer {
  const info = Buffer.concat([field(1, Buffer.from('Kubernetes')), field(2, Buffer.from(version))]);
  return Buffer.concat([field(1, Buffer.from('2.0')), field(2, info), field(8, Buffer.alloc(0))]);
}
