// A Clock for tests: time moves only when the test says so (DESIGN §6.7, §6.8).
import type { Clock, TimerHandle } from '../clock.js';

interface Pending {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  #now: number;
  #next = 1;
  #seq = 0;
  readonly #pending = new Map<number, Pending>();

  constructor(start = 0) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    this.#pending.set(id, { id, at: this.#now + Math.max(0, ms), seq: this.#seq++, fn });
    return { id };
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.#pending.delete(handle.id);
  }
  /** Number of timers not yet fired. */
  get pendingTimers(): number {
    return this.#pending.size;
  }
  /** Moves time forward by ms, firing every timer due on the way, in due order (ties in creation order). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let due: Pending | undefined;
      for (const p of this.#pending.values()) {
        if (p.at <= target && (!due || p.at < due.at || (p.at === due.at && p.seq < due.seq))) due = p;
      }
      if (!due) break;
      this.#pending.delete(due.id);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = target;
  }
  /** Fires timers until none is left or `limitMs` of fake time has passed. */
  runAll(limitMs = 3_600_000): void {
    const end = this.#now + limitMs;
    while (this.#pending.size > 0 && this.#now < end) {
      let nextAt = Number.POSITIVE_INFINITY;
      for (const p of this.#pending.values()) nextAt = Math.min(nextAt, p.at);
      this.advance(Math.max(0, Math.min(nextAt, end) - this.#now));
    }
  }
}
