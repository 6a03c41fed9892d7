// One tracked connection (struct nf_conn) and what a packet carries of it (skb->_nfct + ctinfo).
import type { CtDirection, CtInfo, Tuple } from './contract.js';
import type { SctpConntrackState } from './sctp-state.js';
import type { TcpConntrackState } from './tcp-state.js';

/** Status bits (include/uapi/linux/netfilter/nf_conntrack_common.h enum ip_conntrack_status). */
export const IPS_SEEN_REPLY = 1 << 1;
export const IPS_ASSURED = 1 << 2;
export const IPS_CONFIRMED = 1 << 3;
export const IPS_SRC_NAT = 1 << 4;
export const IPS_DST_NAT = 1 << 5;
export const IPS_NAT_MASK = IPS_SRC_NAT | IPS_DST_NAT;
export const IPS_SRC_NAT_DONE = 1 << 7;
export const IPS_DST_NAT_DONE = 1 << 8;
export const IPS_NAT_DONE_MASK = IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE;
export const IPS_DYING = 1 << 9;

/** IP_CT_DIR_ORIGINAL = 0, IP_CT_DIR_REPLY = 1. */
export type Dir = 0 | 1;

export interface ConntrackEntry {
  readonly id: number;
  readonly protocol: number;
  /** tuplehash[IP_CT_DIR_ORIGINAL]: the first packet as it arrived. */
  readonly original: Tuple;
  /** tuplehash[IP_CT_DIR_REPLY]: the answer expected; NAT setup rewrites it (nf_nat_setup_info). */
  reply: Tuple;
  /** ICMP query type of the original direction (the reply direction uses its answer type). */
  readonly icmpType: number;
  readonly icmpCode: number;
  status: number;
  /** Clock time (ms) at which the entry expires. Before confirmation: the timeout, relative. */
  timeoutAt: number;
  readonly createdAt: number;
  /** ct mark (`-j CONNMARK`, `conntrack -L ... mark=`). */
  mark: number;
  tcp?: TcpConntrackState;
  sctp?: SctpConntrackState;
  /** Set by MASQUERADE: the out interface whose address the source was rewritten to (nf_nat_masquerade.c). */
  masqueradeInterface?: string;
}

/** What a packet carries: its entry (absent when INVALID or UNTRACKED), direction and state. */
export interface PacketConntrack {
  entry: ConntrackEntry | undefined;
  direction: Dir;
  state: CtInfo['state'];
  /** The packet's own tuple (for INVALID/UNTRACKED packets, so `-m conntrack` can still be answered). */
  tuple: Tuple | undefined;
  /** Why the packet is INVALID (the nf_ct_l4proto_log_invalid message). */
  invalidReason?: string;
}

export function tupleOf(entry: ConntrackEntry, dir: Dir): Tuple {
  return dir === 0 ? entry.original : entry.reply;
}

export function dirName(dir: Dir): CtDirection {
  return dir === 0 ? 'original' : 'reply';
}
