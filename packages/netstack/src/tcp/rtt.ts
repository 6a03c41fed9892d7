// The retransmission timeout of RFC 6298: SRTT and RTTVAR from RTT samples (§2.2-2.3), the RTO
// clamped to [rtoMin, rtoMax] (§2.4-2.5; Linux's 200 ms floor, not the RFC's 1 s, because the
// emulated paths have sub-millisecond RTTs and a 1 s floor would stall every loss), and binary
// exponential backoff on expiry (§5.5). Samples come only from segments sent once (Karn's
// algorithm, §3): the connection stops timing when it retransmits.

const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;
/** Clock granularity G (§2.2): the injected clock is sub-millisecond; 1 ms as a floor for K*RTTVAR. */
const GRANULARITY_MS = 1;

export class RttEstimator {
  srtt: number | undefined;
  rttvar = 0;
  #baseRto: number;
  #backoff = 0;

  constructor(
    private readonly initialRtoMs: number,
    private readonly rtoMinMs: number,
    private readonly rtoMaxMs: number,
  ) {
    this.#baseRto = initialRtoMs;
  }

  /** The current RTO, including backoff. */
  get rto(): number {
    return Math.min(this.rtoMaxMs, this.#baseRto * 2 ** this.#backoff);
  }

  get backoffs(): number {
    return this.#backoff;
  }

  sample(rttMs: number): void {
    const r = Math.max(0, rttMs);
    if (this.srtt === undefined) {
      // §2.2: the first measurement.
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      // §2.3: RTTVAR first, from the old SRTT.
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - r);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * r;
    }
    this.#baseRto = Math.min(this.rtoMaxMs, Math.max(this.rtoMinMs, this.srtt + Math.max(GRANULARITY_MS, K * this.rttvar)));
  }

  /** §5.5: double the RTO on each expiry. */
  backoff(): void {
    if (this.rto < this.rtoMaxMs) this.#backoff++;
  }

  /** A new acknowledgment ends the backoff (§5.7 and Linux's icsk_backoff = 0 on ACK). */
  resetBackoff(): void {
    this.#backoff = 0;
  }

  /** §5.7: after the SYN's timer expired, use 3 s once data transfer starts (only without samples). */
  restartFromInitial(): void {
    if (this.srtt === undefined) this.#baseRto = Math.max(this.initialRtoMs, this.rtoMinMs);
  }
}
