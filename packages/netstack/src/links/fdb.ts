// The bridge's forwarding database (net/bridge/br_fdb.c): MAC → port, learned from source
// addresses and forgotten after the ageing time (300 s by default, `ip link set cni0 type bridge
// ageing_time`), or static (`bridge fdb add ... static`), which never ages.
import { formatMac, type MacAddress } from '@podnet/wire';

export interface FdbEntry<P> {
  mac: MacAddress;
  port: P;
  /** Clock ms when last seen as a source (or added). */
  updated: number;
  static: boolean;
}

export const DEFAULT_AGEING_MS = 300_000;

export class Fdb<P> {
  readonly #entries = new Map<MacAddress, FdbEntry<P>>();
  ageingMs: number;

  constructor(ageingMs = DEFAULT_AGEING_MS) {
    this.ageingMs = ageingMs;
  }

  /** br_fdb_update: learns (or refreshes, or moves) a dynamic entry; static entries win. */
  learn(mac: MacAddress, port: P, now: number): void {
    const e = this.#entries.get(mac);
    if (e === undefined) {
      this.#entries.set(mac, { mac, port, updated: now, static: false });
    } else if (!e.static) {
      e.port = port;
      e.updated = now;
    }
  }

  addStatic(mac: MacAddress, port: P, now: number): void {
    this.#entries.set(mac, { mac, port, updated: now, static: true });
  }

  delete(mac: MacAddress): boolean {
    return this.#entries.delete(mac);
  }

  /** The port for a MAC, or undefined when unknown or aged out (an aged entry is removed, as br_fdb_cleanup does). */
  lookup(mac: MacAddress, now: number): P | undefined {
    const e = this.#entries.get(mac);
    if (e === undefined) return undefined;
    if (!e.static && now - e.updated > this.ageingMs) {
      this.#entries.delete(mac);
      return undefined;
    }
    return e.port;
  }

  /** Forgets every entry of a port (the port was removed, br_fdb_delete_by_port). */
  flushPort(port: P): void {
    for (const [mac, e] of this.#entries) if (e.port === port) this.#entries.delete(mac);
  }

  /** Live entries (aged ones dropped first), like `bridge fdb show`. */
  entries(now: number): FdbEntry<P>[] {
    const out: FdbEntry<P>[] = [];
    for (const [mac, e] of this.#entries) {
      if (!e.static && now - e.updated > this.ageingMs) this.#entries.delete(mac);
      else out.push({ ...e });
    }
    return out;
  }

  describe(now: number, portName: (p: P) => string): string[] {
    return this.entries(now).map((e) => `${formatMac(e.mac)} dev ${portName(e.port)}${e.static ? ' static' : ''}`);
  }
}
