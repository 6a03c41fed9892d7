// A coalescing sync runner on the injected clock, with the contract of kube-proxy's
// BoundedFrequencyRunner (k8s.io/kubernetes/pkg/util/async/bounded_frequency_runner.go):
// requests coalesce; runs never overlap; at most one run per minInterval after a burst of
// `burstRuns`; at least one run per maxInterval; a failed run is retried after retryMs.
//
// Why not import @podnet/kube-proxy's: kube-proxy depends on @podnet/cni-agent (its process talks
// to the cni-agent's control socket) and the cni-agent hosts this agent, so importing it here
// would make a project-reference cycle (cni-agent → netpol → kube-proxy → cni-agent). The runner
// belongs in a shared package; until it moves, this is the same behaviour in a smaller form.
import type { Clock, TimerHandle } from '@podnet/wire';
import { NetpolError, NetpolErrorCodes } from './errors.js';

export interface SyncRunnerOptions {
  clock: Clock;
  minIntervalMs: number;
  maxIntervalMs: number;
  burstRuns?: number;
  /** After a run that threw, run again this much later (default minIntervalMs, at least 100 ms). */
  retryMs?: number;
  onError?: (error: unknown) => void;
}

export class SyncRunner {
  readonly #fn: () => Promise<void>;
  readonly #o: Required<Omit<SyncRunnerOptions, 'onError'>> & { onError: (e: unknown) => void };
  #tokens: number;
  #lastRefill: number;
  #pending = false;
  #running: Promise<void> | undefined;
  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #maxTimer: TimerHandle | undefined;
  #stopped = true;
  runs = 0;

  constructor(fn: () => Promise<void>, options: SyncRunnerOptions) {
    const burst = options.burstRuns ?? 2;
    if (!(options.minIntervalMs >= 0) || !(options.maxIntervalMs > 0) || options.minIntervalMs > options.maxIntervalMs || !(burst >= 1)) {
      throw new NetpolError(
        NetpolErrorCodes.CONFIG,
        `netpol sync runner: need 0 <= minIntervalMs (${options.minIntervalMs}) <= maxIntervalMs (${options.maxIntervalMs}) and burstRuns >= 1 (${burst})`,
      );
    }
    this.#fn = fn;
    this.#o = {
      clock: options.clock,
      minIntervalMs: options.minIntervalMs,
      maxIntervalMs: options.maxIntervalMs,
      burstRuns: burst,
      retryMs: options.retryMs ?? Math.max(100, options.minIntervalMs),
      onError: options.onError ?? (() => {}),
    };
    this.#tokens = burst;
    this.#lastRefill = options.clock.now();
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#armMax();
  }

  stop(): void {
    this.#stopped = true;
    this.#o.clock.clearTimeout(this.#timer);
    this.#o.clock.clearTimeout(this.#maxTimer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  /** Asks for a run (coalesced with any request not yet served). */
  run(): void {
    if (this.#stopped) return;
    this.#pending = true;
    this.#schedule();
  }

  /** Resolves when no run is in progress or due right now (tests). */
  async settled(): Promise<void> {
    while (this.#running) await this.#running;
  }

  #refill(): void {
    const now = this.#o.clock.now();
    if (this.#o.minIntervalMs === 0) this.#tokens = this.#o.burstRuns;
    else {
      const earned = (now - this.#lastRefill) / this.#o.minIntervalMs;
      this.#tokens = Math.min(this.#o.burstRuns, this.#tokens + earned);
    }
    this.#lastRefill = now;
  }

  #schedule(): void {
    if (this.#running || !this.#pending || this.#stopped) return;
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      this.#go();
      return;
    }
    this.#arm(((1 - this.#tokens) * this.#o.minIntervalMs) | 0);
  }

  #arm(ms: number): void {
    const at = this.#o.clock.now() + ms;
    if (this.#timer && at >= this.#timerAt) return;
    this.#o.clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.#schedule();
    }, ms);
  }

  #armMax(): void {
    this.#o.clock.clearTimeout(this.#maxTimer);
    this.#maxTimer = this.#o.clock.setTimeout(() => this.run(), this.#o.maxIntervalMs);
  }

  #go(): void {
    this.#pending = false;
    this.#armMax();
    this.#running = (async () => {
      try {
        await this.#fn();
      } catch (e) {
        this.#o.onError(e);
        this.#pending = true;
        this.#running = undefined;
        this.#arm(this.#o.retryMs);
        return;
      } finally {
        this.runs++;
      }
      this.#running = undefined;
      this.#schedule();
    })();
  }
}
