// The resource types the fake API server knows: built-ins with their discovery data, plus the
// types CustomResourceDefinitions register at run time. Discovery documents are built from here.

import { isObject, type KubeObject } from './objects.js';

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  readonly verbs: readonly string[];
  readonly status: boolean;
  readonly scale: boolean;
  /** Custom resources: strategic merge patch is refused, printer columns come from the CRD. */
  readonly custom: boolean;
  readonly printerColumns?: readonly PrinterColumn[];
}

const CRUD = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function builtin(
  group: string,
  version: string,
  resource: string,
  kind: string,
  options: Partial<
    Pick<ResourceType, 'namespaced' | 'shortNames' | 'status' | 'scale' | 'verbs' | 'categories'>
  > = {},
): ResourceType {
  return {
    group,
    version,
    resource,
    singular: kind.toLowerCase(),
    kind,
    namespaced: options.namespaced ?? true,
    shortNames: options.shortNames ?? [],
    categories: options.categories ?? [],
    verbs: options.verbs ?? CRUD,
    status: options.status ?? false,
    scale: options.scale ?? false,
    custom: false,
  };
}

export const BUILTIN_TYPES: readonly ResourceType[] = [
  builtin('', 'v1', 'namespaces', 'Namespace', { namespaced: false, shortNames: ['ns'], status: true }),
  builtin('', 'v1', 'pods', 'Pod', { shortNames: ['po'], status: true, categories: ['all'] }),
  builtin('', 'v1', 'services', 'Service', { shortNames: ['svc'], status: true, categories: ['all'] }),
  builtin('', 'v1', 'endpoints', 'Endpoints', { shortNames: ['ep'] }),
  builtin('', 'v1', 'secrets', 'Secret'),
  builtin('', 'v1', 'configmaps', 'ConfigMap', { shortNames: ['cm'] }),
  builtin('', 'v1', 'events', 'Event', { shortNames: ['ev'] }),
  builtin('', 'v1', 'serviceaccounts', 'ServiceAccount', { shortNames: ['sa'] }),
  builtin('apps', 'v1', 'deployments', 'Deployment', {
    shortNames: ['deploy'],
    status: true,
    scale: true,
    categories: ['all'],
  }),
  builtin('apps', 'v1', 'replicasets', 'ReplicaSet', {
    shortNames: ['rs'],
    status: true,
    scale: true,
    categories: ['all'],
  }),
  builtin('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice'),
  builtin('coordination.k8s.io', 'v1', 'leases', 'Lease'),
  builtin('rbac.authorization.k8s.io', 'v1', 'roles', 'Role'),
  builtin('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding'),
  builtin('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', { namespaced: false }),
  builtin('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', {
    namespaced: false,
  }),
  builtin('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', {
    shortNames: ['pdb'],
    status: true,
  }),
  builtin('networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', { shortNames: ['netpol'] }),
  builtin(
    'admissionregistration.k8s.io',
    'v1',
    'mutatingwebhookconfigurations',
    'MutatingWebhookConfiguration',
    {
      namespaced: false,
    },
  ),
  builtin(
    'admissionregistration.k8s.io',
    'v1',
    'validatingwebhookconfigurations',
    'ValidatingWebhookConfiguration',
    { namespaced: false },
  ),
  builtin('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', {
    namespaced: false,
    shortNames: ['crd', 'crds'],
    status: true,
  }),
  builtin('authentication.k8s.io', 'v1', 'tokenreviews', 'TokenReview', {
    namespaced: false,
    verbs: ['create'],
  }),
];

export function apiVersionOf(type: Pick<ResourceType, 'group' | 'version'>): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

export function typeKey(type: Pick<ResourceType, 'group' | 'resource'>): string {
  return `${type.group}/${type.resource}`;
}

/** Builds the resource types a CRD (apiextensions.k8s.io/v1) declares, one per served version. */
export function typesFromCrd(crd: KubeObject): ResourceType[] {
  const spec = crd.spec;
  if (!isObject(spec) || !isObject(spec.names)) return [];
  const names = spec.names as Record<string, unknown>;
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObject) : [];
  return versions
    .filter((version) => version.served !== false)
    .map((version) => {
      const subresources = isObject(version.subresources) ? version.subresources : {};
      return {
        group: String(spec.group),
        version: String(version.name),
        resource: String(names.plural),
        singular: String(names.singular ?? String(names.kind).toLowerCase()),
        kind: String(names.kind),
        namespaced: spec.scope !== 'Cluster',
        shortNames: Array.isArray(names.shortNames) ? names.shortNames.map(String) : [],
        categories: Array.isArray(names.categories) ? names.categories.map(String) : [],
        verbs: CRUD,
        status: 'status' in subresources,
        scale: false,
        custom: true,
        printerColumns: Array.isArray(version.additionalPrinterColumns)
          ? (version.additionalPrinterColumns.filter(isObject) as unknown as PrinterColumn[])
          : [],
      };
    });
}

export function apiResource(type: ResourceType): Record<string, unknown> {
  return {
    name: type.resource,
    singularName: type.singular,
    namespaced: type.namespaced,
    kind: type.kind,
    verbs: type.verbs,
    ...(type.shortNames.length > 0 ? { shortNames: type.shortNames } : {}),
    ...(type.categories.length > 0 ? { categories: type.categories } : {}),
  };
}

export function apiResourceList(
  types: readonly ResourceType[],
  groupVersion: string,
): Record<string, unknown> {
  const resources: Record<string, unknown>[] = [];
  for (const type of types) {
    resources.push(apiResource(type));
    if (type.status) {
      resources.push({
        name: `${type.resource}/status`,
        singularName: '',
        namespaced: type.namespaced,
        kind: type.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
    if (type.scale) {
      resources.push({
        name: `${type.resource}/scale`,
        singularName: '',
        namespaced: type.namespaced,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: ['get', 'patch', 'update'],
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}
