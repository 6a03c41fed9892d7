// The kubelet's container restart back-off (pkg/kubelet/kuberuntime/kuberuntime_manager.go
// doBackOff, with flowcontrol.Backoff initial 10 s, max 5 min): the first restart after a crash
// is immediate; each further one waits twice as long as the previous, up to the cap; a container
// that ran longer than 2 × cap (10 min) since its last start resets the back-off.

export interface BackoffConfig {
  initialMs: number;
  maxMs: number;
}

export const KUBELET_BACKOFF: BackoffConfig = { initialMs: 10_000, maxMs: 300_000 };

export class RestartBackoff {
  readonly #cfg: BackoffConfig;
  #current = 0;

  constructor(cfg: BackoffConfig = KUBELET_BACKOFF) {
    this.#cfg = cfg;
  }

  /** How long to wait before the next restart, given how long the container last ran. */
  next(ranForMs: number): number {
    if (ranForMs > 2 * this.#cfg.maxMs) this.#current = 0;
    const wait = this.#current;
    this.#current = this.#current === 0 ? this.#cfg.initialMs : Math.min(this.#current * 2, this.#cfg.maxMs);
    return wait;
  }

  get currentMs(): number {
    return this.#current;
  }
}
