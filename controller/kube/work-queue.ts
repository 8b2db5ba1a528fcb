// A level-triggered work queue keyed by `namespace/name`: adding a queued key is a no-op, a key is
// never processed twice at once (an add while it runs queues it once more), failures back off
// exponentially per key, and a conflict retries at once with a fresh read.

export type WorkResult = 'done' | 'conflict';

export interface WorkQueueOptions {
  readonly process: (key: string) => Promise<WorkResult>;
  readonly onError: (key: string, error: unknown, retryInMs: number) => void;
  /** Keys processed at the same time (different keys). Default 4. */
  readonly concurrency?: number;
  readonly baseBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export class WorkQueue {
  readonly #options: Required<WorkQueueOptions>;
  readonly #queued = new Set<string>();
  readonly #order: string[] = [];
  readonly #running = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #active = false;
  #idle: (() => void)[] = [];

  constructor(options: WorkQueueOptions) {
    this.#options = { concurrency: 4, baseBackoffMs: 100, maxBackoffMs: 30_000, ...options };
  }

  /** Start handing keys to `process` (the leader); queued keys are kept while inactive. */
  start(): void {
    this.#active = true;
    this.#pump();
  }

  /** Stop handing out keys; resolves when in-flight work is done. */
  async stop(): Promise<void> {
    this.#active = false;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    if (this.#running.size === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  add(key: string): void {
    if (this.#running.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#order.push(key);
    this.#pump();
  }

  addAfter(key: string, delayMs: number): void {
    if (this.#timers.has(key)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.#timers.set(key, timer);
  }

  get length(): number {
    return this.#order.length;
  }

  #pump(): void {
    while (this.#active && this.#running.size < this.#options.concurrency) {
      const index = this.#order.findIndex((key) => !this.#running.has(key));
      if (index < 0) return;
      const [key] = this.#order.splice(index, 1) as [string];
      this.#queued.delete(key);
      this.#running.add(key);
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    try {
      const result = await this.#options.process(key);
      this.#failures.delete(key);
      if (result === 'conflict') this.#dirty.add(key);
    } catch (error) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      const delay = Math.min(this.#options.maxBackoffMs, this.#options.baseBackoffMs * 2 ** (failures - 1));
      this.#options.onError(key, error, delay);
      if (this.#active) this.addAfter(key, delay);
    } finally {
      this.#running.delete(key);
      if (this.#dirty.delete(key)) this.add(key);
      if (this.#running.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
      this.#pump();
    }
  }
}
