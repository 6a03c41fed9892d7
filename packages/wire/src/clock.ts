// Time and randomness, injected (DESIGN §6.7). Nothing in the data plane reads Date.now(),
// setTimeout or Math.random directly: conntrack timeouts, ARP ageing, TCP retransmission timers,
// fault injection and `-m statistic --probability` all take a Clock and an Rng, so a test can
// drive them with a FakeClock (src/testing/fake-clock.ts) and a fixed seed and get the same run twice.

/** An opaque handle returned by Clock.setTimeout. */
export interface TimerHandle {
  readonly id: number;
}

export interface Clock {
  /** Monotonic milliseconds (may be fractional). Only differences are meaningful. */
  now(): number;
  /** Runs fn once after ms milliseconds of this clock's time. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** The real clock: performance.now() and the event loop's timers. Timers never keep the process alive. */
export class SystemClock implements Clock {
  readonly #timers = new Map<number, NodeJS.Timeout>();
  #next = 1;
  now(): number {
    return performance.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    const t = setTimeout(
      () => {
        this.#timers.delete(id);
        fn();
      },
      Math.max(0, ms),
    );
    t.unref();
    this.#timers.set(id, t);
    return { id };
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.#timers.get(handle.id);
    if (t) clearTimeout(t);
    this.#timers.delete(handle.id);
  }
}

export const systemClock: Clock = new SystemClock();

/** A source of uniform randomness. Seeded implementations make runs reproducible. */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An unsigned 32-bit integer. */
  nextUint32(): number;
}

/**
 * mulberry32: a tiny 32-bit generator with a full 2^32 period, good enough for loss injection,
 * ISNs in tests and statistic matches (not for cryptography).
 */
export class SeededRng implements Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  nextUint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  next(): number {
    return this.nextUint32() / 2 ** 32;
  }
}

/** Randomness from the operating system, for production runs (ISNs, ephemeral ports). */
export const cryptoRng: Rng = {
  next: () => crypto.getRandomValues(new Uint32Array(1))[0]! / 2 ** 32,
  nextUint32: () => crypto.getRandomValues(new Uint32Array(1))[0]!,
};
