// Connection tuples (struct nf_conntrack_tuple) read from packets and inverted; table.ts files
// them by hash (nf_conntrack_core.c hash_conntrack: one hash per direction).
//
// TCP, UDP and SCTP carry ports; ICMP queries carry the identifier in both port slots, and the
// ICMP type is part of the key (an echo request and an echo reply are different tuples, as
// icmp_pkt_to_tuple records type and code); any other protocol is tracked by addresses only
// (nf_conntrack_proto_generic.c).
import { formatIpv4, readIpv4 } from '@podnet/wire';
import type { Tuple } from './contract.js';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_SCTP = 132;

/** ICMP query types and the type of their answer (nf_conntrack_proto_icmp.c invmap[]). */
const ICMP_INVERSE: Readonly<Record<number, number>> = { 8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17 };
/** ICMP types that may start a connection (icmp_new valid_new[]): echo, timestamp, info and address-mask requests. */
export const ICMP_NEW_TYPES: ReadonlySet<number> = new Set([8, 13, 15, 17]);
/** ICMP error types that quote a packet and are RELATED to its connection (icmp_error). */
export const ICMP_ERROR_TYPES: ReadonlySet<number> = new Set([3, 4, 5, 11, 12]);
export const ICMP_REDIRECT = 5;

export function hasPorts(protocol: number): boolean {
  return protocol === PROTO_TCP || protocol === PROTO_UDP || protocol === PROTO_SCTP;
}

/** The tuple of the answer to a packet with tuple t (nf_ct_invert_tuple). */
export function invertTuple(t: Tuple): Tuple {
  return { protocol: t.protocol, src: t.dst, dst: t.src, srcPort: t.dstPort, dstPort: t.srcPort };
}

export function icmpInverseType(type: number): number | undefined {
  return ICMP_INVERSE[type];
}

export function tuplesEqual(a: Tuple, b: Tuple): boolean {
  return a.protocol === b.protocol && a.src === b.src && a.dst === b.dst && a.srcPort === b.srcPort && a.dstPort === b.dstPort;
}

export function formatTuple(t: Tuple): string {
  return hasPorts(t.protocol)
    ? `${formatIpv4(t.src)}:${t.srcPort} -> ${formatIpv4(t.dst)}:${t.dstPort} (proto ${t.protocol})`
    : `${formatIpv4(t.src)} -> ${formatIpv4(t.dst)} (proto ${t.protocol}${t.protocol === PROTO_ICMP ? `, id ${t.srcPort}` : ''})`;
}

/** Where the parts of one IPv4 packet lie, and what its tuple is. */
export interface ParsedPacket {
  tuple: Tuple;
  /** Offset of the L4 header. */
  l4: number;
  /** Bytes of L4 header and data present (to the packet's end). */
  l4Length: number;
  /** ICMP type and code (ICMP only). */
  icmpType: number;
  icmpCode: number;
  /** Non-first fragment or MF set: the stack promised to reassemble (needsDefrag), so this is unexpected. */
  fragment: boolean;
}

/** Why a packet could not be read into a tuple: it is then INVALID, as nf_ct_get_tuple failing makes it. */
export type ParseFailure = { readonly invalid: string };

/**
 * Reads the tuple of the IPv4 packet at buf[l3, end). Returns a reason instead when the L4 header
 * a tuple needs is missing (nf_ct_get_tuple → -NF_ACCEPT: the packet goes on untracked-as-INVALID).
 */
export function parsePacket(buf: Buffer, l3: number, end: number): ParsedPacket | ParseFailure {
  if (end - l3 < 20) return { invalid: 'truncated IPv4 header' };
  const ihl = ((buf[l3] as number) & 0x0f) * 4;
  if (ihl < 20 || l3 + ihl > end) return { invalid: 'bad IPv4 header length' };
  const protocol = buf[l3 + 9] as number;
  const src = readIpv4(buf, l3 + 12);
  const dst = readIpv4(buf, l3 + 16);
  const ff = ((buf[l3 + 6] as number) << 8) | (buf[l3 + 7] as number);
  const fragment = (ff & 0x3fff) !== 0;
  const l4 = l3 + ihl;
  const l4Length = end - l4;
  if ((ff & 0x1fff) !== 0) return { invalid: 'non-first fragment (conntrack needs reassembled packets)' };
  return parseL4(buf, protocol, src, dst, l4, l4Length, fragment);
}

export function parseL4(
  buf: Buffer,
  protocol: number,
  src: number,
  dst: number,
  l4: number,
  l4Length: number,
  fragment: boolean,
): ParsedPacket | ParseFailure {
  let srcPort = 0;
  let dstPort = 0;
  let icmpType = 0;
  let icmpCode = 0;
  if (hasPorts(protocol)) {
    if (l4Length < 4) return { invalid: `truncated ${protocol === PROTO_TCP ? 'TCP' : protocol === PROTO_UDP ? 'UDP' : 'SCTP'} ports` };
    srcPort = ((buf[l4] as number) << 8) | (buf[l4 + 1] as number);
    dstPort = ((buf[l4 + 2] as number) << 8) | (buf[l4 + 3] as number);
  } else if (protocol === PROTO_ICMP) {
    if (l4Length < 8) return { invalid: 'truncated ICMP header' };
    icmpType = buf[l4] as number;
    icmpCode = buf[l4 + 1] as number;
    if (ICMP_INVERSE[icmpType] !== undefined) {
      srcPort = ((buf[l4 + 4] as number) << 8) | (buf[l4 + 5] as number);
      dstPort = srcPort;
    }
  }
  return { tuple: { protocol, src, dst, srcPort, dstPort }, l4, l4Length, icmpType, icmpCode, fragment };
}

export function isParseFailure(p: ParsedPacket | ParseFailure): p is ParseFailure {
  return (p as ParseFailure).invalid !== undefined;
}
