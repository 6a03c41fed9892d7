// A keyed work queue as client-go's (util/workqueue queue.go + rate_limiting_queue.go): a key is
// queued at most once; a key added while it is being processed runs once more afterwards (its
// "dirty" mark), so no change is lost and no key is processed by two workers at the same time;
// a failed key is retried with per-key exponential back-off (`ItemExponentialFailureRateLimiter`)
// and forgotten on success.
import type { Logger } from '@podnet/client';

export interface WorkQueueOptions {
  concurrency?: number;
  /** First retry delay, ms. Default 100. */
  retryBaseMs?: number;
  /** Largest retry delay, ms. Default 10000. */
  retryMaxMs?: number;
  /** Start paused: keys collect until resume() (controllers wait for their caches to sync). */
  paused?: boolean;
}

export class WorkQueue {
  readonly #handler: (key: string) => Promise<void>;
  readonly #log: Logger;
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #concurrency: number;
  readonly #retryBase: number;
  readonly #retryMax: number;
  #workers = 0;
  #stopped = false;
  #paused: boolean;
  #idleWaiters: (() => void)[] = [];

  constructor(handler: (key: string) => Promise<void>, log: Logger, opts: WorkQueueOptions = {}) {
    this.#handler = handler;
    this.#log = log;
    this.#concurrency = opts.concurrency ?? 1;
    this.#retryBase = opts.retryBaseMs ?? 100;
    this.#retryMax = opts.retryMaxMs ?? 10_000;
    this.#paused = opts.paused ?? false;
  }

  resume(): void {
    this.#paused = false;
    this.#pump();
  }

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#pump();
  }

  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      this.add(key);
    }, ms);
    t.unref();
    this.#timers.add(t);
  }

  get length(): number {
    return this.#queue.length + this.#processing.size;
  }

  /** Resolves when nothing is queued or running (timers for later keys do not count). */
  idle(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#queue.length = 0;
    this.#queued.clear();
  }

  #pump(): void {
    while (!this.#stopped && !this.#paused && this.#workers < this.#concurrency && this.#queue.length > 0) {
      const key = this.#queue.shift()!;
      this.#queued.delete(key);
      this.#processing.add(key);
      this.#workers++;
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    try {
      await this.#handler(key);
      this.#failures.delete(key);
    } catch (err) {
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const delay = Math.min(this.#retryMax, this.#retryBase * 2 ** (n - 1));
      this.#log.warn({ key, attempt: n, retryInMs: delay, err: (err as Error).message }, 'sync failed; will retry');
      this.addAfter(key, delay);
    } finally {
      this.#processing.delete(key);
      this.#workers--;
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
      if (this.length === 0) for (const w of this.#idleWaiters.splice(0)) w();
    }
  }
}
