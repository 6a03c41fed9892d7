// Per-link fault injection on a link's egress, like `tc qdisc add dev X root netem loss 1% delay
// 10ms 2ms duplicate 1% reorder 5%` plus a `tbf` rate limit. Everything draws from the injected Rng
// and waits on the injected Clock (DESIGN §6.7), so a seed gives the same run twice.
import type { Clock, Rng, TimerHandle } from '@podnet/wire';
import { configError } from './errors.js';

export interface FaultOptions {
  /** Probability in [0, 1] that a frame is lost. */
  loss?: number;
  /** Fixed delay added to every frame, in ms. */
  delayMs?: number;
  /** Uniform jitter in [-jitterMs, +jitterMs] added to the delay (never below 0). */
  jitterMs?: number;
  /** Probability that a frame is sent twice. */
  duplicate?: number;
  /** Probability that a frame is held back and sent after the next one (netem reorder). */
  reorder?: number;
  /** Rate limit in bits per second (token bucket with one-frame granularity); excess waits in a queue. */
  rateBitsPerSecond?: number;
  /** Frames waiting for the rate limiter beyond this are dropped (tbf limit). Default 1000. */
  queueLimit?: number;
}

export type FaultDropReason = 'fault-loss' | 'fault-queue-full';

function checkProbability(name: string, v: number | undefined): void {
  if (v !== undefined && !(v >= 0 && v <= 1)) throw configError(`fault ${name} must be a probability in [0, 1], got ${v}`);
}
function checkNonNegative(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw configError(`fault ${name} must be a number >= 0, got ${v}`);
}

export function validateFaults(o: FaultOptions): void {
  checkProbability('loss', o.loss);
  checkProbability('duplicate', o.duplicate);
  checkProbability('reorder', o.reorder);
  checkNonNegative('delayMs', o.delayMs);
  checkNonNegative('jitterMs', o.jitterMs);
  checkNonNegative('queueLimit', o.queueLimit);
  if (o.rateBitsPerSecond !== undefined && !(Number.isFinite(o.rateBitsPerSecond) && o.rateBitsPerSecond > 0)) {
    throw configError(`fault rateBitsPerSecond must be > 0, got ${o.rateBitsPerSecond}`);
  }
}

/**
 * Decides, for each frame, whether and when it leaves. `send` puts a frame on the wire; `drop`
 * counts a frame the faults discarded (its owner releases it).
 */
export class FaultInjector {
  readonly options: Readonly<FaultOptions>;
  readonly #clock: Clock;
  readonly #rng: Rng;
  #held: Buffer | undefined;
  /** When the rate limiter's wire is free again (clock ms). */
  #wireFreeAt = 0;
  #queued = 0;
  readonly #timers = new Set<TimerHandle>();

  constructor(options: FaultOptions, clock: Clock, rng: Rng) {
    validateFaults(options);
    this.options = { ...options };
    this.#clock = clock;
    this.#rng = rng;
  }

  process(frame: Buffer, send: (frame: Buffer) => void, drop: (frame: Buffer, reason: FaultDropReason) => void): void {
    const o = this.options;
    if (o.loss && this.#rng.next() < o.loss) {
      drop(frame, 'fault-loss');
      return;
    }
    const copies: Buffer[] = [frame];
    if (o.duplicate && this.#rng.next() < o.duplicate) copies.push(Buffer.from(frame));
    for (const f of copies) this.#reorderStage(f, send, drop);
  }

  #reorderStage(frame: Buffer, send: (frame: Buffer) => void, drop: (frame: Buffer, reason: FaultDropReason) => void): void {
    const o = this.options;
    if (o.reorder && this.#held === undefined && this.#rng.next() < o.reorder) {
      // Held until the next frame has gone (netem's reorder: this one overtaken by the next).
      this.#held = frame;
      return;
    }
    this.#delayStage(frame, send, drop);
    const held = this.#held;
    if (held !== undefined) {
      this.#held = undefined;
      this.#delayStage(held, send, drop);
    }
  }

  #delayStage(frame: Buffer, send: (frame: Buffer) => void, drop: (frame: Buffer, reason: FaultDropReason) => void): void {
    const o = this.options;
    let delay = o.delayMs ?? 0;
    if (o.jitterMs) delay = Math.max(0, delay + (this.#rng.next() * 2 - 1) * o.jitterMs);
    if (o.rateBitsPerSecond) {
      if (this.#queued >= (o.queueLimit ?? 1000)) {
        drop(frame, 'fault-queue-full');
        return;
      }
      const now = this.#clock.now();
      const start = Math.max(now, this.#wireFreeAt);
      this.#wireFreeAt = start + (frame.length * 8 * 1000) / o.rateBitsPerSecond;
      delay += this.#wireFreeAt - now;
      this.#queued++;
      this.#later(delay, () => {
        this.#queued--;
        send(frame);
      });
      return;
    }
    if (delay > 0) this.#later(delay, () => send(frame));
    else send(frame);
  }

  #later(ms: number, fn: () => void): void {
    const handle = this.#clock.setTimeout(() => {
      this.#timers.delete(handle);
      fn();
    }, ms);
    this.#timers.add(handle);
  }

  /** Cancels every frame still waiting (the link is closing). */
  close(): void {
    for (const t of this.#timers) this.#clock.clearTimeout(t);
    this.#timers.clear();
    this.#held = undefined;
  }
}
