import { describe, expect, it } from 'vitest';
import { type WorkResult, WorkQueue } from './work-queue.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
}

describe('WorkQueue', () => {
  it('dedupes queued keys and never runs one key twice at once; an add while running runs it once more', async () => {
    const gate = deferred();
    const runs: string[] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const queue = new WorkQueue({
      process: async (key): Promise<WorkResult> => {
        runs.push(key);
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        if (runs.length === 1) await gate.promise;
        concurrent--;
        return 'done';
      },
      onError: () => {},
    });
    queue.add('a');
    queue.add('a');
    queue.start();
    await until(() => runs.length === 1);
    queue.add('a');
    queue.add('a');
    gate.resolve();
    await until(() => runs.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(runs).toEqual(['a', 'a']);
    expect(maxConcurrent).toBe(1);
    await queue.stop();
  });

  it('keeps keys while inactive, retries conflicts at once and failures with backoff', async () => {
    let attempts = 0;
    const errors: number[] = [];
    const queue = new WorkQueue({
      process: async (): Promise<WorkResult> => {
        attempts++;
        if (attempts === 1) return 'conflict';
        if (attempts <= 3) throw new Error('boom');
        return 'done';
      },
      onError: (_key, _error, retryInMs) => errors.push(retryInMs),
      baseBackoffMs: 5,
    });
    queue.add('k');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(attempts).toBe(0);
    queue.start();
    await until(() => attempts === 4);
    expect(errors).toEqual([5, 10]);
    await queue.stop();
  });
});
