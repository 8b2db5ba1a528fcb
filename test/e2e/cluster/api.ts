// The API server's behaviour without HTTP: create/update/patch/delete/list with resourceVersion
// checks, generateName, generation, status subresources, admission, graceful pod deletion,
// finalizers and dynamic CRD registration. The HTTP layer and the simulated controllers both call
// this, so controller writes go through admission exactly like kubectl's.

import { randomBytes, randomUUID } from 'node:crypto';
import { applyDefaults } from './defaults.js';
import {
  ApiError,
  apiErrors,
  canonicalJson,
  clone,
  isObject,
  type KubeObject,
  type UserInfo,
} from './objects.js';
import { applyJsonPatch, applyMergePatch, type PatchType, strategicMerge } from './patch.js';
import { apiVersionOf, BUILTIN_TYPES, type ResourceType, typeKey, typesFromCrd } from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { Store } from './store.js';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE';

export interface RequestContext {
  readonly user: UserInfo;
  readonly dryRun: boolean;
  /** Admission warnings collected for the `Warning` response headers. */
  readonly warnings: string[];
}

export interface AdmissionAttributes {
  readonly type: ResourceType;
  readonly subresource: string;
  readonly operation: Operation;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly object: KubeObject;
  readonly oldObject: KubeObject | undefined;
  readonly context: RequestContext;
}

/** Runs mutating admission; returns the (possibly patched) object or throws an ApiError. */
export type Admit = (attributes: AdmissionAttributes) => Promise<KubeObject>;

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  gracePeriodSeconds?: number;
  preconditions?: { resourceVersion?: string; uid?: string };
}

export const systemUser = (component: string): UserInfo => ({
  username: `system:serviceaccount:kube-system:${component}`,
  groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
});

export function internalContext(component: string): RequestContext {
  return { user: systemUser(component), dryRun: false, warnings: [] };
}

const MAX_RETRIES = 8;

function randomSuffix(length: number): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const bytes = randomBytes(length);
  return [...bytes].map((byte) => alphabet[byte % alphabet.length]).join('');
}

function withoutVolatile(object: KubeObject): unknown {
  const { metadata, ...rest } = object;
  const { resourceVersion: _rv, managedFields: _mf, generation: _gen, ...meta } = metadata;
  return { ...rest, metadata: meta };
}

function specPart(object: KubeObject): string {
  const { metadata: _meta, status: _status, apiVersion: _apiVersion, kind: _kind, ...rest } = object;
  return canonicalJson(rest);
}

export interface ApiOptions {
  readonly store: Store;
  readonly allocateClusterIp: () => string;
  readonly now: () => Date;
}

export class Api {
  readonly store: Store;
  #types: ResourceType[] = [...BUILTIN_TYPES];
  #admit: Admit = async ({ object }) => object;
  readonly #allocateClusterIp: () => string;
  readonly #now: () => Date;
  /** Called before a pod that a kubelet runs is removed; resolves once it may be removed. */
  podTerminator: ((pod: KubeObject) => void) | undefined;

  constructor(options: ApiOptions) {
    this.store = options.store;
    this.#allocateClusterIp = options.allocateClusterIp;
    this.#now = options.now;
  }

  setAdmission(admit: Admit): void {
    this.#admit = admit;
  }

  get types(): readonly ResourceType[] {
    return this.#types;
  }

  findType(group: string, version: string, resource: string): ResourceType | undefined {
    return this.#types.find(
      (type) => type.group === group && type.version === version && type.resource === resource,
    );
  }

  findTypeByKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.#types.find((type) => apiVersionOf(type) === apiVersion && type.kind === kind);
  }

  /** The type for `group/resource` at whatever version is served (storage is version-agnostic). */
  findTypeByKey(key: string): ResourceType | undefined {
    return this.#types.find((type) => typeKey(type) === key);
  }

  #timestamp(): string {
    return this.#now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const found = this.store.get(typeKey(type), type.namespaced ? namespace : undefined, name);
    if (!found) throw apiErrors.notFound(type.resource, type.group, name);
    return this.#present(type, found);
  }

  tryGet(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const found = this.store.get(typeKey(type), type.namespaced ? namespace : undefined, name);
    return found ? this.#present(type, found) : undefined;
  }

  list(
    type: ResourceType,
    namespace: string | undefined,
    selectors: { labelSelector?: string | null; fieldSelector?: string | null } = {},
  ): { items: KubeObject[]; resourceVersion: string } {
    const labels = parseLabelSelector(selectors.labelSelector);
    const fields = parseFieldSelector(selectors.fieldSelector);
    const items = this.store
      .list(typeKey(type), type.namespaced ? namespace : undefined)
      .filter((object) => labels(object.metadata.labels ?? {}) && fields(object))
      .map((object) => this.#present(type, object));
    return { items, resourceVersion: String(this.store.revision) };
  }

  /** Stored objects carry the apiVersion/kind of the version asked for. */
  #present(type: ResourceType, object: KubeObject): KubeObject {
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    return object;
  }

  #checkNamespace(type: ResourceType, namespace: string | undefined, creating: boolean): void {
    if (!type.namespaced) return;
    if (!namespace)
      throw apiErrors.badRequest('the server could not find the requested resource: namespace required');
    const found = this.store.get('/namespaces', undefined, namespace);
    if (!found) throw apiErrors.notFound('namespaces', '', namespace);
    if (creating && found.metadata.deletionTimestamp) {
      throw apiErrors.forbidden(
        `${type.resource} "${''}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  async create(
    type: ResourceType,
    namespace: string | undefined,
    body: KubeObject,
    context: RequestContext,
  ): Promise<KubeObject> {
    if (!isObject(body) || !isObject(body.metadata)) {
      if (isObject(body)) (body as KubeObject).metadata = {};
      else throw apiErrors.badRequest('the request body must be a JSON object');
    }
    const ns = type.namespaced ? (namespace ?? body.metadata.namespace) : undefined;
    if (type.namespaced && body.metadata.namespace && namespace && body.metadata.namespace !== namespace) {
      throw apiErrors.badRequest(
        `the namespace of the provided object does not match the namespace sent on the request`,
      );
    }
    this.#checkNamespace(type, ns, true);
    let object = clone(body);
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    if (ns) object.metadata.namespace = ns;
    else delete object.metadata.namespace;
    if (!object.metadata.name && !object.metadata.generateName) {
      throw apiErrors.invalid(
        type.kind,
        '',
        'metadata.name: Required value: name or generateName is required',
      );
    }
    delete object.metadata.resourceVersion;
    delete object.metadata.deletionTimestamp;
    delete object.metadata.uid;
    delete object.metadata.creationTimestamp;
    // Types with a status subresource ignore status on create (defaults fill it in).
    if (type.status) delete object.status;
    applyDefaults(typeKey(type), object, this.#allocateClusterIp);
    // As in kube-apiserver, mutating admission sees the object before generateName, uid and
    // creationTimestamp are filled in (AdmissionReview request.name is "" for generated names).
    object = await this.#admit({
      type,
      subresource: '',
      operation: 'CREATE',
      namespace: ns,
      name: object.metadata.name ?? '',
      object,
      oldObject: undefined,
      context,
    });
    if (!object.metadata.name)
      object.metadata.name = `${object.metadata.generateName ?? ''}${randomSuffix(5)}`;
    const name = object.metadata.name;
    object.metadata.uid = randomUUID();
    object.metadata.creationTimestamp = this.#timestamp();
    object.metadata.generation = 1;
    this.#validate(type, object);
    if (this.store.get(typeKey(type), ns, name))
      throw apiErrors.alreadyExists(type.resource, type.group, name);
    if (context.dryRun) return this.#present(type, object);
    const stored = this.store.put(typeKey(type), object);
    this.#afterWrite(type, stored);
    return this.#present(type, stored);
  }

  #validate(type: ResourceType, object: KubeObject): void {
    if (typeKey(type) === 'apps/deployments') {
      const spec = isObject(object.spec) ? object.spec : {};
      const template = isObject(spec.template) ? spec.template : {};
      const labels =
        isObject(template.metadata) && isObject(template.metadata.labels) ? template.metadata.labels : {};
      const selector =
        isObject(spec.selector) && isObject(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
      for (const [key, value] of Object.entries(selector)) {
        if (labels[key] !== value) {
          throw apiErrors.invalid(
            type.kind,
            object.metadata.name ?? '',
            'spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`',
          );
        }
      }
    }
  }

  /**
   * Replaces an object (PUT, or the result of a patch). `mutate` computes the new object from the
   * current one; it is re-run on a fresh copy when a concurrent write wins, unless the caller
   * pinned a resourceVersion (then 409 Conflict).
   */
  async update(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    mutate: (current: KubeObject) => KubeObject,
    context: RequestContext,
    subresource = '',
  ): Promise<KubeObject> {
    const ns = type.namespaced ? namespace : undefined;
    this.#checkNamespace(type, ns, false);
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const current = this.store.get(typeKey(type), ns, name);
      if (!current) throw apiErrors.notFound(type.resource, type.group, name);
      this.#present(type, current);
      const proposed = mutate(clone(current));
      if (!isObject(proposed) || !isObject(proposed.metadata))
        throw apiErrors.badRequest('object has no metadata');
      const pinned = proposed.metadata.resourceVersion;
      if (pinned !== undefined && pinned !== '' && pinned !== current.metadata.resourceVersion) {
        throw apiErrors.conflict(type.resource, type.group, name);
      }
      if (proposed.metadata.name !== undefined && proposed.metadata.name !== name) {
        throw apiErrors.badRequest(
          `the name of the object (${proposed.metadata.name}) does not match the name on the URL (${name})`,
        );
      }
      let next = this.#merge(type, current, proposed, subresource);
      applyDefaults(typeKey(type), next, this.#allocateClusterIp);
      if (subresource !== 'status' || !type.custom) {
        next = await this.#admit({
          type,
          subresource,
          operation: 'UPDATE',
          namespace: ns,
          name,
          object: next,
          oldObject: current,
          context,
        });
      }
      this.#validate(type, next);
      if (specPart(next) !== specPart(current) && subresource !== 'status') {
        next.metadata.generation = (current.metadata.generation ?? 1) + 1;
      }
      const latest = this.store.get(typeKey(type), ns, name);
      if (!latest) throw apiErrors.notFound(type.resource, type.group, name);
      if (latest.metadata.resourceVersion !== current.metadata.resourceVersion) {
        if (pinned) throw apiErrors.conflict(type.resource, type.group, name);
        continue;
      }
      if (canonicalJson(withoutVolatile(next)) === canonicalJson(withoutVolatile(current))) {
        return this.#present(type, current);
      }
      if (context.dryRun) return this.#present(type, next);
      if (
        next.metadata.deletionTimestamp &&
        (next.metadata.finalizers ?? []).length === 0 &&
        typeKey(type) !== '/pods'
      ) {
        const removed = this.store.remove(typeKey(type), ns, name);
        if (removed) this.#afterRemove(type, removed);
        return this.#present(type, removed ?? next);
      }
      const stored = this.store.put(typeKey(type), next);
      this.#afterWrite(type, stored);
      return this.#present(type, stored);
    }
    throw apiErrors.conflict(type.resource, type.group, name);
  }

  /** What a write may change: status only through /status, metadata system fields never. */
  #merge(type: ResourceType, current: KubeObject, proposed: KubeObject, subresource: string): KubeObject {
    if (subresource === 'status') {
      const next = clone(current);
      if (proposed.status === undefined) delete next.status;
      else next.status = clone(proposed.status);
      return next;
    }
    const next = clone(proposed);
    next.apiVersion = apiVersionOf(type);
    next.kind = type.kind;
    next.metadata.name = current.metadata.name;
    if (current.metadata.namespace) next.metadata.namespace = current.metadata.namespace;
    next.metadata.uid = current.metadata.uid;
    next.metadata.creationTimestamp = current.metadata.creationTimestamp;
    next.metadata.generation = current.metadata.generation;
    next.metadata.resourceVersion = current.metadata.resourceVersion;
    if (current.metadata.deletionTimestamp) {
      next.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
      if (current.metadata.deletionGracePeriodSeconds !== undefined) {
        next.metadata.deletionGracePeriodSeconds = current.metadata.deletionGracePeriodSeconds;
      }
    } else delete next.metadata.deletionTimestamp;
    if (type.status) {
      if (current.status === undefined) delete next.status;
      else next.status = clone(current.status);
    }
    return next;
  }

  async patch(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patchType: PatchType,
    patch: unknown,
    context: RequestContext,
    subresource = '',
  ): Promise<KubeObject> {
    if (patchType === 'strategic' && type.custom) {
      throw apiErrors.unsupportedMediaType(
        'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
      );
    }
    if (patchType === 'apply' && !this.tryGet(type, namespace, name)) {
      const body = clone(patch) as KubeObject;
      body.metadata = { ...(isObject(body.metadata) ? body.metadata : {}), name };
      return this.create(type, namespace, body, context);
    }
    return this.update(
      type,
      namespace,
      name,
      (current) => {
        switch (patchType) {
          case 'json':
            return applyJsonPatch(current, patch);
          case 'merge':
            return applyMergePatch(current, patch) as KubeObject;
          case 'strategic':
          case 'apply':
            return strategicMerge(current, patch) as KubeObject;
        }
      },
      context,
      subresource,
    );
  }

  async delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions,
    context: RequestContext,
  ): Promise<KubeObject> {
    const ns = type.namespaced ? namespace : undefined;
    const current = this.store.get(typeKey(type), ns, name);
    if (!current) throw apiErrors.notFound(type.resource, type.group, name);
    const { preconditions } = options;
    if (
      (preconditions?.uid && preconditions.uid !== current.metadata.uid) ||
      (preconditions?.resourceVersion && preconditions.resourceVersion !== current.metadata.resourceVersion)
    ) {
      throw apiErrors.conflict(type.resource, type.group, name);
    }
    if (context.dryRun) return this.#present(type, current);
    const key = typeKey(type);
    if (options.propagationPolicy === 'Orphan') this.#orphanDependents(current);
    if (options.propagationPolicy === 'Foreground') await this.deleteDependents(current, context);
    if (key === '/namespaces') {
      if (!current.metadata.deletionTimestamp) {
        current.metadata.deletionTimestamp = this.#timestamp();
        current.status = { ...(isObject(current.status) ? current.status : {}), phase: 'Terminating' };
        return this.#present(type, this.store.put(key, current));
      }
      return this.#present(type, current);
    }
    const graceful =
      key === '/pods' &&
      this.podTerminator !== undefined &&
      options.gracePeriodSeconds !== 0 &&
      isObject(current.spec) &&
      current.spec.nodeName !== undefined &&
      !['Succeeded', 'Failed'].includes(String(isObject(current.status) ? current.status.phase : ''));
    if (graceful || (current.metadata.finalizers ?? []).length > 0) {
      if (!current.metadata.deletionTimestamp) {
        current.metadata.deletionTimestamp = this.#timestamp();
        const grace =
          options.gracePeriodSeconds ??
          (isObject(current.spec) && typeof current.spec.terminationGracePeriodSeconds === 'number'
            ? current.spec.terminationGracePeriodSeconds
            : 30);
        current.metadata.deletionGracePeriodSeconds = grace;
        const stored = this.store.put(key, current);
        if (graceful) this.podTerminator?.(stored);
        return this.#present(type, stored);
      }
      return this.#present(type, current);
    }
    const removed = this.store.remove(key, ns, name);
    if (removed) this.#afterRemove(type, removed);
    return this.#present(type, removed ?? current);
  }

  /** Removes an object for good (kubelet after a pod's processes have stopped, GC, namespaces). */
  finalizeRemoval(type: ResourceType, namespace: string | undefined, name: string): void {
    const removed = this.store.remove(typeKey(type), type.namespaced ? namespace : undefined, name);
    if (removed) this.#afterRemove(type, removed);
  }

  /** Objects whose ownerReferences name `owner`, across all types and namespaces. */
  dependentsOf(owner: KubeObject): { type: ResourceType; object: KubeObject }[] {
    const result: { type: ResourceType; object: KubeObject }[] = [];
    for (const key of this.store.typeKeys()) {
      const type = this.findTypeByKey(key);
      if (!type) continue;
      for (const object of this.store.list(key)) {
        if ((object.metadata.ownerReferences ?? []).some((ref) => ref.uid === owner.metadata.uid)) {
          result.push({ type, object });
        }
      }
    }
    return result;
  }

  async deleteDependents(owner: KubeObject, context: RequestContext): Promise<void> {
    for (const { type, object } of this.dependentsOf(owner)) {
      await this.deleteDependents(object, context);
      try {
        await this.delete(type, object.metadata.namespace, object.metadata.name ?? '', {}, context);
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 404)) throw error;
      }
    }
  }

  #orphanDependents(owner: KubeObject): void {
    for (const { type, object } of this.dependentsOf(owner)) {
      object.metadata.ownerReferences = (object.metadata.ownerReferences ?? []).filter(
        (ref) => ref.uid !== owner.metadata.uid,
      );
      this.store.put(typeKey(type), object);
    }
  }

  #afterWrite(type: ResourceType, stored: KubeObject): void {
    if (typeKey(type) === 'apiextensions.k8s.io/customresourcedefinitions') this.#registerCrd(stored);
  }

  #afterRemove(type: ResourceType, removed: KubeObject): void {
    if (typeKey(type) === 'apiextensions.k8s.io/customresourcedefinitions') {
      const gone = typesFromCrd(removed);
      this.#types = this.#types.filter(
        (existing) =>
          !gone.some((type) => type.group === existing.group && type.resource === existing.resource),
      );
      for (const crType of gone) {
        for (const object of this.store.list(typeKey(crType))) {
          this.store.remove(typeKey(crType), object.metadata.namespace, object.metadata.name ?? '');
        }
      }
    }
  }

  #registerCrd(crd: KubeObject): void {
    const declared = typesFromCrd(crd);
    this.#types = [
      ...this.#types.filter(
        (existing) =>
          !declared.some((type) => type.group === existing.group && type.resource === existing.resource),
      ),
      ...declared,
    ];
    const spec = isObject(crd.spec) ? crd.spec : {};
    const names = isObject(spec.names) ? spec.names : {};
    const status = {
      acceptedNames: names,
      storedVersions: declared.slice(0, 1).map((type) => type.version),
      conditions: [
        {
          type: 'NamesAccepted',
          status: 'True',
          reason: 'NoConflicts',
          message: 'no conflicts found',
          lastTransitionTime: this.#timestamp(),
        },
        {
          type: 'Established',
          status: 'True',
          reason: 'InitialNamesAccepted',
          message: 'the initial names have been accepted',
          lastTransitionTime: this.#timestamp(),
        },
      ],
    };
    if (JSON.stringify(crd.status) !== JSON.stringify(status)) {
      const updated = clone(crd);
      updated.status = status;
      this.store.put('apiextensions.k8s.io/customresourcedefinitions', updated);
    }
  }
}
