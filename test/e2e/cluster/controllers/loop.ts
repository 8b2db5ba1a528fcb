// A level-triggered reconcile loop: runs `reconcile` soon after trigger() (coalescing bursts of
// events), never twice at once, and again every `resyncMs` so failed steps are retried.

export class ReconcileLoop {
  #timer: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(
    private readonly name: string,
    private readonly reconcile: () => Promise<void>,
    private readonly resyncMs: number,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.#resync = setInterval(() => this.trigger(), this.resyncMs);
    this.#resync.unref();
    this.trigger();
  }

  trigger(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#run();
    }, 5);
  }

  #run(): void {
    this.#running = this.reconcile()
      .catch((error: unknown) =>
        this.log(`${this.name}: ${error instanceof Error ? error.message : String(error)}`),
      )
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.trigger();
        }
      });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#resync);
    clearTimeout(this.#timer);
    await this.#running;
  }
}
