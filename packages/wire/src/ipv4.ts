// IPv4 (RFC 791 §3.1).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version|  IHL  |   DSCP    |ECN|          Total Length         |
//  |         Identification        |Flags|      Fragment Offset    |
//  |  Time to Live |    Protocol   |         Header Checksum       |
//  |                       Source Address                          |
//  |                    Destination Address                        |
//  |                    Options                    |    Padding    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
import type { Ipv4Address } from './address.js';
import { type Codec } from './codec.js';

export const IpProtocol = { ICMP: 1, TCP: 6, UDP: 17, SCTP: 132 } as const;

export const VERSION_IHL_OFFSET = 0;
export const TOS_OFFSET = 1;
export const TOTAL_LENGTH_OFFSET = 2;
export const IDENTIFICATION_OFFSET = 4;
export const FLAGS_FRAGMENT_OFFSET = 6;
export const TTL_OFFSET = 8;
export const PROTOCOL_OFFSET = 9;
export const CHECKSUM_OFFSET = 10;
export const SRC_OFFSET = 12;
export const DST_OFFSET = 16;
export const MIN_HEADER_LENGTH = 20;
export const MAX_HEADER_LENGTH = 60;

export interface Ipv4Repr {
  /** Differentiated services code point, 6 bits (RFC 2474). */
  dscp: number;
  /** Explicit congestion notification, 2 bits (RFC 3168). */
  ecn: number;
  identification: number;
  /** The reserved ("evil", RFC 3514) flag bit, kept as it was. */
  reservedFlag: boolean;
  dontFragment: boolean;
  moreFragments: boolean;
  /** Fragment offset in bytes (the wire field × 8). */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  /** Header checksum: as read on decode; when undefined on encode it is computed. */
  checksum?: number;
  src: Ipv4Address;
  dst: Ipv4Address;
  /** Raw option bytes including padding, a multiple of 4, at most 40, kept as they were. */
  options: Buffer;
  /** The datagram's payload as bounded by Total Length (link padding excluded); a view. */
  payload: Buffer;
}

/** Options parsed for display (RFC 791 §3.1 option formats); unknown ones kept. */
export type Ipv4Option =
  | { kind: 'eol' }
  | { kind: 'nop' }
  | { kind: 'record-route'; pointer: number; addresses: Ipv4Address[] }
  | { kind: 'timestamp'; pointer: number; overflow: number; flag: number; data: Buffer }
  | { kind: 'router-alert'; value: number }
  | { kind: 'unknown'; type: number; data: Buffer };

export declare function decode(buf: Buffer, offset?: number, end?: number): Ipv4Repr;
export declare function encode(repr: Ipv4Repr, buf?: Buffer, offset?: number): Buffer;
export declare function encodingLength(repr: Ipv4Repr): number;
/** Header length in bytes (20 + options). */
export declare function headerLength(repr: Ipv4Repr): number;
/** True when the header checksum of the datagram at `offset` verifies. */
export declare function checksumValid(buf: Buffer, offset?: number): boolean;
/** Parses raw option bytes; throws DecodeError on a malformed option length. */
export declare function parseOptions(options: Buffer): Ipv4Option[];
/** "ICMP", "TCP", "UDP", "SCTP" or the number. */
export declare function protocolName(protocol: number): string;

export const codec = { name: 'ipv4', decode, encode, encodingLength } satisfies Codec<Ipv4Repr>;
