// Per-interface counters (struct rtnl_link_stats64 in Linux, plus drops by reason as
// `ip -s link` and the kernel's drop-reason tracepoint report them). Observability exports them.

export interface InterfaceCountersSnapshot {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Frames dropped on this interface, by reason ('truncated', 'oversized', 'ip-checksum', ...). */
  drops: Record<string, number>;
}

export class InterfaceCounters {
  rxPackets = 0;
  rxBytes = 0;
  txPackets = 0;
  txBytes = 0;
  readonly #drops = new Map<string, number>();

  rx(bytes: number): void {
    this.rxPackets++;
    this.rxBytes += bytes;
  }
  tx(bytes: number): void {
    this.txPackets++;
    this.txBytes += bytes;
  }
  drop(reason: string): void {
    this.#drops.set(reason, (this.#drops.get(reason) ?? 0) + 1);
  }
  dropped(reason?: string): number {
    if (reason !== undefined) return this.#drops.get(reason) ?? 0;
    let total = 0;
    for (const n of this.#drops.values()) total += n;
    return total;
  }
  snapshot(): InterfaceCountersSnapshot {
    return {
      rxPackets: this.rxPackets,
      rxBytes: this.rxBytes,
      txPackets: this.txPackets,
      txBytes: this.txBytes,
      drops: Object.fromEntries(this.#drops),
    };
  }
}
