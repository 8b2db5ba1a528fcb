// Lease-based leader election (coordination.k8s.io/v1): the holder renews every `renewMs`; another
// candidate takes the Lease over once it has seen no renewal for `leaseDuration`, by its own clock
// (as client-go does: the holder's renewTime comes from another node's clock). Writes carry the
// resourceVersion, so two candidates can never both win a round.

import { ApiException, type CoordinationV1Api, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { errorMessage } from '../../api/errors.js';

export interface LeaderElectionOptions {
  readonly api: CoordinationV1Api;
  readonly namespace: string;
  readonly name: string;
  /** Holder identity: the pod name. */
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewMs: number;
  readonly now: () => Date;
  readonly logger: Logger;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
}

function code(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

export class LeaderElection {
  readonly #options: LeaderElectionOptions;
  readonly #log: Logger;
  #leading = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #round: Promise<void> = Promise.resolve();
  /** When our last successful renew happened; we stop leading if we cannot renew within the lease. */
  #renewedAt = 0;
  /** The Lease record (its resourceVersion) last seen, and when we first saw it, by our clock. */
  #observed: { readonly version: string; readonly at: number } | null = null;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'leader-election', lease: options.name });
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops competing; a leader releases the Lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round;
    if (this.#leading) {
      this.#setLeading(false);
      await this.#release().catch((error: unknown) =>
        this.#log.warn({ err: errorMessage(error) }, 'could not release the lease'),
      );
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#round = this.#tryAcquireOrRenew()
        .catch((error: unknown) => {
          this.#log.warn({ err: errorMessage(error) }, 'lease round failed');
        })
        .finally(() => {
          const now = this.#options.now().getTime();
          if (this.#leading && now - this.#renewedAt >= this.#options.leaseDurationMs)
            this.#setLeading(false);
          this.#schedule(this.#options.renewMs);
        });
    }, delayMs);
    this.#timer.unref();
  }

  #setLeading(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#log.info({ identity: this.#options.identity }, leading ? 'became leader' : 'stopped leading');
    if (leading) this.#options.onStartedLeading();
    else this.#options.onStoppedLeading();
  }

  #spec(lease: V1Lease | null, now: Date): V1Lease['spec'] {
    const taking = lease?.spec?.holderIdentity !== this.#options.identity;
    return {
      holderIdentity: this.#options.identity,
      leaseDurationSeconds: Math.ceil(this.#options.leaseDurationMs / 1000),
      renewTime: new V1MicroTime(now.getTime()),
      acquireTime:
        taking || !lease?.spec?.acquireTime ? new V1MicroTime(now.getTime()) : lease.spec.acquireTime,
      leaseTransitions: (lease?.spec?.leaseTransitions ?? 0) + (taking && lease !== null ? 1 : 0),
    };
  }

  async #tryAcquireOrRenew(): Promise<void> {
    if (this.#stopped) return;
    const { api, namespace, name, identity } = this.#options;
    const now = this.#options.now();
    let lease: V1Lease | null = null;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (code(error) !== 404) throw error;
    }
    if (lease === null) {
      try {
        await api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: this.#spec(null, now),
          },
        });
      } catch (error) {
        if (code(error) === 409) return; // someone else created it first
        throw error;
      }
      this.#renewedAt = now.getTime();
      this.#setLeading(true);
      return;
    }
    const holder = lease.spec?.holderIdentity ?? '';
    const version = lease.metadata?.resourceVersion ?? '';
    if (this.#observed?.version !== version) this.#observed = { version, at: now.getTime() };
    const duration = (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
    if (holder !== identity && holder !== '' && this.#observed.at + duration > now.getTime()) {
      this.#setLeading(false);
      return;
    }
    try {
      await api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: this.#spec(lease, now) },
      });
    } catch (error) {
      if (code(error) === 409) {
        this.#setLeading(false);
        return;
      }
      throw error;
    }
    this.#renewedAt = now.getTime();
    this.#setLeading(true);
  }

  async #release(): Promise<void> {
    const { api, namespace, name, identity } = this.#options;
    const lease = await api.readNamespacedLease({ name, namespace });
    if (lease.spec?.holderIdentity !== identity) return;
    await api.replaceNamespacedLease({
      name,
      namespace,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } },
    });
  }
}
