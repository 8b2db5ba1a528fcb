// Object storage with etcd's semantics as far as clients can see them: one global, monotonically
// increasing resourceVersion, and a bounded history of changes so watches can resume from a
// resourceVersion (and get 410 Gone when it has been compacted away).

import { clone, type KubeObject } from './objects.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  readonly type: EventType;
  /** `group/resource` of the object. */
  readonly typeKey: string;
  readonly object: KubeObject;
  readonly resourceVersion: number;
}

export type StoreListener = (event: StoreEvent) => void;

export function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class Store {
  #revision = 1;
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly #history: StoreEvent[] = [];
  readonly #listeners = new Set<StoreListener>();

  constructor(private readonly historyLimit: number) {}

  get revision(): number {
    return this.#revision;
  }

  /** The oldest resourceVersion a watch can resume from; older ones get 410 Gone. */
  get oldestResumable(): number {
    const first = this.#history[0];
    return first === undefined ? this.#revision : first.resourceVersion - 1;
  }

  get(typeKey: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const found = this.#objects.get(typeKey)?.get(objectKey(namespace, name));
    return found === undefined ? undefined : clone(found);
  }

  list(typeKey: string, namespace?: string): KubeObject[] {
    const bucket = this.#objects.get(typeKey);
    if (!bucket) return [];
    const result: KubeObject[] = [];
    for (const object of bucket.values()) {
      if (namespace === undefined || object.metadata.namespace === namespace) result.push(clone(object));
    }
    return result.sort((a, b) =>
      objectKey(a.metadata.namespace, a.metadata.name ?? '').localeCompare(
        objectKey(b.metadata.namespace, b.metadata.name ?? ''),
      ),
    );
  }

  typeKeys(): string[] {
    return [...this.#objects.keys()];
  }

  /** Stores `object` (ADDED or MODIFIED), stamping the next resourceVersion; returns the stored copy. */
  put(typeKey: string, object: KubeObject): KubeObject {
    let bucket = this.#objects.get(typeKey);
    if (!bucket) {
      bucket = new Map();
      this.#objects.set(typeKey, bucket);
    }
    const key = objectKey(object.metadata.namespace, object.metadata.name ?? '');
    const type: EventType = bucket.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = clone(object);
    this.#revision++;
    stored.metadata.resourceVersion = String(this.#revision);
    bucket.set(key, stored);
    this.#emit({ type, typeKey, object: stored, resourceVersion: this.#revision });
    return clone(stored);
  }

  remove(typeKey: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const bucket = this.#objects.get(typeKey);
    const key = objectKey(namespace, name);
    const existing = bucket?.get(key);
    if (!bucket || !existing) return undefined;
    bucket.delete(key);
    this.#revision++;
    const removed = clone(existing);
    removed.metadata.resourceVersion = String(this.#revision);
    this.#emit({ type: 'DELETED', typeKey, object: removed, resourceVersion: this.#revision });
    return clone(removed);
  }

  /** Events after `resourceVersion` for `typeKey`, or undefined when history no longer reaches back. */
  eventsSince(typeKey: string, resourceVersion: number): StoreEvent[] | undefined {
    if (resourceVersion < this.oldestResumable) return undefined;
    return this.#history.filter(
      (event) => event.typeKey === typeKey && event.resourceVersion > resourceVersion,
    );
  }

  subscribe(listener: StoreListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(event: StoreEvent): void {
    this.#history.push(event);
    if (this.#history.length > this.historyLimit)
      this.#history.splice(0, this.#history.length - this.historyLimit);
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch {
        // A failing listener must not break storage; controllers log their own errors.
      }
    }
  }
}
