// The path-MTU cache (RFC 1191 §6.3; Linux's per-destination exception routes, fnhe): an ICMP
// fragmentation-needed lowers the MTU towards one destination for ip_rt_mtu_expires (10 min),
// never below ip_rt_min_pmtu (552), and a larger value never raises it (RFC 1191 §6.3).
import type { Clock, Ipv4Address } from '@podnet/wire';

export const PMTU_EXPIRES_MS = 600_000;
export const MIN_PMTU = 552;

export class PmtuCache {
  readonly #entries = new Map<Ipv4Address, { mtu: number; expires: number }>();
  readonly #clock: Clock;
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Learns mtu towards dst from an ICMP fragmentation-needed; `current` is the MTU in use. Returns true when lowered. */
  update(dst: Ipv4Address, mtu: number, current: number): boolean {
    const known = this.get(dst) ?? current;
    const value = Math.max(MIN_PMTU, mtu);
    if (value >= known) return false;
    this.#entries.set(dst >>> 0, { mtu: value, expires: this.#clock.now() + PMTU_EXPIRES_MS });
    return true;
  }

  get(dst: Ipv4Address): number | undefined {
    const e = this.#entries.get(dst >>> 0);
    if (e === undefined) return undefined;
    if (this.#clock.now() >= e.expires) {
      this.#entries.delete(dst >>> 0);
      return undefined;
    }
    return e.mtu;
  }

  clear(): void {
    this.#entries.clear();
  }
}
