// The neighbour (ARP) cache (net/core/neighbour.c, net/ipv4/arp.c). An IPv4 next hop is resolved
// to a MAC per interface; packets wait in the entry's queue while a request is outstanding
// (unres_qlen), requests are retried every retrans_time (1 s) up to mcast_solicit (3) times, and
// on failure every waiting packet is dropped with ICMP host unreachable to its sender
// (arp_error_report → ipv4_link_failure → icmp_send). A confirmed entry is REACHABLE for a random
// time in [0.5, 1.5) × base_reachable_time (30 s, neigh_rand_reach_time), then STALE: still used,
// and, unconfirmed 5 s after its first use, re-probed by unicast. Static entries (`ip neigh add ...
// nud permanent`) never age. All times are on the injected Clock.
import { type Clock, formatIpv4, formatMac, type Ipv4Address, type MacAddress, packetPool, type Rng, type TimerHandle } from '@podnet/wire';

export type NeighbourState = 'incomplete' | 'reachable' | 'stale' | 'permanent';

export interface NeighbourEntry {
  dev: string;
  ip: Ipv4Address;
  mac: MacAddress | undefined;
  state: NeighbourState;
}

export interface NeighbourOptions {
  baseReachableMs?: number;
  retransMs?: number;
  maxProbes?: number;
  /** Packets queued per unresolved neighbour (unres_qlen); older ones are dropped first. */
  queueLimit?: number;
  /** delay_first_probe_time: how long a stale entry in use waits for confirmation before probing. */
  delayFirstProbeMs?: number;
}

/** What the table needs from its namespace. */
export interface NeighbourHost {
  readonly clock: Clock;
  readonly rng: Rng;
  /** Sends an ARP request for target on dev (broadcast, or unicast to `to` when re-probing). */
  sendArpRequest(dev: string, target: Ipv4Address, to?: MacAddress): void;
  /** Completes and transmits a frame that waited for resolution. */
  transmitResolved(dev: string, frame: Buffer, mac: MacAddress): void;
  /** Resolution failed: the host reports each waiting frame's loss to its sender, then releases it. */
  resolutionFailed(dev: string, ip: Ipv4Address, frames: Buffer[]): void;
  /** A frame fell out of a full queue. */
  queueOverflow(dev: string, frame: Buffer): void;
}

interface Entry {
  dev: string;
  ip: Ipv4Address;
  mac: MacAddress | undefined;
  state: NeighbourState;
  /** When the entry was last confirmed (a reply, or the entry was added). */
  confirmed: number;
  reachableMs: number;
  probes: number;
  lastProbe: number;
  /** When a stale entry in use gets its first unicast probe (0: not in DELAY). */
  delayUntil: number;
  timer: TimerHandle | undefined;
  queue: Buffer[];
}

const key = (dev: string, ip: Ipv4Address) => `${dev}|${ip >>> 0}`;

function newEntry(dev: string, ip: Ipv4Address, mac: MacAddress | undefined, state: NeighbourState): Entry {
  return { dev, ip, mac, state, confirmed: 0, reachableMs: 0, probes: 0, lastProbe: 0, delayUntil: 0, timer: undefined, queue: [] };
}

export class NeighbourTable {
  readonly #entries = new Map<string, Entry>();
  /**
   * The entry resolve() found last, or undefined: every frame of a bulk transfer asks for the same
   * next hop, and this spares building and hashing the string key per frame (a neighbour cache hit
   * in Linux is one hash of (dev, ip) too, __ipv4_neigh_lookup_noref). Invariant: it is always an
   * entry still in #entries (every removal goes through #forget, which clears it).
   */
  #last: Entry | undefined;
  readonly #host: NeighbourHost;
  readonly baseReachableMs: number;
  readonly retransMs: number;
  readonly maxProbes: number;
  readonly queueLimit: number;
  readonly delayFirstProbeMs: number;

  constructor(host: NeighbourHost, options: NeighbourOptions = {}) {
    this.#host = host;
    this.baseReachableMs = options.baseReachableMs ?? 30_000;
    this.retransMs = options.retransMs ?? 1000;
    this.maxProbes = options.maxProbes ?? 3;
    this.queueLimit = options.queueLimit ?? 101;
    this.delayFirstProbeMs = options.delayFirstProbeMs ?? 5000;
  }

  #randomReachable(): number {
    return this.baseReachableMs * (0.5 + this.#host.rng.next());
  }

  /** Ages a reachable entry to stale when its time is up (evaluated when read, on the injected clock). */
  #age(e: Entry): void {
    if (e.state === 'reachable' && this.#host.clock.now() - e.confirmed >= e.reachableMs) e.state = 'stale';
  }

  /**
   * The MAC to send to, or undefined when the frame was queued (resolution started or pending).
   * Takes ownership of `frame` only when it returns undefined.
   */
  resolve(dev: string, ip: Ipv4Address, frame: Buffer): MacAddress | undefined {
    const last = this.#last;
    if (last !== undefined && last.ip === ip && last.dev === dev && last.state === 'permanent' && last.mac !== undefined) {
      // A permanent entry (flannel's VTEP neighbours) never ages, probes or waits: the answer is its MAC.
      return last.mac;
    }
    const k = key(dev, ip);
    let e = this.#entries.get(k);
    this.#last = e;
    if (e !== undefined) this.#age(e);
    if (e !== undefined && e.mac !== undefined && e.state !== 'incomplete') {
      if (e.state === 'stale') this.#probeStale(e);
      return e.mac;
    }
    if (e === undefined) {
      e = newEntry(dev, ip, undefined, 'incomplete');
      this.#entries.set(k, e);
      this.#solicit(e);
    }
    e.queue.push(frame);
    if (e.queue.length > this.queueLimit) this.#host.queueOverflow(dev, e.queue.shift() as Buffer);
    return undefined;
  }

  /**
   * A stale entry in use enters DELAY: if nothing confirms it within delay_first_probe_time (5 s),
   * it is probed by unicast every retrans_time, and forgotten after ucast_solicit (3) unanswered
   * probes (NUD_PROBE → NUD_FAILED), so the next packet resolves it afresh by broadcast.
   */
  #probeStale(e: Entry): void {
    const now = this.#host.clock.now();
    if (e.delayUntil === 0) {
      e.delayUntil = now + this.delayFirstProbeMs;
      return;
    }
    if (now < e.delayUntil || now - e.lastProbe < this.retransMs) return;
    if (e.probes >= this.maxProbes) {
      this.#forget(key(e.dev, e.ip));
      return;
    }
    e.probes++;
    e.lastProbe = now;
    this.#host.sendArpRequest(e.dev, e.ip, e.mac);
  }

  #solicit(e: Entry): void {
    e.probes++;
    e.lastProbe = this.#host.clock.now();
    this.#host.sendArpRequest(e.dev, e.ip);
    e.timer = this.#host.clock.setTimeout(() => this.#retry(e), this.retransMs);
  }

  #retry(e: Entry): void {
    e.timer = undefined;
    if (this.#entries.get(key(e.dev, e.ip)) !== e || e.state !== 'incomplete') return;
    if (e.probes < this.maxProbes) {
      this.#solicit(e);
      return;
    }
    // NUD_FAILED: forget the entry (the next packet starts over) and report the waiting packets.
    this.#forget(key(e.dev, e.ip));
    const frames = e.queue;
    e.queue = [];
    this.#host.resolutionFailed(e.dev, e.ip, frames);
  }

  /**
   * An ARP packet told us ip is at mac on dev. `solicited` (a reply) confirms: the entry becomes
   * reachable. A request from the neighbour creates or refreshes the entry as stale (arp_process:
   * neigh_event_ns with NUD_STALE). Unsolicited replies only update entries we already have (arp_accept=0).
   */
  learn(dev: string, ip: Ipv4Address, mac: MacAddress, how: 'reply' | 'request'): void {
    const k = key(dev, ip);
    let e = this.#entries.get(k);
    if (e?.state === 'permanent') return;
    if (e === undefined) {
      if (how === 'reply') return;
      e = newEntry(dev, ip, mac, 'stale');
      this.#entries.set(k, e);
      return;
    }
    const macChanged = e.mac !== mac;
    e.mac = mac;
    if (how === 'reply' || e.state === 'incomplete') {
      e.state = 'reachable';
      e.confirmed = this.#host.clock.now();
      e.reachableMs = this.#randomReachable();
    } else if (macChanged) {
      e.state = 'stale';
    }
    this.#flush(e);
  }

  #flush(e: Entry): void {
    this.#host.clock.clearTimeout(e.timer);
    e.timer = undefined;
    e.probes = 0;
    e.delayUntil = 0;
    const mac = e.mac;
    if (mac === undefined) return;
    const frames = e.queue;
    e.queue = [];
    for (const f of frames) this.#host.transmitResolved(e.dev, f, mac);
  }

  /** `ip neigh replace IP lladdr MAC dev DEV nud permanent` (or reachable, when permanent is false). */
  add(dev: string, ip: Ipv4Address, mac: MacAddress, options: { permanent?: boolean } = {}): void {
    const k = key(dev, ip);
    const existing = this.#entries.get(k);
    const e: Entry = existing ?? newEntry(dev, ip, mac, 'permanent');
    e.mac = mac;
    e.state = options.permanent === false ? 'reachable' : 'permanent';
    e.confirmed = this.#host.clock.now();
    e.reachableMs = this.#randomReachable();
    this.#entries.set(k, e);
    this.#flush(e);
  }

  delete(dev: string, ip: Ipv4Address): boolean {
    const k = key(dev, ip);
    const e = this.#entries.get(k);
    if (e === undefined) return false;
    this.#host.clock.clearTimeout(e.timer);
    for (const f of e.queue) packetPool.release(f);
    return this.#forget(k);
  }

  /** Drops every entry of an interface (it went away). */
  flushDevice(dev: string): void {
    for (const e of [...this.#entries.values()]) if (e.dev === dev) this.delete(dev, e.ip);
  }

  get(dev: string, ip: Ipv4Address): NeighbourEntry | undefined {
    const e = this.#entries.get(key(dev, ip));
    if (e === undefined) return undefined;
    this.#age(e);
    return { dev: e.dev, ip: e.ip, mac: e.mac, state: e.state };
  }

  list(): NeighbourEntry[] {
    return [...this.#entries.values()].map((e) => {
      this.#age(e);
      return { dev: e.dev, ip: e.ip, mac: e.mac, state: e.state };
    });
  }

  /** `ip neigh show` lines. */
  show(): string[] {
    return this.list().map(
      (e) => `${formatIpv4(e.ip)} dev ${e.dev}${e.mac !== undefined ? ` lladdr ${formatMac(e.mac)}` : ''} ${e.state.toUpperCase()}`,
    );
  }

  close(): void {
    for (const e of this.#entries.values()) {
      this.#host.clock.clearTimeout(e.timer);
      for (const f of e.queue) packetPool.release(f);
      e.queue = [];
    }
    this.#entries.clear();
    this.#last = undefined;
  }

  #forget(k: string): boolean {
    this.#last = undefined;
    return this.#entries.delete(k);
  }
}
