// RouteStore without sockets: which held polls a publish answers.

import { describe, expect, it } from 'vitest';
import { parseRouteTable, type RouteTable } from '../api/routes.js';
import { RouteStore } from './route-server.js';

function table(generation: number): RouteTable {
  return parseRouteTable({
    service: 'shop',
    generation,
    tracks: { stable: { upstream: 'http://127.0.0.1:8080' } },
    weights: { stable: 100 },
  });
}

/** The poll's answer so far: its generation, null for "nothing new", or 'waiting'. */
function watch(poll: Promise<RouteTable | null>): () => number | null | 'waiting' {
  let answer: number | null | 'waiting' = 'waiting';
  void poll.then((table) => {
    answer = table === null ? null : table.generation;
  });
  return () => answer;
}

const settled = (): Promise<void> => new Promise(setImmediate);

describe('RouteStore', () => {
  it('answers a poll only with a generation past the one it waits past; the others keep waiting', async () => {
    const store = new RouteStore();
    store.publish('default', table(3));
    const abort = new AbortController();
    const pastCurrent = watch(store.waitNewer('default', 'shop', 3, 60_000, abort.signal));
    const pastFive = watch(store.waitNewer('default', 'shop', 5, 60_000, abort.signal));
    expect(store.waiting()).toBe(2);

    expect(store.publish('default', table(4))).toBe(true);
    await settled();
    expect(pastCurrent()).toBe(4);
    expect(pastFive()).toBe('waiting');

    expect(store.publish('default', table(5))).toBe(true);
    await settled();
    expect(pastFive()).toBe('waiting');
    expect(store.waiting()).toBe(1);

    expect(store.publish('default', table(6))).toBe(true);
    await settled();
    expect(pastFive()).toBe(6);
    expect(store.waiting()).toBe(0);
    abort.abort();
  });

  it('answers every held poll with null when the service is removed', async () => {
    const store = new RouteStore();
    store.publish('default', table(3));
    const polls = [3, 7].map((after) => watch(store.waitNewer('default', 'shop', after, 60_000)));
    store.remove('default', 'shop');
    await settled();
    expect(polls.map((answer) => answer())).toEqual([null, null]);
    expect(store.waiting()).toBe(0);
  });
});
