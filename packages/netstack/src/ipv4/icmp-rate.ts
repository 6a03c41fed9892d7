// ICMP error rate limiting (RFC 1812 §4.3.2.8), as Linux does it (net/ipv4/icmp.c): a global token
// bucket (icmp_msgs_per_sec 1000, icmp_msgs_burst 50), then per destination (inet_peer_xrlim_allow:
// one message per icmp_ratelimit = 1000 ms, bursts of up to 6). Only the types in icmp_ratemask
// (destination unreachable, source quench, time exceeded, parameter problem) are limited, and never
// fragmentation-needed, which path MTU discovery depends on.
import type { Clock, Ipv4Address } from '@podnet/wire';

export const RATE_LIMIT_MS = 1000;
export const BURST_FACTOR = 6;
export const GLOBAL_PER_SEC = 1000;
export const GLOBAL_BURST = 50;
const RATEMASK_TYPES = new Set([3, 4, 11, 12]);

export class IcmpRateLimiter {
  readonly #clock: Clock;
  readonly #peers = new Map<Ipv4Address, { tokens: number; last: number }>();
  #globalTokens = GLOBAL_BURST;
  #globalLast: number;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#globalLast = clock.now();
  }

  allow(type: number, code: number, dst: Ipv4Address): boolean {
    if (!RATEMASK_TYPES.has(type)) return true;
    if (type === 3 && code === 4) return true;
    const now = this.#clock.now();
    // Global bucket: refills at GLOBAL_PER_SEC per second up to GLOBAL_BURST.
    this.#globalTokens = Math.min(GLOBAL_BURST, this.#globalTokens + ((now - this.#globalLast) * GLOBAL_PER_SEC) / 1000);
    this.#globalLast = now;
    if (this.#globalTokens < 1) return false;
    // Per destination: a new peer starts with a full burst (rate_last 60 s in the past).
    const peer = this.#peers.get(dst) ?? { tokens: 0, last: now - 60_000 };
    let tokens = Math.min(BURST_FACTOR * RATE_LIMIT_MS, peer.tokens + now - peer.last);
    peer.last = now;
    let ok = false;
    if (tokens >= RATE_LIMIT_MS) {
      tokens -= RATE_LIMIT_MS;
      ok = true;
    }
    peer.tokens = tokens;
    this.#peers.set(dst, peer);
    if (this.#peers.size > 4096) this.#peers.delete(this.#peers.keys().next().value as Ipv4Address);
    if (ok) this.#globalTokens -= 1;
    return ok;
  }
}
