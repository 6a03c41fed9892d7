// The hook contract between the network stack and netfilter (DESIGN §5).
//
// packages/netstack calls `NetfilterHooks.run` at the five places Linux calls NF_HOOK for IPv4
// (net/ipv4/ip_input.c, ip_forward.c, ip_output.c): PREROUTING on every received packet before the
// route lookup, INPUT before local delivery, FORWARD before a forwarded packet leaves, OUTPUT on a
// locally generated packet after its route lookup, POSTROUTING on every packet about to leave an
// interface. As with `net.bridge.bridge-nf-call-iptables=1` (br_netfilter, which Kubernetes requires),
// IPv4 frames bridged between two ports of a bridge also traverse PREROUTING, FORWARD and POSTROUTING,
// with `bridged` set and the bridge ports named in physIn/physOut (for `-m physdev`).
//
// The stack owns the bytes; the engine may rewrite them in place (NAT), keeping every checksum right,
// and may change the packet's mark or attach conntrack state. Both travel with the packet in its
// PacketState from hook to hook, as skb->mark and skb->_nfct do.
import type { Ipv4Address } from '@podnet/wire';

export type HookName = 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING';

export const HOOK_NAMES: readonly HookName[] = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];

/** One IPv4 packet inside a buffer: the header starts at l3Offset, the packet ends at `end`. */
export interface HookPacket {
  buf: Buffer;
  l3Offset: number;
  /** l3Offset + the IPv4 total length. NAT never changes the length. */
  end: number;
  /**
   * The stack already knows the L4 checksum is good (skb->ip_summed == CHECKSUM_UNNECESSARY: a
   * GRO frame merged from verified segments, or a TSO super-frame built with its checksum):
   * conntrack does not sum it again (nf_ip_checksum returns early for such skbs).
   */
  checksumUnnecessary?: boolean;
}

/** What the stack knows about where the packet is (struct nf_hook_state). */
export interface HookContext {
  hook: HookName;
  /** The interface the packet arrived on (PREROUTING, INPUT, FORWARD); for bridged frames, the bridge (cni0). */
  inInterface?: string;
  /** The interface it will leave by (FORWARD, OUTPUT, POSTROUTING); for bridged frames, the bridge. */
  outInterface?: string;
  /** The bridge port it came in by, when bridged or when it arrived through a bridge (physdev-in). */
  physInInterface?: string;
  /** The bridge port it leaves by, when bridged (physdev-out). */
  physOutInterface?: string;
  /** True when the frame is being bridged (br_netfilter), not routed. */
  bridged: boolean;
  /** Whether an address is assigned to this namespace (for `-m addrtype --dst-type LOCAL`, MASQUERADE, routing decisions). */
  isLocalAddress(address: Ipv4Address): boolean;
  /** The primary address of an interface in this namespace (what MASQUERADE uses for the out interface). */
  interfaceAddress(name: string): Ipv4Address | undefined;
}

/**
 * Per-packet state that lives as long as the packet (sk_buff fields). The stack creates one when
 * a packet enters the namespace (received, or sent by a local socket) and passes the same object to
 * every hook that packet meets in this namespace. The engine fills `conntrack`.
 */
export interface PacketState {
  /** skb->mark (`-m mark`, `-j MARK`). Starts at 0 for received packets, or the socket mark for local ones. */
  mark: number;
  /** The conntrack entry and direction, opaque to the stack (skb->_nfct). */
  conntrack?: unknown;
  /** Set by `-j TRACE` in the raw table or by `podnet trace`: every rule this packet hits goes to the trace sink. */
  trace: boolean;
  /** An id for correlating trace lines of one packet across hooks (and nodes). */
  traceId?: string;
}

/** Which ICMP error (or TCP RST) a REJECT rule asked for (iptables-extensions REJECT --reject-with). */
export type RejectWith =
  | 'icmp-net-unreachable'
  | 'icmp-host-unreachable'
  | 'icmp-port-unreachable'
  | 'icmp-proto-unreachable'
  | 'icmp-net-prohibited'
  | 'icmp-host-prohibited'
  | 'icmp-admin-prohibited'
  | 'tcp-reset';

/** ICMP type 3 codes for each reject kind (RFC 792, RFC 1812 §5.2.7.1). tcp-reset has none. */
export const REJECT_ICMP_CODE: Readonly<Record<Exclude<RejectWith, 'tcp-reset'>, number>> = {
  'icmp-net-unreachable': 0,
  'icmp-host-unreachable': 1,
  'icmp-proto-unreachable': 2,
  'icmp-port-unreachable': 3,
  'icmp-net-prohibited': 9,
  'icmp-host-prohibited': 10,
  'icmp-admin-prohibited': 13,
};

/**
 * What the engine decided. On `accept` the packet goes on (possibly rewritten in place by NAT: the
 * stack re-reads the destination and re-routes after PREROUTING and OUTPUT, as ip_route_me_harder does).
 * On `drop` the stack discards it silently (counting `reason`). On `reject` the stack discards it and
 * sends the ICMP error quoting it, or the TCP RST, from this namespace (as nf_reject_ipv4 does).
 */
export type Verdict =
  | { readonly kind: 'accept' }
  | { readonly kind: 'drop'; readonly reason?: string }
  | { readonly kind: 'reject'; readonly with: RejectWith };

export const ACCEPT: Verdict = Object.freeze({ kind: 'accept' });

/** The engine as the stack sees it. */
export interface NetfilterHooks {
  run(hook: HookName, packet: HookPacket, context: HookContext, state: PacketState): Verdict;
  /**
   * True when the engine tracks connections, so the stack must reassemble fragments before
   * PREROUTING and OUTPUT (nf_defrag_ipv4) and fragment again on the way out.
   */
  readonly needsDefrag: boolean;
}

/** The accept-all implementation: a namespace without netfilter rules (no iptables modules loaded). */
export const acceptAllHooks: NetfilterHooks = Object.freeze({
  run: (): Verdict => ACCEPT,
  needsDefrag: false,
});
