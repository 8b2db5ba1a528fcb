// Services on loopback: the Endpoints/EndpointSlice controller (ready pods matching the selector,
// targetPort resolved by name or number per pod) and a kube-proxy stand-in — one TCP proxy per
// Service port, listening on the Service's ClusterIP (a real 127.X.Y.Z address) and balancing
// round-robin over the ready endpoints. Service "DNS" maps names to ClusterIPs (see dns.ts).

import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { type Api, internalContext } from '../api.js';
import { ApiError, clone, isObject, type KubeObject } from '../objects.js';
import type { ResourceType } from '../resources.js';
import { mapSelectorMatcher } from '../selectors.js';
import { isPodReady } from './workloads.js';

type Obj = Record<string, unknown>;
const asObj = (value: unknown): Obj => (isObject(value) ? value : {});
const asList = (value: unknown): Obj[] => (Array.isArray(value) ? value.filter(isObject) : []);

interface ServicePort {
  name?: string;
  port: number;
  protocol: string;
  targetPort: number | string;
}

function podPort(pod: KubeObject, target: number | string): number | undefined {
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  const spec = asObj(pod.spec);
  for (const container of [...asList(spec.initContainers), ...asList(spec.containers)]) {
    for (const port of asList(container.ports)) {
      if (port.name === target && typeof port.containerPort === 'number') return port.containerPort;
    }
  }
  return undefined;
}

export interface ResolvedEndpoint {
  readonly host: string;
  readonly port: number;
}

interface Proxy {
  server: Server;
  sockets: Set<Socket>;
  key: string;
}

export class ServiceNetworking {
  readonly #services: ResourceType;
  readonly #pods: ResourceType;
  readonly #endpoints: ResourceType;
  readonly #slices: ResourceType;
  /** `ns/name/port` → ready endpoints, refreshed on every reconcile. */
  readonly #ready = new Map<string, ResolvedEndpoint[]>();
  readonly #roundRobin = new Map<string, number>();
  readonly #proxies = new Map<string, Proxy>();
  readonly #managedEndpoints = new Set<string>();

  constructor(
    private readonly api: Api,
    private readonly log: (line: string) => void,
  ) {
    const find = (group: string, version: string, resource: string) => {
      const type = api.findType(group, version, resource);
      if (!type) throw new Error(`fake cluster: type ${resource} missing`);
      return type;
    };
    this.#services = find('', 'v1', 'services');
    this.#pods = find('', 'v1', 'pods');
    this.#endpoints = find('', 'v1', 'endpoints');
    this.#slices = find('discovery.k8s.io', 'v1', 'endpointslices');
  }

  /** One ready endpoint of Service `namespace/name` port `port`, round-robin. */
  pick(namespace: string, name: string, port: number): ResolvedEndpoint | undefined {
    const key = `${namespace}/${name}/${port}`;
    const ready = this.#ready.get(key) ?? [];
    if (ready.length === 0) return undefined;
    const next = (this.#roundRobin.get(key) ?? 0) % ready.length;
    this.#roundRobin.set(key, next + 1);
    return ready[next];
  }

  /** `name[.ns[.svc[.cluster.local]]]` → ClusterIP of every Service, for the DNS hosts file. */
  hosts(): Record<string, string> {
    const hosts: Record<string, string> = {};
    for (const service of this.api.list(this.#services, undefined).items) {
      const ip = asObj(service.spec).clusterIP;
      if (typeof ip !== 'string' || ip === 'None') continue;
      const base = `${service.metadata.name}.${service.metadata.namespace}`;
      hosts[base] = ip;
      hosts[`${base}.svc`] = ip;
      hosts[`${base}.svc.cluster.local`] = ip;
    }
    return hosts;
  }

  async reconcile(): Promise<void> {
    const services = this.api.list(this.#services, undefined).items;
    const live = new Set<string>();
    const ready = new Map<string, ResolvedEndpoint[]>();
    for (const service of services) {
      const namespace = service.metadata.namespace ?? 'default';
      const name = service.metadata.name ?? '';
      live.add(`${namespace}/${name}`);
      const spec = asObj(service.spec);
      const ports = asList(spec.ports) as unknown as ServicePort[];
      if (spec.selector === undefined || !isObject(spec.selector)) {
        // Without a selector the user manages Endpoints; route to what they list.
        const endpoints = this.api.tryGet(this.#endpoints, namespace, name);
        for (const subset of asList(endpoints?.subsets)) {
          const subsetPorts = asList(subset.ports);
          for (const port of ports) {
            const match =
              subsetPorts.find((entry) => entry.name === port.name) ??
              (subsetPorts.length === 1 ? subsetPorts[0] : undefined);
            if (!match || typeof match.port !== 'number') continue;
            const key = `${namespace}/${name}/${port.port}`;
            const list = ready.get(key) ?? [];
            for (const address of asList(subset.addresses))
              list.push({ host: String(address.ip), port: match.port });
            ready.set(key, list);
          }
        }
        continue;
      }
      const selector = mapSelectorMatcher(spec.selector);
      const pods = this.api
        .list(this.#pods, namespace)
        .items.filter(
          (pod) =>
            selector(pod.metadata.labels ?? {}) &&
            typeof asObj(pod.status).podIP === 'string' &&
            !['Succeeded', 'Failed'].includes(String(asObj(pod.status).phase)),
        );
      const subsets = new Map<string, { addresses: Obj[]; notReadyAddresses: Obj[]; ports: Obj[] }>();
      const sliceEndpoints: Obj[] = [];
      for (const pod of pods) {
        const resolved = ports.map((port) => ({ port, target: podPort(pod, port.targetPort) }));
        const usable = resolved.filter((entry) => entry.target !== undefined);
        if (usable.length === 0) continue;
        const isReady = isPodReady(pod) && !pod.metadata.deletionTimestamp;
        const ip = String(asObj(pod.status).podIP);
        const address = {
          ip,
          nodeName: asObj(pod.spec).nodeName,
          targetRef: { kind: 'Pod', namespace, name: pod.metadata.name, uid: pod.metadata.uid },
        };
        const signature = JSON.stringify(usable.map((entry) => [entry.port.name, entry.target]));
        const subset = subsets.get(signature) ?? {
          addresses: [],
          notReadyAddresses: [],
          ports: usable.map((entry) => ({
            ...(entry.port.name ? { name: entry.port.name } : {}),
            port: entry.target,
            protocol: entry.port.protocol ?? 'TCP',
          })),
        };
        (isReady ? subset.addresses : subset.notReadyAddresses).push(address);
        subsets.set(signature, subset);
        sliceEndpoints.push({
          addresses: [ip],
          conditions: {
            ready: isReady,
            serving: isPodReady(pod),
            terminating: Boolean(pod.metadata.deletionTimestamp),
          },
          nodeName: asObj(pod.spec).nodeName,
          targetRef: address.targetRef,
        });
        if (isReady) {
          for (const entry of usable) {
            const key = `${namespace}/${name}/${entry.port.port}`;
            const list = ready.get(key) ?? [];
            list.push({ host: ip, port: entry.target as number });
            ready.set(key, list);
          }
        }
      }
      const subsetList = [...subsets.values()].map((subset) => ({
        ...(subset.addresses.length > 0 ? { addresses: subset.addresses } : {}),
        ...(subset.notReadyAddresses.length > 0 ? { notReadyAddresses: subset.notReadyAddresses } : {}),
        ports: subset.ports,
      }));
      await this.#writeEndpoints(service, subsetList);
      // Slice ports carry the resolved target ports (of the largest group of pods).
      const largest = [...subsets.values()].sort(
        (a, b) =>
          b.addresses.length + b.notReadyAddresses.length - (a.addresses.length + a.notReadyAddresses.length),
      )[0];
      await this.#writeSlice(service, sliceEndpoints, ports, largest?.ports);
    }
    this.#ready.clear();
    for (const [key, value] of ready) this.#ready.set(key, value);
    for (const key of [...this.#managedEndpoints]) {
      if (live.has(key)) continue;
      this.#managedEndpoints.delete(key);
      const [namespace, name] = key.split('/');
      try {
        await this.api.delete(
          this.#endpoints,
          namespace,
          name ?? '',
          {},
          internalContext('endpoint-controller'),
        );
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 404)) throw error;
      }
    }
    await this.#syncProxies(services);
  }

  async #writeEndpoints(service: KubeObject, subsets: Obj[]): Promise<void> {
    const namespace = service.metadata.namespace ?? 'default';
    const name = service.metadata.name ?? '';
    const context = internalContext('endpoint-controller');
    this.#managedEndpoints.add(`${namespace}/${name}`);
    const existing = this.api.tryGet(this.#endpoints, namespace, name);
    if (!existing) {
      try {
        await this.api.create(
          this.#endpoints,
          namespace,
          { metadata: { name, namespace, labels: { ...service.metadata.labels } }, subsets },
          context,
        );
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 409)) throw error;
      }
      return;
    }
    if (JSON.stringify(existing.subsets ?? []) === JSON.stringify(subsets)) return;
    await this.api.update(this.#endpoints, namespace, name, (current) => ({ ...current, subsets }), context);
  }

  async #writeSlice(
    service: KubeObject,
    endpoints: Obj[],
    ports: ServicePort[],
    resolved: Obj[] | undefined,
  ): Promise<void> {
    const namespace = service.metadata.namespace ?? 'default';
    const name = `${service.metadata.name}-fake`;
    const context = internalContext('endpointslice-controller');
    const slicePorts =
      resolved ??
      ports.map((port) => ({
        ...(port.name ? { name: port.name } : {}),
        port: typeof port.targetPort === 'number' ? port.targetPort : port.port,
        protocol: port.protocol ?? 'TCP',
      }));
    const body = {
      metadata: {
        name,
        namespace,
        labels: {
          'kubernetes.io/service-name': service.metadata.name ?? '',
          'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
        },
        ownerReferences: [
          {
            apiVersion: 'v1',
            kind: 'Service',
            name: service.metadata.name ?? '',
            uid: service.metadata.uid ?? '',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      addressType: 'IPv4',
      endpoints,
      ports: slicePorts,
    };
    const existing = this.api.tryGet(this.#slices, namespace, name);
    if (!existing) {
      try {
        await this.api.create(this.#slices, namespace, body, context);
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 409)) throw error;
      }
      return;
    }
    if (JSON.stringify([existing.endpoints, existing.ports]) === JSON.stringify([endpoints, slicePorts]))
      return;
    await this.api.update(
      this.#slices,
      namespace,
      name,
      (current) => ({ ...current, endpoints: clone(endpoints), ports: slicePorts }),
      context,
    );
  }

  async #syncProxies(services: KubeObject[]): Promise<void> {
    const wanted = new Map<string, { namespace: string; name: string; ip: string; port: number }>();
    for (const service of services) {
      const spec = asObj(service.spec);
      const ip = spec.clusterIP;
      if (typeof ip !== 'string' || ip === 'None' || ip === '') continue;
      for (const port of asList(spec.ports)) {
        if ((port.protocol ?? 'TCP') !== 'TCP' || typeof port.port !== 'number') continue;
        const key = `${ip}:${port.port}`;
        wanted.set(key, {
          namespace: service.metadata.namespace ?? '',
          name: service.metadata.name ?? '',
          ip,
          port: port.port,
        });
      }
    }
    for (const [key, proxy] of this.#proxies) {
      if (wanted.has(key)) continue;
      this.#proxies.delete(key);
      this.#closeProxy(proxy);
    }
    for (const [key, target] of wanted) {
      if (this.#proxies.has(key)) continue;
      const sockets = new Set<Socket>();
      const server = createServer((client) => {
        sockets.add(client);
        client.on('close', () => sockets.delete(client));
        const endpoint = this.pick(target.namespace, target.name, target.port);
        if (!endpoint) {
          client.resetAndDestroy();
          return;
        }
        // Like the kernel's NAT, forward every write as it comes: with Nagle's algorithm this
        // user-space copy held a small write (an HTTP/2 DATA frame after its HEADERS) until the
        // first was acknowledged, 40 ms of delayed ACK later.
        client.setNoDelay(true);
        const upstream = createConnection({ host: endpoint.host, port: endpoint.port });
        upstream.setNoDelay(true);
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        client.pipe(upstream);
        upstream.pipe(client);
        const fail = () => {
          if (!client.destroyed) client.resetAndDestroy();
          if (!upstream.destroyed) upstream.destroy();
        };
        client.on('error', fail);
        upstream.on('error', fail);
      });
      const proxy: Proxy = { server, sockets, key };
      this.#proxies.set(key, proxy);
      await new Promise<void>((resolve) => {
        server.once('error', (error) => {
          this.log(
            `kube-proxy: cannot listen on ${key} for ${target.namespace}/${target.name}: ${error.message}`,
          );
          resolve();
        });
        server.listen(target.port, target.ip, () => resolve());
      });
    }
  }

  #closeProxy(proxy: Proxy): void {
    proxy.server.close();
    for (const socket of proxy.sockets) socket.destroy();
  }

  close(): void {
    for (const proxy of this.#proxies.values()) this.#closeProxy(proxy);
    this.#proxies.clear();
  }
}
