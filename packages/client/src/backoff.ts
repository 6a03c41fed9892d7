// Exponential back-off with jitter, as client-go's wait.Backoff does (apimachinery pkg/util/wait
// backoff.go: Duration × Factor^n, capped, plus Jitter × random): retries of many clients after a
// server restart spread out instead of arriving together.
import type { Rng } from '@podnet/wire';

export interface BackoffOptions {
  /** First delay, ms. Default 100. */
  initialMs?: number;
  /** Largest delay, ms. Default 5000. */
  maxMs?: number;
  /** Multiplier per step. Default 2. */
  factor?: number;
  /** Extra random fraction of the delay, in [0, 1]. Default 0.2. */
  jitter?: number;
}

export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #factor: number;
  readonly #jitter: number;
  readonly #rng: Rng;
  #current: number;

  constructor(rng: Rng, options: BackoffOptions = {}) {
    this.#initial = options.initialMs ?? 100;
    this.#max = options.maxMs ?? 5000;
    this.#factor = options.factor ?? 2;
    this.#jitter = options.jitter ?? 0.2;
    this.#rng = rng;
    this.#current = this.#initial;
  }

  /** The delay before the next attempt; each call lengthens the following one. */
  next(): number {
    const base = this.#current;
    this.#current = Math.min(this.#max, this.#current * this.#factor);
    return Math.min(this.#max, base + base * this.#jitter * this.#rng.next());
  }

  /** After a success: start again from the initial delay. */
  reset(): void {
    this.#current = this.#initial;
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
