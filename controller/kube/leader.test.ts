import { ApiException, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaderElection } from './leader.js';

/** An in-memory Lease API with resourceVersion conflicts; `cut` makes one client's calls fail. */
class LeaseStore {
  lease: V1Lease | null = null;
  #version = 0;

  client(cut: () => boolean): CoordinationV1Api {
    const guard = (): void => {
      if (cut()) throw new Error('connect ECONNREFUSED');
    };
    const store = (body: V1Lease): V1Lease => {
      this.#version++;
      this.lease = structuredClone({
        ...body,
        metadata: { ...body.metadata, resourceVersion: String(this.#version) },
      });
      return structuredClone(this.lease);
    };
    return {
      readNamespacedLease: async () => {
        guard();
        if (this.lease === null) throw new ApiException(404, 'not found', {}, {});
        return structuredClone(this.lease);
      },
      createNamespacedLease: async ({ body }: { body: V1Lease }) => {
        guard();
        if (this.lease !== null) throw new ApiException(409, 'exists', {}, {});
        return store(body);
      },
      replaceNamespacedLease: async ({ body }: { body: V1Lease }) => {
        guard();
        if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion)
          throw new ApiException(409, 'conflict', {}, {});
        return store(body);
      },
    } as unknown as CoordinationV1Api;
  }
}

const elections: LeaderElection[] = [];
afterEach(async () => {
  await Promise.all(elections.splice(0).map((election) => election.stop()));
});

function candidate(
  store: LeaseStore,
  identity: string,
  cut: () => boolean = () => false,
  leaseDurationMs = 200,
  now: () => Date = () => new Date(),
) {
  const events: string[] = [];
  const election = new LeaderElection({
    api: store.client(cut),
    namespace: 'switchyard-system',
    name: 'switchyard-control',
    identity,
    leaseDurationMs,
    renewMs: 20,
    now,
    logger: pino({ level: 'silent' }),
    onStartedLeading: () => events.push('start'),
    onStoppedLeading: () => events.push('stop'),
  });
  elections.push(election);
  return { election, events };
}

async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

describe('LeaderElection', () => {
  it('one candidate leads; the other takes over once the leader cannot renew and the lease expires', async () => {
    const store = new LeaseStore();
    let partitioned = false;
    const a = candidate(store, 'a', () => partitioned);
    a.election.start();
    await until('a to lead', () => a.election.isLeader);
    const b = candidate(store, 'b');
    b.election.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(b.election.isLeader).toBe(false);
    expect(store.lease?.spec?.holderIdentity).toBe('a');

    partitioned = true;
    await until('a to step down and b to lead', () => !a.election.isLeader && b.election.isLeader);
    expect(a.events).toEqual(['start', 'stop']);
    expect(b.events).toEqual(['start']);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('a candidate whose clock runs an hour ahead does not take over a lease that is being renewed', async () => {
    const store = new LeaseStore();
    const a = candidate(store, 'a');
    a.election.start();
    await until('a to lead', () => a.election.isLeader);
    const b = candidate(
      store,
      'b',
      () => false,
      200,
      () => new Date(Date.now() + 3_600_000),
    );
    b.election.start();
    await new Promise((resolve) => setTimeout(resolve, 500)); // 2.5 lease durations
    expect(b.election.isLeader).toBe(false);
    expect(a.events).toEqual(['start']);
    expect(store.lease?.spec?.holderIdentity).toBe('a');
  });

  it('a stopping leader releases the lease so the other takes over without waiting for expiry', async () => {
    const store = new LeaseStore();
    // A lease far longer than the test: b can only lead because a released it.
    const a = candidate(store, 'a', () => false, 60_000);
    a.election.start();
    await until('a to lead', () => a.election.isLeader);
    const b = candidate(store, 'b', () => false, 60_000);
    b.election.start();
    await a.election.stop();
    expect(a.events).toEqual(['start', 'stop']);
    await until('b to lead', () => b.election.isLeader);
  });
});
