// The contract between the rule engine (tables, chains, matches, targets: ../engine) and connection
// tracking with NAT (this folder). It follows the order Linux runs them in at each hook
// (include/uapi/linux/netfilter_ipv4.h priorities):
//
//   raw (-300) → conntrack in (-200, nf_conntrack_in) → mangle (-150) → nat DST (-100; PREROUTING, OUTPUT)
//   → filter (0) → nat SRC (100; POSTROUTING, INPUT) → conntrack confirm (INT_MAX; INPUT, POSTROUTING)
//
// The nat table is only traversed for the first packet of a connection, per manip type: once a
// binding exists (a DNAT/SNAT/MASQUERADE target ran, or the chain ended without one and a null
// binding was made), every later packet of the connection, in both directions, is rewritten from
// the entry (net/netfilter/nf_nat_core.c: nf_nat_inet_fn, nf_nat_packet).
import type { Ipv4Address } from '@podnet/wire';
import type { HookContext, HookName, HookPacket, PacketState, Verdict } from '../hook.js';

/** Values of `-m conntrack --ctstate` (net/netfilter/xt_conntrack.c). */
export type CtState = 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID' | 'UNTRACKED' | 'SNAT' | 'DNAT';

export type CtDirection = 'original' | 'reply';

/** A connection tuple (struct nf_conntrack_tuple). For ICMP echo, srcPort and dstPort both carry the echo id. */
export interface Tuple {
  protocol: number;
  src: Ipv4Address;
  dst: Ipv4Address;
  srcPort: number;
  dstPort: number;
}

/** What the rule engine's matches need to know about the packet's connection. */
export interface CtInfo {
  /** The packet's state: NEW, ESTABLISHED, RELATED, INVALID or UNTRACKED (never SNAT/DNAT). */
  state: Exclude<CtState, 'SNAT' | 'DNAT'>;
  direction: CtDirection;
  /** The entry has a source / destination NAT binding (--ctstate SNAT / DNAT). */
  snat: boolean;
  dnat: boolean;
  /** The original direction's tuple (--ctorigsrc, --ctorigdst, --ctorigsrcport, --ctorigdstport). */
  original: Tuple;
  /** The reply direction's tuple (--ctreplsrc, --ctrepldst). */
  reply: Tuple;
  /** The connection mark (ct mark; -j CONNMARK if it is ever needed). */
  mark: number;
}

/** A NAT target's range (struct nf_nat_range2): `--to-destination 10.244.1.2:8080`, `--to-source`, MASQUERADE. */
export interface NatRange {
  minAddress: Ipv4Address;
  maxAddress: Ipv4Address;
  /** Absent: keep the port unless it clashes (then a free one is chosen). */
  minPort?: number;
  maxPort?: number;
  /** --random: randomise the port mapping; --random-fully: fully random source ports (NF_NAT_RANGE_PROTO_RANDOM_FULLY). */
  random?: boolean;
  randomFully?: boolean;
  persistent?: boolean;
}

export type NatManip = 'SRC' | 'DST';

/** Connection tracking as the rule engine calls it. One instance per network namespace. */
export interface ConnectionTracker {
  /**
   * nf_conntrack_in, at PREROUTING and OUTPUT after the raw table: finds or creates (unconfirmed)
   * the entry of this packet and stores it in state.conntrack. Returns a drop verdict when the
   * table is full and nothing can be evicted (counted), otherwise undefined. Does nothing for a
   * packet marked untracked by NOTRACK in the raw table.
   */
  track(hook: 'PREROUTING' | 'OUTPUT', packet: HookPacket, context: HookContext, state: PacketState): Verdict | undefined;
  /** NOTRACK / `-j CT --notrack` in the raw table: the packet is UNTRACKED. */
  untrack(state: PacketState): void;
  /** The packet's connection as `-m conntrack` and `-m state` see it, or undefined before track(). */
  info(state: PacketState): CtInfo | undefined;
  /** nf_conntrack_confirm, at the end of INPUT and POSTROUTING: a NEW entry enters the table. */
  confirm(state: PacketState): Verdict | undefined;
}

/** NAT as the rule engine calls it. */
export interface NatEngine {
  /** True when the nat table must be traversed for this packet at this hook (a NEW connection with no binding for the hook's manip type). */
  needsLookup(hook: HookName, state: PacketState): boolean;
  /** The DNAT / SNAT / MASQUERADE target: records the binding in the entry (nf_nat_setup_info), choosing a free port on clashes. */
  setup(manip: NatManip, range: NatRange, packet: HookPacket, context: HookContext, state: PacketState): Verdict;
  /**
   * Optional. The MASQUERADE target, when the engine implements it itself (nf_nat_masquerade_ipv4:
   * the out interface's address, and the entry remembers the interface so it can be flushed when
   * the address goes). Without it the rule engine calls setup('SRC') with the out interface's address.
   */
  masquerade?(
    options: { minPort?: number; maxPort?: number; random?: boolean; randomFully?: boolean },
    packet: HookPacket,
    context: HookContext,
    state: PacketState,
  ): Verdict;
  /** The nat chain ended without a NAT target: a null binding, so the chain is not consulted again (nf_nat_alloc_null_binding). */
  setupNull(hook: HookName, state: PacketState): void;
  /** Rewrites the packet in place from the entry's bindings for this hook and direction, updating IPv4 and L4 checksums (nf_nat_packet). */
  apply(hook: HookName, packet: HookPacket, context: HookContext, state: PacketState): Verdict;
}
