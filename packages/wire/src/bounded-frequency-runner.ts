// BoundedFrequencyRunner (k8s.io/kubernetes/pkg/util/async/bounded_frequency_runner.go): runs
// a function when asked, but at most `burstRuns` times back to back and then no more than once
// per minInterval (a token bucket: qps = 1/minInterval, burst = burstRuns), and at least once per
// maxInterval even if nobody asks. Requests that arrive while a run is waiting or in progress
// coalesce into one run: a burst of 100 EndpointSlice events becomes one or two syncs.
// The function is async here (a sync crosses a socket), so runs never overlap.
//
// One implementation for every podnet sync loop (kube-proxy's proxier, the NetworkPolicy agent).
// It lives in @podnet/wire because it needs nothing but the injected Clock (DESIGN §6.7) and every
// package already depends on wire, so no package has to import another's runner.
import type { Clock, TimerHandle } from './clock.js';
import { ErrorCodes, PodnetError } from './errors.js';

export interface BoundedFrequencyRunnerOptions {
  /** Minimum ms between runs once the burst is used (kube-proxy --iptables-min-sync-period, default 1 s). */
  minIntervalMs: number;
  /** Maximum ms between runs (kube-proxy --iptables-sync-period, default 30 s). */
  maxIntervalMs: number;
  /** Runs allowed back to back (kube-proxy uses 2). */
  burstRuns?: number;
  clock: Clock;
  /** Called when fn rejects (the runner keeps going). */
  onError?: (error: unknown) => void;
  /**
   * After a run that rejected, run again this many ms later (still rate limited). Absent: no
   * automatic retry, as upstream (kube-proxy calls retryAfter itself when its sync fails).
   */
  retryOnErrorMs?: number;
  /** The command-line flags the two intervals come from, named in the configuration error. */
  flags?: { minInterval: string; maxInterval: string };
}

export class BoundedFrequencyRunner {
  readonly #fn: () => Promise<void>;
  readonly #clock: Clock;
  readonly #min: number;
  readonly #max: number;
  readonly #burst: number;
  readonly #onError: (error: unknown) => void;
  readonly #retryOnError: number | undefined;
  #tokens: number;
  #lastRefill: number;
  #pending = false;
  #running: Promise<void> | undefined;
  #stopped = true;
  #limitTimer: TimerHandle | undefined;
  #maxTimer: TimerHandle | undefined;
  #retryTimer: TimerHandle | undefined;
  #retryAt = Number.POSITIVE_INFINITY;
  #runs = 0;

  constructor(fn: () => Promise<void>, options: BoundedFrequencyRunnerOptions) {
    const { minIntervalMs, maxIntervalMs, retryOnErrorMs } = options;
    const burst = options.burstRuns ?? 2;
    const flags = options.flags ?? { minInterval: 'minIntervalMs', maxInterval: 'maxIntervalMs' };
    if (
      !(minIntervalMs >= 0) ||
      !(maxIntervalMs > 0) ||
      minIntervalMs > maxIntervalMs ||
      !Number.isInteger(burst) ||
      burst < 1 ||
      (retryOnErrorMs !== undefined && !(retryOnErrorMs >= 0))
    ) {
      throw new PodnetError(
        ErrorCodes.RUNNER_CONFIG,
        `sync runner: need 0 <= minInterval (${minIntervalMs} ms) <= maxInterval (${maxIntervalMs} ms), maxInterval > 0, ` +
          `burstRuns (${burst}) a positive integer and retryOnErrorMs (${retryOnErrorMs ?? 'unset'}) >= 0; ` +
          `fix ${flags.minInterval} / ${flags.maxInterval}`,
      );
    }
    this.#fn = fn;
    this.#clock = options.clock;
    this.#min = minIntervalMs;
    this.#max = maxIntervalMs;
    this.#burst = burst;
    this.#onError = options.onError ?? (() => {});
    this.#retryOnError = retryOnErrorMs;
    this.#tokens = burst;
    this.#lastRefill = this.#clock.now();
  }

  /** Number of completed runs (for tests and logs). */
  get runs(): number {
    return this.#runs;
  }

  /** Starts the periodic (maxInterval) runs and serves a request made before; Loop() in upstream. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#armMaxTimer();
    if (this.#pending) this.#tryRun();
  }

  stop(): void {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#limitTimer);
    this.#clock.clearTimeout(this.#maxTimer);
    this.#clock.clearTimeout(this.#retryTimer);
    this.#limitTimer = this.#maxTimer = this.#retryTimer = undefined;
    this.#retryAt = Number.POSITIVE_INFINITY;
    this.#pending = false;
  }

  /** Asks for a run as soon as the rate limit allows; coalesces with any run already waiting. */
  run(): void {
    this.#pending = true;
    queueMicrotask(() => this.#tryRun());
  }

  /** Asks for a run after `ms` (kube-proxy: a failed sync retries after syncPeriod), unless one is due sooner. */
  retryAfter(ms: number): void {
    if (this.#stopped) return;
    const at = this.#clock.now() + ms;
    if (at >= this.#retryAt) return;
    this.#clock.clearTimeout(this.#retryTimer);
    this.#retryAt = at;
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#retryAt = Number.POSITIVE_INFINITY;
      this.#pending = true;
      this.#tryRun();
    }, ms);
  }

  /** Resolves once no run is in progress (microtasks drained): for tests and shutdown. */
  async settled(): Promise<void> {
    for (;;) {
      await new Promise<void>((r) => setImmediate(r));
      const running = this.#running;
      if (!running) return;
      await running;
    }
  }

  #refill(): void {
    const now = this.#clock.now();
    if (this.#min === 0) {
      this.#tokens = this.#burst;
    } else {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#lastRefill) / this.#min);
    }
    this.#lastRefill = now;
  }

  #tryRun(): void {
    if (this.#running || !this.#pending || this.#stopped) return;
    this.#refill();
    if (this.#tokens < 1) {
      if (this.#limitTimer) return;
      const wait = Math.ceil((1 - this.#tokens) * this.#min);
      this.#limitTimer = this.#clock.setTimeout(() => {
        this.#limitTimer = undefined;
        this.#tryRun();
      }, wait);
      return;
    }
    this.#tokens -= 1;
    this.#pending = false;
    this.#clock.clearTimeout(this.#maxTimer);
    this.#maxTimer = undefined;
    this.#running = this.#fn()
      .catch((error: unknown) => {
        this.#onError(error);
        if (this.#retryOnError !== undefined) this.retryAfter(this.#retryOnError);
      })
      .finally(() => {
        this.#runs++;
        this.#running = undefined;
        if (this.#stopped) return;
        this.#armMaxTimer();
        if (this.#pending) this.#tryRun();
      });
  }

  #armMaxTimer(): void {
    this.#clock.clearTimeout(this.#maxTimer);
    this.#maxTimer = this.#clock.setTimeout(() => {
      this.#maxTimer = undefined;
      this.#pending = true;
      this.#tryRun();
    }, this.#max);
  }
}
