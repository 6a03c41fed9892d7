// Connection tracking for one network namespace (net/netfilter/nf_conntrack_core.c).
//
// nf_conntrack_in (track) finds the entry of each packet by its tuple in a hash keyed by both
// directions' tuples, or creates an unconfirmed one that only the packet holds; the entry enters
// the table at nf_conntrack_confirm (confirm, at the end of INPUT and POSTROUTING), so a packet
// dropped on the way leaves nothing behind. Entries expire on the injected clock, checked lazily on
// lookup and by a periodic sweep (the gc worker). The table has a size limit (nf_conntrack_max):
// at the limit a non-assured entry is evicted (early_drop), else the new packet is dropped.
import { type Clock, icmpv4, sctp, tcp, udp } from '@podnet/wire';
import type { HookContext, HookPacket, PacketState, Verdict } from '../hook.js';
import type { ConnectionTracker, CtInfo, Tuple } from './contract.js';
import {
  type ConntrackEntry,
  type Dir,
  dirName,
  IPS_ASSURED,
  IPS_CONFIRMED,
  IPS_DST_NAT,
  IPS_DYING,
  IPS_SEEN_REPLY,
  IPS_SRC_NAT,
  IPS_SRC_NAT_DONE,
  type PacketConntrack,
  tupleOf,
} from './entry.js';
import { ConntrackError, ConntrackErrorCodes } from './errors.js';
import { firstChunk, sctpNew, sctpPacket } from './sctp-state.js';
import { type Slot, TupleTable } from './table.js';
import { readSegment, TcpState, tcpNew, tcpPacket } from './tcp-state.js';
import { type ConntrackTimeouts, resolveTimeouts, type TimeoutOverrides, UDP_STREAM_AFTER_MS } from './timeouts.js';
import {
  ICMP_ERROR_TYPES,
  ICMP_NEW_TYPES,
  icmpInverseType,
  invertTuple,
  isParseFailure,
  type ParsedPacket,
  PROTO_ICMP,
  PROTO_SCTP,
  PROTO_TCP,
  PROTO_UDP,
  parseL4,
  parsePacket,
  tuplesEqual,
} from './tuple.js';

/** Linux's default nf_conntrack_max on a machine with a few GiB of memory. */
export const DEFAULT_CONNTRACK_MAX = 262144;
/** The message Linux logs when the table is full (nf_conntrack_core.c __nf_conntrack_alloc). */
export const TABLE_FULL_REASON = 'nf_conntrack: table full, dropping packet';
/** How many recently created, not yet confirmed entries an ICMP error may still be related to (nf_ct_attach). */
const RECENT_UNCONFIRMED = 16;

export interface ConntrackOptions {
  clock: Clock;
  /** nf_conntrack_max (default 262144). */
  max?: number;
  /** Per-protocol timeouts in seconds to change from the Linux sysctl defaults (DEFAULT_TIMEOUTS). */
  timeouts?: TimeoutOverrides;
  /** nf_conntrack_tcp_be_liberal: only out-of-window RSTs are INVALID (default false). */
  tcpLiberal?: boolean;
  /** nf_conntrack_tcp_loose: pick up established connections mid-stream (default true). */
  tcpLoose?: boolean;
  /** nf_conntrack_checksum: verify L4 checksums at PREROUTING, bad ones are INVALID (default true). */
  checksum?: boolean;
  /** Period of the expiry sweep in ms of the clock (default 5000; 0: only lazy expiry and gc()). */
  gcIntervalMs?: number;
}

/** The counters `conntrack -S` and /proc/net/stat/nf_conntrack show, and the table size. */
export interface ConntrackCounters {
  /** Entries in the table now (nf_conntrack_count). */
  entries: number;
  inserts: number;
  insertFailed: number;
  /** Packets dropped because the table was full. */
  drops: number;
  earlyDrops: number;
  /** Packets found INVALID. */
  invalid: number;
  /** Packets whose entry was found. */
  found: number;
}

type Outcome = { kind: 'accept' } | { kind: 'invalid'; reason: string } | { kind: 'reopen' } | { kind: 'kill' };

export class Conntrack implements ConnectionTracker {
  readonly clock: Clock;
  readonly max: number;
  readonly timeouts: ConntrackTimeouts;
  readonly tcpLiberal: boolean;
  readonly tcpLoose: boolean;
  readonly checksum: boolean;
  readonly gcIntervalMs: number;
  readonly counters: ConntrackCounters = { entries: 0, inserts: 0, insertFailed: 0, drops: 0, earlyDrops: 0, invalid: 0, found: 0 };
  readonly #table = new TupleTable();
  /** Confirmed entries in insertion order. */
  readonly #entries = new Set<ConntrackEntry>();
  /** Confirmed entries not (yet) ASSURED, oldest first: what early_drop may evict. */
  readonly #unassured = new Set<ConntrackEntry>();
  /** The newest unconfirmed entries, by their reply tuple (what an ICMP error about their packet quotes). */
  #recentUnconfirmed: ConntrackEntry[] = [];
  /** Confirmed entries with a source NAT binding, by original source (nf_nat_bysource), newest first. */
  readonly #bySource = new Map<string, ConntrackEntry[]>();
  readonly #destroyListeners: ((entry: ConntrackEntry) => void)[] = [];
  #nextId = 1;
  #gcTimer: ReturnType<Clock['setTimeout']> | undefined;

  constructor(options: ConntrackOptions) {
    const max = options.max ?? DEFAULT_CONNTRACK_MAX;
    if (!Number.isInteger(max) || max < 1) {
      throw new ConntrackError(ConntrackErrorCodes.CONNTRACK_CONFIG, `conntrack: max ${max} must be a positive integer (nf_conntrack_max)`);
    }
    const gc = options.gcIntervalMs ?? 5000;
    if (!(gc >= 0)) throw new ConntrackError(ConntrackErrorCodes.CONNTRACK_CONFIG, `conntrack: gcIntervalMs ${gc} must be 0 or more`);
    this.clock = options.clock;
    this.max = max;
    const timeouts = resolveTimeouts(options.timeouts);
    if (typeof timeouts === 'string') throw new ConntrackError(ConntrackErrorCodes.CONNTRACK_CONFIG, `conntrack: ${timeouts}`);
    this.timeouts = timeouts;
    this.tcpLiberal = options.tcpLiberal ?? false;
    this.tcpLoose = options.tcpLoose ?? true;
    this.checksum = options.checksum ?? true;
    this.gcIntervalMs = gc;
  }

  // ---- ConnectionTracker ----

  track(hook: 'PREROUTING' | 'OUTPUT', packet: HookPacket, _context: HookContext, state: PacketState): Verdict | undefined {
    // Previously seen (looped back, or NOTRACK in raw): nothing to do, as nf_conntrack_in.
    if (state.conntrack !== undefined) return undefined;
    const { buf, l3Offset, end } = packet;
    const parsed = parsePacket(buf, l3Offset, end);
    if (isParseFailure(parsed)) return this.#invalid(state, undefined, parsed.invalid);
    const t = parsed.tuple;
    if (t.protocol === PROTO_ICMP) {
      if (ICMP_ERROR_TYPES.has(parsed.icmpType)) return this.#related(packet, parsed, state, hook);
      if (icmpInverseType(parsed.icmpType) === undefined) {
        return this.#invalid(state, t, `ICMP type ${parsed.icmpType} is neither a query nor an error`);
      }
    }
    if (hook === 'PREROUTING' && this.checksum && packet.checksumUnnecessary !== true && !l4ChecksumValid(buf, parsed)) {
      return this.#invalid(state, t, 'bad checksum');
    }

    let slot = this.#lookup(t, parsed.icmpType);
    if (slot !== undefined) {
      const outcome = this.#update(slot.entry, slot.dir, parsed, buf);
      if (outcome.kind === 'reopen') {
        this.#delete(slot.entry);
        slot = undefined;
      } else {
        this.counters.found++;
        if (outcome.kind === 'invalid') return this.#invalid(state, t, outcome.reason);
        const entry = slot.entry;
        if (outcome.kind === 'kill') this.#delete(entry);
        if (slot.dir === 1) entry.status |= IPS_SEEN_REPLY;
        const ctState = slot.dir === 1 || entry.status & IPS_SEEN_REPLY ? 'ESTABLISHED' : 'NEW';
        state.conntrack = { entry, direction: slot.dir, state: ctState, tuple: t } satisfies PacketConntrack;
        return undefined;
      }
    }
    // A TCP RST answering a packet that died unconfirmed (REJECT --reject-with tcp-reset): the
    // kernel attaches the RST to that packet's entry (nf_send_reset → nf_ct_attach), so NAT undoes
    // the DNAT on it; here the entry is found among the newest unconfirmed ones.
    if (t.protocol === PROTO_TCP && parsed.l4Length >= 14 && (buf[parsed.l4 + 13] as number) & 0x04) {
      const rejected = this.#recentUnconfirmed.find((e) => tuplesEqual(e.reply, t));
      if (rejected !== undefined) {
        state.conntrack = { entry: rejected, direction: 1, state: 'RELATED', tuple: t } satisfies PacketConntrack;
        return undefined;
      }
    }
    return this.#create(parsed, buf, state);
  }

  untrack(state: PacketState): void {
    state.conntrack = { entry: undefined, direction: 0, state: 'UNTRACKED', tuple: undefined } satisfies PacketConntrack;
  }

  info(state: PacketState): CtInfo | undefined {
    const ct = state.conntrack as PacketConntrack | undefined;
    if (ct === undefined) return undefined;
    const entry = ct.entry;
    if (entry === undefined) {
      const t = ct.tuple ?? { protocol: 0, src: 0, dst: 0, srcPort: 0, dstPort: 0 };
      return { state: ct.state, direction: 'original', snat: false, dnat: false, original: t, reply: invertTuple(t), mark: 0 };
    }
    return {
      state: ct.state,
      direction: dirName(ct.direction),
      snat: (entry.status & IPS_SRC_NAT) !== 0,
      dnat: (entry.status & IPS_DST_NAT) !== 0,
      original: entry.original,
      reply: entry.reply,
      mark: entry.mark,
    };
  }

  confirm(state: PacketState): Verdict | undefined {
    const ct = state.conntrack as PacketConntrack | undefined;
    const entry = ct?.entry;
    // Only the packet that created the entry confirms it: original direction, not RELATED (nf_conntrack_confirm).
    if (entry === undefined || ct === undefined || entry.status & IPS_CONFIRMED || ct.direction !== 0 || ct.state === 'RELATED')
      return undefined;
    if (entry.status & IPS_DYING) return { kind: 'drop', reason: 'nf_conntrack: entry deleted before confirmation' };
    const replyType = icmpTypeOf(entry, 1);
    if (this.#lookup(entry.original, entry.icmpType) !== undefined || this.#lookup(entry.reply, replyType) !== undefined) {
      // Another entry took one of the tuples since this one was created (__nf_conntrack_confirm: insert_failed).
      this.counters.insertFailed++;
      return { kind: 'drop', reason: 'nf_conntrack: tuple already in the table (insert failed)' };
    }
    entry.status |= IPS_CONFIRMED;
    this.#table.add({ entry, dir: 0, tuple: entry.original, icmpType: entry.icmpType });
    this.#table.add({ entry, dir: 1, tuple: entry.reply, icmpType: replyType });
    this.#entries.add(entry);
    if (!(entry.status & IPS_ASSURED)) this.#unassured.add(entry);
    if (entry.status & IPS_SRC_NAT_DONE) {
      const k = sourceKey(entry.original);
      const list = this.#bySource.get(k);
      if (list === undefined) this.#bySource.set(k, [entry]);
      else list.unshift(entry);
    }
    this.#recentUnconfirmed = this.#recentUnconfirmed.filter((e) => e !== entry);
    this.counters.inserts++;
    this.counters.entries = this.#entries.size;
    this.#armGc();
    return undefined;
  }

  // ---- beyond the contract: the table as conntrack(8) and NAT see it ----

  /** The packet's entry and direction (NAT and the listing use this). */
  packetConntrack(state: PacketState): PacketConntrack | undefined {
    return state.conntrack as PacketConntrack | undefined;
  }

  /** Sets the ct mark of the packet's connection (`-j CONNMARK --set-mark`). */
  setMark(state: PacketState, mark: number): void {
    const entry = (state.conntrack as PacketConntrack | undefined)?.entry;
    if (entry !== undefined) entry.mark = mark >>> 0;
  }

  /** Whether a confirmed, live entry other than `ignored` holds this tuple in either direction (nf_conntrack_tuple_taken). */
  tupleTaken(t: Tuple, icmpType: number, ignored: ConntrackEntry | undefined): boolean {
    const slot = this.#lookup(t, icmpType);
    return slot !== undefined && slot.entry !== ignored;
  }

  /**
   * The live confirmed entries whose original source (protocol, address, port or ICMP id) is that
   * of `t` and that have a source NAT binding, newest first (find_appropriate_src walks these).
   */
  sourceMappings(t: Tuple): ConntrackEntry[] {
    const now = this.clock.now();
    return (this.#bySource.get(sourceKey(t)) ?? []).filter((e) => e.timeoutAt > now);
  }

  /** The confirmed entries that have not expired, oldest first. */
  entries(): ConntrackEntry[] {
    const now = this.clock.now();
    const live: ConntrackEntry[] = [];
    for (const e of this.#entries) if (e.timeoutAt > now) live.push(e);
    return live;
  }

  /** Removes one entry (conntrack -D of that flow). */
  delete(entry: ConntrackEntry): boolean {
    if (!this.#entries.has(entry)) return false;
    this.#delete(entry);
    return true;
  }

  /** Removes every entry (conntrack -F). Returns how many were removed. */
  flush(): number {
    const n = this.#entries.size;
    for (const e of [...this.#entries]) this.#delete(e);
    return n;
  }

  /**
   * The address of a masquerading interface went away (or the interface went down): its
   * connections cannot be answered any more, so they are removed at once
   * (nf_nat_masquerade.c masq_inet_event / masq_device_event). `address` limits it to entries
   * masqueraded to that address. Returns how many were removed.
   */
  flushMasquerade(interfaceName: string, address?: number): number {
    let n = 0;
    for (const e of [...this.#entries]) {
      if (e.masqueradeInterface !== interfaceName) continue;
      if (address !== undefined && e.reply.dst !== address) continue;
      this.#delete(e);
      n++;
    }
    return n;
  }

  /** Removes expired entries now; returns how many (the gc worker's pass). */
  gc(): number {
    const now = this.clock.now();
    let n = 0;
    for (const e of this.#entries) {
      if (e.timeoutAt <= now) {
        this.#delete(e);
        n++;
      }
    }
    return n;
  }

  /** Seconds left before the entry expires, as /proc/net/nf_conntrack and conntrack -L show them. */
  secondsLeft(entry: ConntrackEntry): number {
    return Math.max(0, Math.floor((entry.timeoutAt - this.clock.now()) / 1000));
  }

  /** Called with each entry that leaves the table (expiry, deletion, flush, early drop). */
  onDestroy(listener: (entry: ConntrackEntry) => void): void {
    this.#destroyListeners.push(listener);
  }

  /** Stops the periodic sweep (the namespace is going away). Lazy expiry goes on working. */
  close(): void {
    this.clock.clearTimeout(this.#gcTimer);
    this.#gcTimer = undefined;
  }

  // ---- internals ----

  #lookup(t: Tuple, icmpType: number): Slot | undefined {
    const slot = this.#table.get(t, icmpType);
    if (slot === undefined) return undefined;
    if (slot.entry.timeoutAt <= this.clock.now()) {
      // Expired but not yet swept: gone for every purpose (nf_ct_gc_expired in the lookup path).
      this.#delete(slot.entry);
      return undefined;
    }
    return slot;
  }

  #delete(entry: ConntrackEntry): void {
    entry.status |= IPS_DYING;
    const wasConfirmed = this.#entries.delete(entry);
    if (wasConfirmed) {
      this.#table.remove(entry.original, entry.icmpType, entry);
      this.#table.remove(entry.reply, icmpTypeOf(entry, 1), entry);
      if (entry.status & IPS_SRC_NAT_DONE) {
        const k = sourceKey(entry.original);
        const rest = (this.#bySource.get(k) ?? []).filter((e) => e !== entry);
        if (rest.length === 0) this.#bySource.delete(k);
        else this.#bySource.set(k, rest);
      }
    }
    this.#unassured.delete(entry);
    this.counters.entries = this.#entries.size;
    if (wasConfirmed) for (const l of this.#destroyListeners) l(entry);
  }

  #invalid(state: PacketState, tuple: Tuple | undefined, reason: string): undefined {
    this.counters.invalid++;
    state.conntrack = { entry: undefined, direction: 0, state: 'INVALID', tuple, invalidReason: reason } satisfies PacketConntrack;
    return undefined;
  }

  /** An ICMP error: RELATED to the connection of the packet it quotes (icmp_error, nf_conntrack_inet_error). */
  #related(packet: HookPacket, parsed: ParsedPacket, state: PacketState, hook: string): undefined {
    const { buf, end } = packet;
    const outer = parsed.tuple;
    if (hook === 'PREROUTING' && this.checksum && !icmpv4.checksumValid(buf, parsed.l4, end))
      return this.#invalid(state, outer, 'bad checksum');
    const inner = parsed.l4 + 8;
    if (end - inner < 20) return this.#invalid(state, outer, 'ICMP error without the quoted IPv4 header');
    const ihl = ((buf[inner] as number) & 0x0f) * 4;
    if (ihl < 20 || inner + ihl > end) return this.#invalid(state, outer, 'ICMP error quoting a bad IPv4 header');
    const innerProto = buf[inner + 9] as number;
    const quoted = parseL4(
      buf,
      innerProto,
      buf.readUInt32BE(inner + 12),
      buf.readUInt32BE(inner + 16),
      inner + ihl,
      end - inner - ihl,
      false,
    );
    if (isParseFailure(quoted)) return this.#invalid(state, outer, `ICMP error quoting a packet without its ports (${quoted.invalid})`);
    if (innerProto === PROTO_ICMP && ICMP_ERROR_TYPES.has(quoted.icmpType))
      return this.#invalid(state, outer, 'ICMP error about an ICMP error');
    // The quoted packet went the other way: the connection is found by its inverse.
    const lookFor = invertTuple(quoted.tuple);
    const innerType = innerProto === PROTO_ICMP ? (icmpInverseType(quoted.icmpType) ?? quoted.icmpType) : 0;
    let slot = this.#lookup(lookFor, innerType);
    if (slot === undefined) {
      // The reply tuple is read now: NAT may have rewritten it since the entry was made.
      const recent = this.#recentUnconfirmed.find((e) => tuplesEqual(e.reply, lookFor) && icmpTypeOf(e, 1) === innerType);
      if (recent !== undefined) slot = { entry: recent, dir: 1, tuple: recent.reply, icmpType: innerType };
    }
    if (slot === undefined) return this.#invalid(state, outer, 'ICMP error about no known connection');
    // "outer daddr != inner": the error must travel to the one who sent the quoted packet.
    if (tupleOf(slot.entry, slot.dir).dst !== outer.dst)
      return this.#invalid(state, outer, 'ICMP error not addressed to the sender of the quoted packet');
    state.conntrack = { entry: slot.entry, direction: slot.dir, state: 'RELATED', tuple: outer } satisfies PacketConntrack;
    return undefined;
  }

  #create(parsed: ParsedPacket, buf: Buffer, state: PacketState): Verdict | undefined {
    const t = parsed.tuple;
    const now = this.clock.now();
    let tcpState: ConntrackEntry['tcp'];
    let sctpState: ConntrackEntry['sctp'];
    if (t.protocol === PROTO_TCP) {
      const seg = readSegment(buf, parsed.l4, parsed.l4Length);
      if (typeof seg === 'string') return this.#invalid(state, t, seg);
      const created = tcpNew(seg, this.tcpLoose);
      if (typeof created === 'string') return this.#invalid(state, t, created);
      tcpState = created;
    } else if (t.protocol === PROTO_SCTP) {
      const chunk = firstChunk(buf, parsed.l4, parsed.l4Length);
      if (typeof chunk === 'string') return this.#invalid(state, t, chunk);
      const created = sctpNew(chunk);
      if (typeof created === 'string') return this.#invalid(state, t, created);
      sctpState = created;
    } else if (t.protocol === PROTO_ICMP && !ICMP_NEW_TYPES.has(parsed.icmpType)) {
      return this.#invalid(state, t, `ICMP type ${parsed.icmpType} cannot start a connection (only requests can)`);
    }
    if (!this.#makeRoom()) {
      this.counters.drops++;
      return { kind: 'drop', reason: TABLE_FULL_REASON };
    }
    const entry: ConntrackEntry = {
      id: this.#nextId++,
      protocol: t.protocol,
      original: t,
      reply: invertTuple(t),
      icmpType: parsed.icmpType,
      icmpCode: parsed.icmpCode,
      status: 0,
      timeoutAt: now,
      createdAt: now,
      mark: 0,
    };
    if (tcpState !== undefined) entry.tcp = tcpState;
    if (sctpState !== undefined) entry.sctp = sctpState;
    const outcome = this.#update(entry, 0, parsed, buf);
    if (outcome.kind === 'invalid') return this.#invalid(state, t, outcome.reason);
    // Until it is confirmed, an ICMP error about this packet (a REJECT further on) can only find the
    // entry here: Linux attaches it to the error directly (nf_ct_attach from icmp_send).
    this.#recentUnconfirmed.push(entry);
    if (this.#recentUnconfirmed.length > RECENT_UNCONFIRMED) this.#recentUnconfirmed.shift();
    state.conntrack = { entry, direction: 0, state: 'NEW', tuple: t } satisfies PacketConntrack;
    return undefined;
  }

  /** The protocol's packet handler: moves the state and refreshes the timeout (nf_conntrack_handle_packet). */
  #update(entry: ConntrackEntry, dir: Dir, parsed: ParsedPacket, buf: Buffer): Outcome {
    const now = this.clock.now();
    const t = this.timeouts;
    switch (entry.protocol) {
      case PROTO_TCP: {
        const seg = readSegment(buf, parsed.l4, parsed.l4Length);
        if (typeof seg === 'string') return { kind: 'invalid', reason: seg };
        const r = tcpPacket(
          entry.tcp as NonNullable<ConntrackEntry['tcp']>,
          dir,
          seg,
          (entry.status & IPS_SEEN_REPLY) !== 0,
          (entry.status & IPS_ASSURED) !== 0,
          {
            liberal: this.tcpLiberal,
            timeouts: t.tcp,
          },
        );
        if (r.kind === 'ignore') return { kind: 'accept' };
        if (r.kind !== 'accept') return r;
        entry.timeoutAt = now + r.timeout * 1000;
        if (r.assure) this.#assure(entry);
        return { kind: 'accept' };
      }
      case PROTO_UDP: {
        if (entry.status & IPS_SEEN_REPLY) {
          // "Still active after two seconds? Extend timeout." (nf_conntrack_udp_packet)
          const stream = now > entry.createdAt + UDP_STREAM_AFTER_MS;
          entry.timeoutAt = now + (stream ? t.udpStream : t.udp) * 1000;
          if (stream) this.#assure(entry);
        } else entry.timeoutAt = now + t.udp * 1000;
        return { kind: 'accept' };
      }
      case PROTO_SCTP: {
        const chunk = firstChunk(buf, parsed.l4, parsed.l4Length);
        if (typeof chunk === 'string') return { kind: 'invalid', reason: chunk };
        const r = sctpPacket(entry.sctp as NonNullable<ConntrackEntry['sctp']>, dir, chunk, t.sctp);
        if (r.kind === 'invalid') return r;
        entry.timeoutAt = now + r.timeout * 1000;
        if (r.assure) this.#assure(entry);
        return { kind: 'accept' };
      }
      case PROTO_ICMP:
        entry.timeoutAt = now + t.icmp * 1000;
        return { kind: 'accept' };
      default:
        entry.timeoutAt = now + t.generic * 1000;
        return { kind: 'accept' };
    }
  }

  #assure(entry: ConntrackEntry): void {
    entry.status |= IPS_ASSURED;
    this.#unassured.delete(entry);
  }

  /** Room for one more entry: free below the limit, else evict the oldest non-assured entry (early_drop). */
  #makeRoom(): boolean {
    if (this.#entries.size < this.max) return true;
    if (this.gc() > 0) return true;
    const victim = this.#unassured.values().next();
    if (victim.done) return false;
    this.#delete(victim.value);
    this.counters.earlyDrops++;
    return true;
  }

  #armGc(): void {
    if (this.#gcTimer !== undefined || this.gcIntervalMs === 0 || this.#entries.size === 0) return;
    this.#gcTimer = this.clock.setTimeout(() => {
      this.#gcTimer = undefined;
      this.gc();
      this.#armGc();
    }, this.gcIntervalMs);
  }
}

function sourceKey(t: Tuple): string {
  return `${t.protocol},${t.src},${t.srcPort}`;
}

/** The ICMP query type of one direction of an entry (0 for other protocols). */
export function icmpTypeOf(entry: ConntrackEntry, dir: Dir): number {
  if (entry.protocol !== PROTO_ICMP) return 0;
  return dir === 0 ? entry.icmpType : (icmpInverseType(entry.icmpType) ?? entry.icmpType);
}

/** nf_conntrack_checksum: the L4 checksum of a received packet (tcp_error, udp_error, icmp_error, sctp_error). */
function l4ChecksumValid(buf: Buffer, p: ParsedPacket): boolean {
  const end = p.l4 + p.l4Length;
  const pseudo = { src: p.tuple.src, dst: p.tuple.dst };
  switch (p.tuple.protocol) {
    case PROTO_TCP:
      return tcp.checksumValid(buf, p.l4, end, pseudo);
    case PROTO_UDP:
      return udp.checksumValid(buf, p.l4, end, pseudo);
    case PROTO_ICMP:
      return icmpv4.checksumValid(buf, p.l4, end);
    case PROTO_SCTP:
      return sctp.checksumValid(buf, p.l4, end);
    default:
      return true;
  }
}

export { TcpState };
