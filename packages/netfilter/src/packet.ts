// The fields rules match on, read once from the IPv4 header and the L4 header at each table
// (RFC 791 §3.1, RFC 793 §3.1, RFC 768, RFC 4960 §3.1, RFC 792). Reading them into one reused
// object keeps the per-packet path free of allocation and of string parsing.
import { readIpv4 } from '@podnet/wire';
import type { HookPacket } from './hook.js';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_SCTP = 132;

export interface PacketFields {
  src: number;
  dst: number;
  protocol: number;
  /** Total length of the IPv4 packet (the byte counters count it, as the kernel counts skb->len). */
  length: number;
  /** Fragment offset in 8-byte units; non-zero fragments carry no L4 header (`-f` matches them). */
  fragmentOffset: number;
  /** True when the L4 header is present and whole (first fragment, long enough). */
  hasL4: boolean;
  srcPort: number;
  dstPort: number;
  /** TCP flags byte (FIN=0x01 … CWR=0x80). */
  tcpFlags: number;
  icmpType: number;
  icmpCode: number;
}

export function emptyFields(): PacketFields {
  return {
    src: 0,
    dst: 0,
    protocol: 0,
    length: 0,
    fragmentOffset: 0,
    hasL4: false,
    srcPort: 0,
    dstPort: 0,
    tcpFlags: 0,
    icmpType: 0,
    icmpCode: 0,
  };
}

/** Fills `into` from the packet; returns false when the bytes are not a whole IPv4 header. */
export function readFields(packet: HookPacket, into: PacketFields): boolean {
  const { buf, l3Offset: o, end } = packet;
  if (end - o < 20) return false;
  const ihl = ((buf[o] as number) & 0x0f) * 4;
  if (ihl < 20 || end - o < ihl) return false;
  into.protocol = buf[o + 9] as number;
  into.src = readIpv4(buf, o + 12);
  into.dst = readIpv4(buf, o + 16);
  into.length = end - o;
  into.fragmentOffset = (((buf[o + 6] as number) & 0x1f) << 8) | (buf[o + 7] as number);
  into.srcPort = 0;
  into.dstPort = 0;
  into.tcpFlags = 0;
  into.icmpType = 0;
  into.icmpCode = 0;
  into.hasL4 = false;
  if (into.fragmentOffset !== 0) return true;
  const l4 = o + ihl;
  const avail = end - l4;
  switch (into.protocol) {
    case PROTO_TCP:
      if (avail >= 14) {
        into.srcPort = ((buf[l4] as number) << 8) | (buf[l4 + 1] as number);
        into.dstPort = ((buf[l4 + 2] as number) << 8) | (buf[l4 + 3] as number);
        into.tcpFlags = buf[l4 + 13] as number;
        into.hasL4 = true;
      }
      break;
    case PROTO_UDP:
    case PROTO_SCTP:
      if (avail >= 4) {
        into.srcPort = ((buf[l4] as number) << 8) | (buf[l4 + 1] as number);
        into.dstPort = ((buf[l4 + 2] as number) << 8) | (buf[l4 + 3] as number);
        into.hasL4 = true;
      }
      break;
    case PROTO_ICMP:
      if (avail >= 2) {
        into.icmpType = buf[l4] as number;
        into.icmpCode = buf[l4 + 1] as number;
        into.hasL4 = true;
      }
      break;
  }
  return true;
}
