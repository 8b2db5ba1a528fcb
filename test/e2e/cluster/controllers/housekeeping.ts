// Garbage collection (ownerReferences: an object whose owners are all gone is deleted, in the
// background, like kube-controller-manager's GC), namespace deletion (contents first, then the
// namespace) and the `default` ServiceAccount every namespace gets.

import { type Api, internalContext } from '../api.js';
import { ApiError, type KubeObject } from '../objects.js';
import { typeKey } from '../resources.js';

export class Housekeeping {
  constructor(private readonly api: Api) {}

  async collectGarbage(): Promise<void> {
    const { store } = this.api;
    const uids = new Set<string>();
    const all: { key: string; object: KubeObject }[] = [];
    for (const key of store.typeKeys()) {
      for (const object of store.list(key)) {
        if (object.metadata.uid) uids.add(object.metadata.uid);
        all.push({ key, object });
      }
    }
    const context = internalContext('generic-garbage-collector');
    for (const { key, object } of all) {
      const owners = object.metadata.ownerReferences ?? [];
      if (owners.length === 0 || owners.some((owner) => uids.has(owner.uid))) continue;
      if (object.metadata.deletionTimestamp) continue;
      const type = this.api.findTypeByKey(key);
      if (!type) continue;
      try {
        await this.api.delete(type, object.metadata.namespace, object.metadata.name ?? '', {}, context);
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 404)) throw error;
      }
    }
  }

  async reconcileNamespaces(): Promise<void> {
    const namespaces = this.api.findType('', 'v1', 'namespaces');
    const serviceAccounts = this.api.findType('', 'v1', 'serviceaccounts');
    if (!namespaces || !serviceAccounts) return;
    const context = internalContext('namespace-controller');
    for (const namespace of this.api.list(namespaces, undefined).items) {
      const name = namespace.metadata.name ?? '';
      if (!namespace.metadata.deletionTimestamp) {
        if (!this.api.tryGet(serviceAccounts, name, 'default')) {
          try {
            await this.api.create(
              serviceAccounts,
              name,
              { metadata: { name: 'default' } },
              internalContext('serviceaccount-controller'),
            );
          } catch (error) {
            if (!(error instanceof ApiError && error.code === 409)) throw error;
          }
        }
        continue;
      }
      let remaining = 0;
      for (const type of this.api.types) {
        if (!type.namespaced) continue;
        for (const object of this.api.store.list(typeKey(type), name)) {
          remaining++;
          if (object.metadata.deletionTimestamp) continue;
          try {
            await this.api.delete(type, name, object.metadata.name ?? '', {}, context);
          } catch (error) {
            if (!(error instanceof ApiError && error.code === 404)) throw error;
          }
        }
      }
      if (remaining === 0) this.api.finalizeRemoval(namespaces, undefined, name);
    }
  }
}
