// The HTTP face of the fake API server: URL routing as kube-apiserver lays it out, discovery,
// bearer-token authentication, server-side Table printing, watch streams with bookmarks and 410,
// and Status errors. All behaviour lives in Api; this file only translates HTTP.

import type { IncomingMessage, ServerResponse } from 'node:http';
import YAML from 'yaml';
import type { Api, DeleteOptions, RequestContext } from './api.js';
import { ApiError, apiErrors, isObject, type KubeObject, type UserInfo } from './objects.js';
import { openApiGroupVersion, openApiRoot, openApiV2Protobuf } from './openapi.js';
import { applyJsonPatch, applyMergePatch, patchTypeOf, strategicMerge } from './patch.js';
import { decodeKubernetesProtobuf } from './protobuf.js';
import { apiResourceList, apiVersionOf, type ResourceType, typeKey } from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { StoreEvent } from './store.js';
import { toTable } from './table.js';
import type { TokenAuthenticator } from './tokens.js';

export interface HttpOptions {
  readonly api: Api;
  readonly tokens: TokenAuthenticator;
  readonly version: { major: string; minor: string; gitVersion: string };
  readonly bookmarkIntervalMs: number;
  readonly podLogs: (namespace: string, name: string, container: string | undefined) => string | undefined;
  readonly now: () => number;
}

interface Target {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string;
}

function send(response: ServerResponse, code: number, body: unknown, warnings: readonly string[] = []): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const headers: Record<string, string | string[]> = { 'content-type': 'application/json' };
  if (warnings.length > 0) headers.warning = warnings.map((warning) => `299 - ${JSON.stringify(warning)}`);
  response.writeHead(code, headers);
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseBody(body: Buffer, contentType: string | undefined): unknown {
  if ((contentType ?? '').includes('protobuf')) {
    const decoded = decodeKubernetesProtobuf(body);
    if (decoded) return decoded;
    throw apiErrors.unsupportedMediaType(
      'the fake cluster decodes protobuf only for Namespace, ConfigMap, Secret and ServiceAccount (what `kubectl create <generator>` sends for them): use `kubectl apply -f` or `kubectl create -f` with YAML/JSON',
    );
  }
  const text = body.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    if ((contentType ?? '').includes('yaml')) return YAML.parse(text);
    return JSON.parse(text);
  } catch (error) {
    throw apiErrors.badRequest(`the request body could not be decoded: ${String(error)}`);
  }
}

export class HttpHandler {
  readonly #options: HttpOptions;
  readonly #openWatches = new Set<() => void>();

  constructor(options: HttpOptions) {
    this.#options = options;
  }

  /** Ends every open watch stream (used by close()). */
  closeWatches(): void {
    for (const end of [...this.#openWatches]) end();
  }

  handle = (request: IncomingMessage, response: ServerResponse): void => {
    this.#handle(request, response).catch((error: unknown) => {
      const apiError = error instanceof ApiError ? error : apiErrors.internal(String(error));
      send(response, apiError.code, apiError.toStatus());
    });
  };

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://fake');
    const user = this.#authenticate(request);
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/openapi/v2') {
      const accept = request.headers.accept ?? '';
      if (accept.includes('protobuf')) {
        response.writeHead(200, {
          'content-type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf',
        });
        response.end(openApiV2Protobuf(this.#options.version.gitVersion));
      } else {
        const info = { title: 'Kubernetes', version: this.#options.version.gitVersion };
        send(response, 200, { swagger: '2.0', info, paths: {}, definitions: {} });
      }
      return;
    }
    const discovery = this.#discovery(path);
    if (discovery !== undefined) {
      send(response, 200, discovery);
      return;
    }
    const target = this.#parseTarget(path);
    if (!target) {
      send(response, 404, apiErrors.notFound('', '', path).toStatus());
      return;
    }
    const query = url.searchParams;
    const context: RequestContext = {
      user,
      dryRun: query.getAll('dryRun').includes('All'),
      warnings: [],
    };
    const result = await this.#dispatch(request, response, target, query, context);
    if (result !== undefined) send(response, result.code, result.body, context.warnings);
  }

  #authenticate(request: IncomingMessage): UserInfo {
    const header = request.headers.authorization;
    if (!header) return { username: 'system:anonymous', groups: ['system:unauthenticated'] };
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const user = match?.[1] ? this.#options.tokens.authenticate(match[1].trim()) : undefined;
    if (!user) throw apiErrors.unauthorized();
    return user;
  }

  #discovery(path: string): unknown {
    const { api } = this.#options;
    if (path === '/version') {
      return {
        ...this.#options.version,
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'go1.23.0',
        compiler: 'gc',
        platform: 'linux/amd64',
      };
    }
    if (path === '/healthz' || path === '/readyz' || path === '/livez') return 'ok';
    if (path === '/openapi/v3') return openApiRoot(api.types);
    if (path.startsWith('/openapi/v3/')) {
      const document = openApiGroupVersion(api.types, path.slice('/openapi/v3/'.length));
      if (document) return document;
    }
    if (path === '/api') {
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:443' }],
      };
    }
    if (path === '/api/v1')
      return apiResourceList(
        api.types.filter((type) => type.group === ''),
        'v1',
      );
    const groups = new Map<string, string[]>();
    for (const type of api.types) {
      if (type.group === '') continue;
      const versions = groups.get(type.group) ?? [];
      if (!versions.includes(type.version)) versions.push(type.version);
      groups.set(type.group, versions);
    }
    const groupDocument = (name: string, versions: string[]) => ({
      name,
      versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
      preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
    });
    if (path === '/apis') {
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [...groups].map(([name, versions]) => groupDocument(name, versions)),
      };
    }
    const match = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (match?.[1] && groups.has(match[1])) {
      const group = match[1];
      if (!match[2])
        return { kind: 'APIGroup', apiVersion: 'v1', ...groupDocument(group, groups.get(group) ?? []) };
      const version = match[2];
      const types = api.types.filter((type) => type.group === group && type.version === version);
      if (types.length > 0) return apiResourceList(types, `${group}/${version}`);
    }
    return undefined;
  }

  #parseTarget(path: string): Target | undefined {
    const segments = path
      .split('/')
      .filter((segment) => segment !== '')
      .map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (segments[0] === 'api' && segments.length >= 3) {
      group = '';
      version = segments[1] ?? '';
      rest = segments.slice(2);
    } else if (segments[0] === 'apis' && segments.length >= 4) {
      group = segments[1] ?? '';
      version = segments[2] ?? '';
      rest = segments.slice(3);
    } else return undefined;
    const { api } = this.#options;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const namespaced = api.findType(group, version, rest[2] ?? '');
      if (namespaced?.namespaced) {
        return { type: namespaced, namespace: rest[1], name: rest[3], subresource: rest[4] ?? '' };
      }
    }
    const type = api.findType(group, version, rest[0] ?? '');
    if (!type) return undefined;
    return { type, namespace: undefined, name: rest[1], subresource: rest[2] ?? '' };
  }

  async #dispatch(
    request: IncomingMessage,
    response: ServerResponse,
    target: Target,
    query: URLSearchParams,
    context: RequestContext,
  ): Promise<{ code: number; body: unknown } | undefined> {
    const { api } = this.#options;
    const { type, namespace, name, subresource } = target;
    const method = request.method ?? 'GET';
    const wantsTable = (request.headers.accept ?? '').includes('as=Table');
    const includeObject = query.get('includeObject') ?? 'Metadata';
    const now = this.#options.now();
    if (typeKey(type) === 'authentication.k8s.io/tokenreviews') {
      if (method !== 'POST') throw apiErrors.methodNotAllowed('tokenreviews only support create');
      const body = parseBody(await readBody(request), request.headers['content-type']);
      return { code: 201, body: this.#options.tokens.review(body) };
    }
    if (name === undefined) {
      if (method === 'GET') {
        if (query.get('watch') === '1' || query.get('watch') === 'true') {
          this.#watch(request, response, type, namespace, query, wantsTable ? includeObject : undefined);
          return undefined;
        }
        const list = api.list(type, namespace, {
          labelSelector: query.get('labelSelector'),
          fieldSelector: query.get('fieldSelector'),
        });
        if (wantsTable)
          return { code: 200, body: toTable(type, list.items, list.resourceVersion, includeObject, now) };
        return {
          code: 200,
          body: {
            kind: `${type.kind}List`,
            apiVersion: apiVersionOf(type),
            metadata: { resourceVersion: list.resourceVersion },
            items: list.items,
          },
        };
      }
      if (method === 'POST') {
        const body = parseBody(await readBody(request), request.headers['content-type']) as KubeObject;
        const created = await api.create(type, namespace, body, context);
        return { code: 201, body: created };
      }
      if (method === 'DELETE') {
        const list = api.list(type, namespace, {
          labelSelector: query.get('labelSelector'),
          fieldSelector: query.get('fieldSelector'),
        });
        const deleted: KubeObject[] = [];
        for (const item of list.items) {
          deleted.push(
            await api.delete(type, item.metadata.namespace, item.metadata.name ?? '', {}, context),
          );
        }
        return {
          code: 200,
          body: { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata: {}, items: deleted },
        };
      }
      throw apiErrors.methodNotAllowed(`${method} is not supported on a collection`);
    }
    if (subresource === 'log' && typeKey(type) === '/pods') {
      api.get(type, namespace, name);
      const text = this.#options.podLogs(namespace ?? '', name, query.get('container') ?? undefined);
      if (text === undefined)
        throw apiErrors.badRequest(`container logs for pod "${name}" are not available`);
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end(text);
      return undefined;
    }
    if (subresource === 'scale' && type.scale)
      return this.#scale(request, method, type, namespace, name, context);
    if (subresource !== '' && !(subresource === 'status' && type.status)) {
      throw apiErrors.notFound(`${type.resource}/${subresource}`, type.group, name);
    }
    switch (method) {
      case 'GET': {
        const object = api.get(type, namespace, name);
        if (wantsTable) {
          return {
            code: 200,
            body: toTable(type, [object], object.metadata.resourceVersion ?? '', includeObject, now),
          };
        }
        return { code: 200, body: object };
      }
      case 'PUT': {
        const body = parseBody(await readBody(request), request.headers['content-type']) as KubeObject;
        if (!isObject(body) || !isObject(body.metadata))
          throw apiErrors.badRequest('the body must be an object');
        const updated = await api.update(type, namespace, name, () => body, context, subresource);
        return { code: 200, body: updated };
      }
      case 'PATCH': {
        const patchType = patchTypeOf(request.headers['content-type']);
        const body = parseBody(await readBody(request), request.headers['content-type']);
        const patched = await api.patch(type, namespace, name, patchType, body, context, subresource);
        return { code: 200, body: patched };
      }
      case 'DELETE': {
        const body = (parseBody(await readBody(request), 'application/json') ?? {}) as Record<
          string,
          unknown
        >;
        const options: DeleteOptions = {};
        const propagation = query.get('propagationPolicy') ?? body.propagationPolicy;
        if (propagation === 'Background' || propagation === 'Foreground' || propagation === 'Orphan') {
          options.propagationPolicy = propagation;
        } else if (body.orphanDependents === true) options.propagationPolicy = 'Orphan';
        const grace = query.get('gracePeriodSeconds') ?? body.gracePeriodSeconds;
        if (grace !== undefined && grace !== null) options.gracePeriodSeconds = Number(grace);
        if (isObject(body.preconditions))
          options.preconditions = body.preconditions as DeleteOptions['preconditions'];
        if (Array.isArray(body.dryRun) && body.dryRun.includes('All')) {
          const deleted = await api.delete(type, namespace, name, options, { ...context, dryRun: true });
          return { code: 200, body: deleted };
        }
        const deleted = await api.delete(type, namespace, name, options, context);
        return { code: 200, body: deleted };
      }
      default:
        throw apiErrors.methodNotAllowed(`${method} is not supported`);
    }
  }

  async #scale(
    request: IncomingMessage,
    method: string,
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    context: RequestContext,
  ): Promise<{ code: number; body: unknown }> {
    const { api } = this.#options;
    const toScale = (object: KubeObject) => {
      const spec = isObject(object.spec) ? object.spec : {};
      const status = isObject(object.status) ? object.status : {};
      const matchLabels =
        isObject(spec.selector) && isObject(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
      return {
        kind: 'Scale',
        apiVersion: 'autoscaling/v1',
        metadata: {
          name: object.metadata.name,
          namespace: object.metadata.namespace,
          uid: object.metadata.uid,
          resourceVersion: object.metadata.resourceVersion,
          creationTimestamp: object.metadata.creationTimestamp,
        },
        spec: { replicas: spec.replicas ?? 1 },
        status: {
          replicas: status.replicas ?? 0,
          selector: Object.entries(matchLabels)
            .map(([key, value]) => `${key}=${String(value)}`)
            .join(','),
        },
      };
    };
    if (method === 'GET') return { code: 200, body: toScale(api.get(type, namespace, name)) };
    const body = parseBody(await readBody(request), request.headers['content-type']);
    const patchType = method === 'PATCH' ? patchTypeOf(request.headers['content-type']) : undefined;
    const updated = await api.update(
      type,
      namespace,
      name,
      (current) => {
        const scale = toScale(current);
        let next: unknown = body;
        if (patchType !== undefined) {
          next =
            patchType === 'json'
              ? applyJsonPatch(scale, body)
              : patchType === 'merge'
                ? applyMergePatch(scale, body)
                : strategicMerge(scale, body);
        }
        const replicas = isObject(next) && isObject(next.spec) ? next.spec.replicas : undefined;
        if (typeof replicas !== 'number') throw apiErrors.badRequest('scale: spec.replicas must be a number');
        const pinned = isObject(next) && isObject(next.metadata) ? next.metadata.resourceVersion : undefined;
        current.spec = { ...(isObject(current.spec) ? current.spec : {}), replicas };
        if (typeof pinned === 'string' && patchType === undefined) current.metadata.resourceVersion = pinned;
        return current;
      },
      context,
      'scale',
    );
    return { code: 200, body: toScale(updated) };
  }

  #watch(
    request: IncomingMessage,
    response: ServerResponse,
    type: ResourceType,
    namespace: string | undefined,
    query: URLSearchParams,
    tableIncludeObject: string | undefined,
  ): void {
    const { api } = this.#options;
    const labels = parseLabelSelector(query.get('labelSelector'));
    const fields = parseFieldSelector(query.get('fieldSelector'));
    const key = typeKey(type);
    const matches = (object: KubeObject) =>
      (!type.namespaced || namespace === undefined || object.metadata.namespace === namespace) &&
      labels(object.metadata.labels ?? {}) &&
      fields(object);
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // Like kube-apiserver, send the headers at once: clients (client-node's ListWatch) wait for them.
    response.flushHeaders();
    // `kubectl get -w` asks for Tables: one row per event, column definitions in the first only.
    let columnsSent = false;
    const asTable = (eventType: string, object: unknown): unknown => {
      if (tableIncludeObject === undefined || eventType === 'ERROR' || eventType === 'BOOKMARK')
        return object;
      const table = toTable(
        type,
        [object as KubeObject],
        String(api.store.revision),
        tableIncludeObject,
        this.#options.now(),
      );
      if (columnsSent) table.columnDefinitions = [];
      columnsSent = true;
      return table;
    };
    const write = (eventType: string, object: unknown) => {
      if (!response.writableEnded) {
        response.write(`${JSON.stringify({ type: eventType, object: asTable(eventType, object) })}\n`);
      }
    };
    const present = (object: KubeObject) => {
      object.apiVersion = apiVersionOf(type);
      object.kind = type.kind;
      return object;
    };
    let lastSent = 0;
    const pending: StoreEvent[] = [];
    let ready = false;
    const deliver = (event: StoreEvent) => {
      if (event.typeKey !== key || event.resourceVersion <= lastSent) return;
      lastSent = event.resourceVersion;
      if (matches(event.object)) write(event.type, present(structuredClone(event.object)));
    };
    const unsubscribe = api.store.subscribe((event) => {
      if (ready) deliver(event);
      else pending.push(event);
    });
    const timers: NodeJS.Timeout[] = [];
    const end = () => {
      unsubscribe();
      for (const timer of timers) clearInterval(timer);
      this.#openWatches.delete(end);
      if (!response.writableEnded) response.end();
    };
    this.#openWatches.add(end);
    request.on('close', end);
    response.on('close', end);
    const bookmark = (annotations?: Record<string, string>) =>
      write('BOOKMARK', {
        kind: type.kind,
        apiVersion: apiVersionOf(type),
        metadata: { resourceVersion: String(api.store.revision), ...(annotations ? { annotations } : {}) },
      });
    const requested = query.get('resourceVersion');
    const sendInitial = query.get('sendInitialEvents') === 'true';
    if (requested === null || requested === '' || requested === '0' || sendInitial) {
      const { items, resourceVersion } = api.list(type, namespace, {});
      lastSent = Number(resourceVersion);
      for (const item of items) if (matches(item)) write('ADDED', item);
      if (sendInitial) bookmark({ 'k8s.io/initial-events-end': 'true' });
    } else {
      const since = api.store.eventsSince(key, Number(requested));
      if (since === undefined) {
        write('ERROR', {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: ${requested} (${api.store.oldestResumable})`,
          reason: 'Expired',
          code: 410,
        });
        end();
        return;
      }
      lastSent = Number(requested);
      for (const event of since) deliver(event);
    }
    ready = true;
    for (const event of pending.splice(0)) deliver(event);
    if (query.get('allowWatchBookmarks') === 'true') {
      timers.push(setInterval(() => bookmark(), this.#options.bookmarkIntervalMs));
    }
    const timeout = Number(query.get('timeoutSeconds') ?? 0);
    if (timeout > 0) timers.push(setInterval(end, timeout * 1000));
  }
}
