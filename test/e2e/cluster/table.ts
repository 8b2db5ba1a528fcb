// Server-side printing: the `meta.k8s.io/v1 Table` kubectl asks for on `get`. Built-ins get the
// columns a real server prints for the types switchyard users look at (and NAME/AGE otherwise);
// custom resources get their CRD's additionalPrinterColumns.

import { getPath, isObject, type KubeObject, parseJsonPath } from './objects.js';
import type { PrinterColumn, ResourceType } from './resources.js';

export function humanAge(timestamp: unknown, now: number): string {
  if (typeof timestamp !== 'string') return '<unknown>';
  const seconds = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return `${minutes}m${seconds % 60 > 0 ? `${seconds % 60}s` : ''}`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

interface Column {
  definition: PrinterColumn;
  cell: (object: KubeObject) => string | number | null;
}

const text = (value: unknown): string => (value === undefined || value === null ? '<none>' : String(value));
const num = (value: unknown): number => (typeof value === 'number' ? value : 0);

function column(name: string, cell: Column['cell'], type = 'string', priority = 0): Column {
  return { definition: { name, type, jsonPath: '', priority, description: name }, cell };
}

function builtinColumns(type: ResourceType, now: number): Column[] {
  const age = column('Age', (object) => humanAge(object.metadata.creationTimestamp, now));
  const name = column('Name', (object) => object.metadata.name ?? '');
  const spec = (object: KubeObject) => (isObject(object.spec) ? object.spec : {});
  const status = (object: KubeObject) => (isObject(object.status) ? object.status : {});
  switch (`${type.group}/${type.resource}`) {
    case '/pods':
      return [
        name,
        column('Ready', (object) => {
          // Native sidecars (restartable init containers) count like containers, as kubectl ≥ 1.29 shows.
          const list = (value: unknown) => (Array.isArray(value) ? value.filter(isObject) : []);
          const sidecars = list(spec(object).initContainers).filter(
            (entry) => entry.restartPolicy === 'Always',
          );
          const sidecarNames = new Set(sidecars.map((entry) => entry.name));
          const statuses = [
            ...list(status(object).containerStatuses),
            ...list(status(object).initContainerStatuses).filter((entry) => sidecarNames.has(entry.name)),
          ];
          const total = list(spec(object).containers).length + sidecars.length;
          return `${statuses.filter((entry) => entry.ready === true).length}/${total}`;
        }),
        column('Status', (object) => podStatusText(object)),
        column(
          'Restarts',
          (object) => {
            const statuses = Array.isArray(status(object).containerStatuses)
              ? (status(object).containerStatuses as unknown[]).filter(isObject)
              : [];
            return statuses.reduce((sum, entry) => sum + num(entry.restartCount), 0);
          },
          'integer',
        ),
        age,
        column('IP', (object) => text(status(object).podIP), 'string', 1),
        column('Node', (object) => text(spec(object).nodeName), 'string', 1),
      ];
    case 'apps/deployments':
      return [
        name,
        column(
          'Ready',
          (object) => `${num(status(object).readyReplicas)}/${num(spec(object).replicas ?? 1)}`,
        ),
        column('Up-to-date', (object) => num(status(object).updatedReplicas), 'integer'),
        column('Available', (object) => num(status(object).availableReplicas), 'integer'),
        age,
        column('Containers', (object) => containerField(object, 'name'), 'string', 1),
        column('Images', (object) => containerField(object, 'image'), 'string', 1),
      ];
    case 'apps/replicasets':
      return [
        name,
        column('Desired', (object) => num(spec(object).replicas ?? 1), 'integer'),
        column('Current', (object) => num(status(object).replicas), 'integer'),
        column('Ready', (object) => num(status(object).readyReplicas), 'integer'),
        age,
      ];
    case '/services':
      return [
        name,
        column('Type', (object) => text(spec(object).type ?? 'ClusterIP')),
        column('Cluster-IP', (object) => text(spec(object).clusterIP)),
        column('External-IP', () => '<none>'),
        column('Port(s)', (object) =>
          (Array.isArray(spec(object).ports) ? (spec(object).ports as unknown[]).filter(isObject) : [])
            .map((port) => `${port.port}/${port.protocol ?? 'TCP'}`)
            .join(','),
        ),
        age,
      ];
    case '/namespaces':
      return [name, column('Status', (object) => text(status(object).phase ?? 'Active')), age];
    case '/events':
      return [
        column('Last Seen', (object) =>
          humanAge((object.lastTimestamp as string | undefined) ?? object.metadata.creationTimestamp, now),
        ),
        column('Type', (object) => text(object.type)),
        column('Reason', (object) => text(object.reason)),
        column('Object', (object) => {
          const involved = isObject(object.involvedObject) ? object.involvedObject : {};
          return `${String(involved.kind ?? '').toLowerCase()}/${String(involved.name ?? '')}`;
        }),
        column('Message', (object) => text(object.message)),
      ];
    case '/endpoints':
      return [
        name,
        column('Endpoints', (object) => {
          const subsets = Array.isArray(object.subsets) ? object.subsets.filter(isObject) : [];
          const entries = subsets.flatMap((subset) => {
            const addresses = Array.isArray(subset.addresses) ? subset.addresses.filter(isObject) : [];
            const ports = Array.isArray(subset.ports) ? subset.ports.filter(isObject) : [];
            return addresses.flatMap((address) => ports.map((port) => `${address.ip}:${port.port}`));
          });
          return entries.length > 0 ? entries.join(',') : '<none>';
        }),
        age,
      ];
    case '/secrets':
    case '/configmaps':
      return [
        name,
        ...(type.resource === 'secrets' ? [column('Type', (object) => text(object.type ?? 'Opaque'))] : []),
        column('Data', (object) => Object.keys(isObject(object.data) ? object.data : {}).length, 'integer'),
        age,
      ];
    case 'discovery.k8s.io/endpointslices':
      return [
        name,
        column('AddressType', (object) => text(object.addressType)),
        column('Ports', (object) => {
          const ports = Array.isArray(object.ports) ? object.ports.filter(isObject) : [];
          return ports.length > 0 ? ports.map((port) => String(port.port)).join(',') : '<unset>';
        }),
        column('Endpoints', (object) => {
          const endpoints = Array.isArray(object.endpoints) ? object.endpoints.filter(isObject) : [];
          const addresses = endpoints.flatMap((entry) =>
            Array.isArray(entry.addresses) ? entry.addresses.map(String) : [],
          );
          return addresses.length > 0 ? addresses.join(',') : '<unset>';
        }),
        age,
      ];
    case 'coordination.k8s.io/leases':
      return [name, column('Holder', (object) => text(spec(object).holderIdentity ?? '')), age];
    default:
      return [name, age];
  }
}

function containerField(object: KubeObject, field: string): string {
  const containers = getPath(object, ['spec', 'template', 'spec', 'containers']);
  return (Array.isArray(containers) ? containers.filter(isObject) : [])
    .map((entry) => String(entry[field]))
    .join(',');
}

function podStatusText(pod: KubeObject): string {
  if (pod.metadata.deletionTimestamp) return 'Terminating';
  const status = isObject(pod.status) ? pod.status : {};
  const spec = isObject(pod.spec) ? pod.spec : {};
  const list = (value: unknown) => (Array.isArray(value) ? value.filter(isObject) : []);
  const stateOf = (entry: Record<string, unknown>) => (isObject(entry.state) ? entry.state : {});
  const inits = list(spec.initContainers);
  const initStatuses = list(status.initContainerStatuses);
  let done = 0;
  for (const init of inits) {
    const entry = initStatuses.find((candidate) => candidate.name === init.name);
    const state = entry ? stateOf(entry) : {};
    const sidecar = init.restartPolicy === 'Always';
    if (isObject(state.terminated) && state.terminated.exitCode === 0) done++;
    else if (sidecar && isObject(state.running) && entry?.started === true) done++;
    else if (isObject(state.terminated)) return 'Init:Error';
    else if (isObject(state.waiting) && state.waiting.reason && state.waiting.reason !== 'PodInitializing') {
      return `Init:${String(state.waiting.reason)}`;
    }
  }
  if (done < inits.length) return `Init:${done}/${inits.length}`;
  for (const entry of list(status.containerStatuses)) {
    const state = stateOf(entry);
    if (isObject(state.waiting) && state.waiting.reason) return String(state.waiting.reason);
    if (isObject(state.terminated) && state.terminated.reason) return String(state.terminated.reason);
  }
  return status.phase === 'Succeeded' ? 'Completed' : text(status.phase ?? 'Pending');
}

function customColumns(columns: readonly PrinterColumn[], now: number): Column[] {
  const result: Column[] = [
    {
      definition: { name: 'Name', type: 'string', format: 'name', jsonPath: '.metadata.name' },
      cell: (object) => object.metadata.name ?? '',
    },
  ];
  for (const printer of columns) {
    const path = parseJsonPath(printer.jsonPath);
    result.push({
      definition: printer,
      cell: (object) => {
        const value = getPath(object, path);
        if (value === undefined || value === null) return null;
        if (printer.type === 'date') return humanAge(value, now);
        if (typeof value === 'object') return JSON.stringify(value);
        return printer.type === 'integer' || printer.type === 'number' ? Number(value) : String(value);
      },
    });
  }
  if (!columns.some((printer) => printer.name.toLowerCase() === 'age')) {
    result.push(column('Age', (object) => humanAge(object.metadata.creationTimestamp, now)));
  }
  return result;
}

export function toTable(
  type: ResourceType,
  objects: readonly KubeObject[],
  resourceVersion: string,
  includeObject: string,
  now: number,
): Record<string, unknown> {
  const columns = type.custom ? customColumns(type.printerColumns ?? [], now) : builtinColumns(type, now);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: columns.map(({ definition }) => ({
      name: definition.name,
      type: definition.type,
      format: definition.format ?? (definition.name === 'Name' ? 'name' : ''),
      description: definition.description ?? '',
      priority: definition.priority ?? 0,
    })),
    rows: objects.map((object) => ({
      cells: columns.map(({ cell }) => cell(object)),
      object:
        includeObject === 'Object'
          ? object
          : includeObject === 'None'
            ? undefined
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata },
    })),
  };
}
