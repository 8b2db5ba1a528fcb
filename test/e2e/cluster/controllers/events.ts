// Records core/v1 Events about objects, the way client-go's event recorder does: repeated events
// (same object, reason and message) bump `count` and `lastTimestamp` instead of piling up.

import { type Api, internalContext } from '../api.js';
import type { KubeObject } from '../objects.js';

export class EventRecorder {
  readonly #seen = new Map<string, string>();
  #sequence = 0;

  constructor(
    private readonly api: Api,
    private readonly log: (line: string) => void,
  ) {}

  async record(
    involved: KubeObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    component: string,
  ): Promise<void> {
    const eventType = this.api.findType('', 'v1', 'events');
    const namespace = involved.metadata.namespace ?? 'default';
    if (!eventType) return;
    const key = `${involved.metadata.uid}|${reason}|${message}`;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const context = internalContext(component);
    try {
      const existing = this.#seen.get(key);
      if (existing && this.api.tryGet(eventType, namespace, existing)) {
        await this.api.update(
          eventType,
          namespace,
          existing,
          (event) => ({ ...event, count: Number(event.count ?? 1) + 1, lastTimestamp: now }),
          context,
        );
        return;
      }
      // Like client-go: the name ends in the creation time in hex nanoseconds, so names sort by time.
      this.#sequence = (this.#sequence + 1) % 1_000_000;
      const nanos = BigInt(Date.now()) * 1_000_000n + BigInt(this.#sequence);
      const name = `${involved.metadata.name}.${nanos.toString(16)}`;
      await this.api.create(
        eventType,
        namespace,
        {
          metadata: { name, namespace },
          involvedObject: {
            kind: involved.kind,
            apiVersion: involved.apiVersion,
            namespace: involved.metadata.namespace,
            name: involved.metadata.name,
            uid: involved.metadata.uid,
            resourceVersion: involved.metadata.resourceVersion,
          },
          reason,
          message,
          type,
          source: { component },
          reportingComponent: component,
          reportingInstance: 'fake-node',
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          eventTime: null,
        },
        context,
      );
      this.#seen.set(key, name);
    } catch (error) {
      this.log(`events: could not record ${reason} for ${involved.metadata.name}: ${String(error)}`);
    }
  }
}
