// NAT for one network namespace (net/netfilter/nf_nat_core.c, nf_nat_proto.c, nf_nat_masquerade.c).
//
// The first packet of a connection traverses the nat table once per manip type; the DNAT, SNAT or
// MASQUERADE target it meets records a binding in the conntrack entry by rewriting the entry's
// reply tuple (nf_nat_setup_info), or a null binding is made when the chain has none. From then on
// every packet of the connection, in both directions, is rewritten from the entry (nf_nat_packet):
// the binding lives in the entry, so a connection keeps its NAT when the rules that made it are
// replaced. ICMP errors RELATED to a connection get their quoted packet translated too
// (nf_nat_icmp_reply_translation).
import type { Ipv4Address, Rng } from '@podnet/wire';
import type { NatEngine, NatManip, NatRange, Tuple } from '../conntrack/contract.js';
import {
  type ConntrackEntry,
  type Dir,
  IPS_CONFIRMED,
  IPS_DST_NAT,
  IPS_DST_NAT_DONE,
  IPS_NAT_DONE_MASK,
  IPS_NAT_MASK,
  IPS_SRC_NAT,
  IPS_SRC_NAT_DONE,
  tupleOf,
} from '../conntrack/entry.js';
import { ConntrackError, ConntrackErrorCodes } from '../conntrack/errors.js';
import type { Conntrack } from '../conntrack/tracker.js';
import { hasPorts, ICMP_REDIRECT, icmpInverseType, invertTuple, PROTO_ICMP, tuplesEqual } from '../conntrack/tuple.js';
import type { HookContext, HookName, HookPacket, PacketState, Verdict } from '../hook.js';
import { ACCEPT } from '../hook.js';
import { manipPacket, recomputeIcmpChecksum } from './rewrite.js';
import { uniqueTuple } from './unique-tuple.js';

/** HOOK2MANIP: destination NAT before routing (PREROUTING, OUTPUT), source NAT after (POSTROUTING, INPUT). */
export function hookManip(hook: HookName): NatManip | undefined {
  switch (hook) {
    case 'PREROUTING':
    case 'OUTPUT':
      return 'DST';
    case 'POSTROUTING':
    case 'INPUT':
      return 'SRC';
    default:
      return undefined;
  }
}

/** MASQUERADE's options (iptables-extensions MASQUERADE: --to-ports, --random, --random-fully). */
export interface MasqueradeOptions {
  minPort?: number;
  maxPort?: number;
  random?: boolean;
  randomFully?: boolean;
}

export interface NatOptions {
  /** Randomness for source-port choices on clashes and --random-fully (seeded in tests, DESIGN §6.7). */
  rng: Rng;
}

/** Why a NAT range is unusable, or undefined when it is fine. The engine calls this when parsing rules. */
export function natRangeProblem(range: NatRange, protocol?: number): string | undefined {
  const isAddr = (a: number) => Number.isInteger(a) && a >= 0 && a <= 0xffffffff;
  if (!isAddr(range.minAddress) || !isAddr(range.maxAddress)) return 'addresses must be IPv4 addresses';
  if (range.minAddress >>> 0 > range.maxAddress >>> 0) return 'the first address of the range is above the last';
  if ((range.minPort === undefined) !== (range.maxPort === undefined)) return 'a port range needs both ends';
  if (range.minPort !== undefined && range.maxPort !== undefined) {
    const isPort = (p: number) => Number.isInteger(p) && p >= 0 && p <= 65535;
    if (!isPort(range.minPort) || !isPort(range.maxPort)) return 'ports must be 0-65535';
    if (range.minPort > range.maxPort) return 'the first port of the range is above the last';
    if (protocol !== undefined && !hasPorts(protocol)) return 'a port range needs -p tcp, udp or sctp';
  }
  return undefined;
}

/** Throws a PODNET_ERR_NAT_RANGE error for an unusable range (for the rule parser). */
export function checkNatRange(range: NatRange, where: string, protocol?: number): void {
  const problem = natRangeProblem(range, protocol);
  if (problem !== undefined) {
    throw new ConntrackError(
      ConntrackErrorCodes.NAT_RANGE,
      `${where}: bad NAT range: ${problem}; write --to-destination a.b.c.d[-e.f.g.h][:port[-port]]`,
    );
  }
}

export class Nat implements NatEngine {
  readonly conntrack: Conntrack;
  readonly #rng: Rng;

  constructor(conntrack: Conntrack, options: NatOptions) {
    this.conntrack = conntrack;
    this.#rng = options.rng;
  }

  needsLookup(hook: HookName, state: PacketState): boolean {
    const manip = hookManip(hook);
    const ct = this.conntrack.packetConntrack(state);
    const entry = ct?.entry;
    if (manip === undefined || entry === undefined || ct === undefined) return false;
    // Only a NEW connection's packets (original direction, not yet answered) consult the nat table,
    // and only until a binding of this manip type exists (nf_nat_inet_fn).
    if (ct.state !== 'NEW' || ct.direction !== 0) return false;
    return (entry.status & doneBit(manip)) === 0;
  }

  setup(manip: NatManip, range: NatRange, _packet: HookPacket, _context: HookContext, state: PacketState): Verdict {
    const entry = this.#settable(state, manip);
    if (entry === undefined) return ACCEPT;
    this.#bind(entry, manip, range);
    return ACCEPT;
  }

  /**
   * The MASQUERADE target (nf_nat_masquerade_ipv4): SNAT to the primary address of the out
   * interface, remembered so the entry goes when that address does (flushMasquerade).
   */
  masquerade(options: MasqueradeOptions, _packet: HookPacket, context: HookContext, state: PacketState): Verdict {
    const entry = this.#settable(state, 'SRC');
    if (entry === undefined) return ACCEPT;
    // "Source address is 0.0.0.0 - locally generated packet that is probably not supposed to be masqueraded."
    if (entry.original.src === 0) return ACCEPT;
    const out = context.outInterface;
    const address: Ipv4Address | undefined = out === undefined ? undefined : context.interfaceAddress(out);
    if (address === undefined)
      return { kind: 'drop', reason: `MASQUERADE: ${out ?? 'the out interface'} has no address ("ate my IP address")` };
    const range: NatRange = { minAddress: address, maxAddress: address };
    if (options.minPort !== undefined && options.maxPort !== undefined) {
      range.minPort = options.minPort;
      range.maxPort = options.maxPort;
    }
    if (options.random) range.random = true;
    if (options.randomFully) range.randomFully = true;
    this.#bind(entry, 'SRC', range);
    entry.masqueradeInterface = out;
    return ACCEPT;
  }

  setupNull(hook: HookName, state: PacketState): void {
    const manip = hookManip(hook);
    if (manip === undefined) return;
    const entry = this.#settable(state, manip);
    if (entry === undefined) return;
    // nf_nat_alloc_null_binding: the range is the address the packet already has, so only a clash
    // (two connections that would share a reply tuple) changes anything: the source port.
    const current = invertTuple(entry.reply);
    const address = manip === 'SRC' ? current.src : current.dst;
    this.#bind(entry, manip, { minAddress: address, maxAddress: address });
  }

  apply(hook: HookName, packet: HookPacket, context: HookContext, state: PacketState): Verdict {
    const manip = hookManip(hook);
    const ct = this.conntrack.packetConntrack(state);
    const entry = ct?.entry;
    if (manip === undefined || entry === undefined || ct === undefined) return ACCEPT;
    if (
      hook === 'POSTROUTING' &&
      ct.direction === 0 &&
      entry.masqueradeInterface !== undefined &&
      context.outInterface !== undefined &&
      context.outInterface !== entry.masqueradeInterface
    ) {
      // nf_nat_oif_changed: a masqueraded connection now routed out another interface cannot keep
      // the old interface's address; the entry is killed and the packet dropped, so the next one
      // starts afresh with the new interface's address.
      this.conntrack.delete(entry);
      return { kind: 'drop', reason: `masquerade: out interface changed from ${entry.masqueradeInterface} to ${context.outInterface}` };
    }
    if (ct.state === 'RELATED' && (packet.buf[packet.l3Offset + 9] as number) === PROTO_ICMP) {
      return this.#translateIcmpError(packet, entry, ct.direction, manip);
    }
    if (entry.status & statusBit(manip, ct.direction)) {
      // nf_nat_manip_pkt: the packet is made to look like the inverse of the other direction's tuple.
      const target = invertTuple(tupleOf(entry, other(ct.direction)));
      manipPacket(packet.buf, packet.l3Offset, packet.end, target, manip, false);
    }
    return ACCEPT;
  }

  // ---- internals ----

  /** The packet's entry when a binding of this type may still be made. */
  #settable(state: PacketState, manip: NatManip): ConntrackEntry | undefined {
    const entry = this.conntrack.packetConntrack(state)?.entry;
    if (entry === undefined || entry.status & IPS_CONFIRMED || entry.status & doneBit(manip)) return undefined;
    return entry;
  }

  /** nf_nat_setup_info: choose a unique tuple in the range and rewrite the reply tuple to answer it. */
  #bind(entry: ConntrackEntry, manip: NatManip, range: NatRange): void {
    const current = invertTuple(entry.reply);
    const replyIcmpType = entry.protocol === PROTO_ICMP ? (icmpInverseType(entry.icmpType) ?? entry.icmpType) : 0;
    const used = (t: Tuple): boolean => this.conntrack.tupleTaken(invertTuple(t), replyIcmpType, entry);
    const mappings = (t: Tuple): Tuple[] => this.conntrack.sourceMappings(t).map((e) => invertTuple(e.reply));
    const chosen = uniqueTuple({ current, range, manip, used, rng: this.#rng, mappings });
    if (!tuplesEqual(chosen, current)) {
      entry.reply = invertTuple(chosen);
      entry.status |= manip === 'SRC' ? IPS_SRC_NAT : IPS_DST_NAT;
    }
    entry.status |= doneBit(manip);
  }

  /** nf_nat_icmp_reply_translation: the quoted packet is un-NATed the other way, then the outer header as usual. */
  #translateIcmpError(packet: HookPacket, entry: ConntrackEntry, dir: Dir, manip: NatManip): Verdict {
    const { buf, l3Offset: l3, end } = packet;
    const l4 = l3 + ((buf[l3] as number) & 0x0f) * 4;
    if ((buf[l4] as number) === ICMP_REDIRECT) {
      // "Redirects on non-null nats must be dropped, else they'll start talking to each other without our translation."
      if ((entry.status & IPS_NAT_DONE_MASK) !== IPS_NAT_DONE_MASK || entry.status & IPS_NAT_MASK) {
        return { kind: 'drop', reason: 'ICMP redirect for a NATed connection' };
      }
    }
    if (!(entry.status & statusBit(manip, dir))) return ACCEPT;
    const inner = l4 + 8;
    manipPacket(buf, inner, end, tupleOf(entry, other(dir)), manip === 'SRC' ? 'DST' : 'SRC', true);
    recomputeIcmpChecksum(buf, l4, end);
    manipPacket(buf, l3, end, invertTuple(tupleOf(entry, other(dir))), manip, false);
    return ACCEPT;
  }
}

function doneBit(manip: NatManip): number {
  return manip === 'SRC' ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE;
}

/** The status bit that says this hook's manip applies to a packet in direction `dir` (nf_nat_packet). */
function statusBit(manip: NatManip, dir: Dir): number {
  const bit = manip === 'SRC' ? IPS_SRC_NAT : IPS_DST_NAT;
  return dir === 1 ? bit ^ IPS_NAT_MASK : bit;
}

function other(dir: Dir): Dir {
  return dir === 0 ? 1 : 0;
}
