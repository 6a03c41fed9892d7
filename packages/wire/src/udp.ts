// UDP (RFC 768).
//
//   0      7 8     15 16    23 24    31
//  +--------+--------+--------+--------+
//  |   Source Port   | Destination Port|
//  |     Length      |    Checksum     |
//  |  data ...
import type { Ipv4Address } from './address.js';
import { type Codec } from './codec.js';

export const SRC_PORT_OFFSET = 0;
export const DST_PORT_OFFSET = 2;
export const LENGTH_OFFSET = 4;
export const CHECKSUM_OFFSET = 6;
export const HEADER_LENGTH = 8;

/** The IPv4 addresses the TCP/UDP checksum covers through the pseudo-header. */
export interface PseudoHeader {
  src: Ipv4Address;
  dst: Ipv4Address;
}

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /**
   * As read on decode (0 = no checksum, RFC 768). On encode, undefined means compute it
   * (needs the pseudo-header); a computed 0 is sent as 0xffff.
   */
  checksum?: number;
  /** The datagram's data as bounded by its Length field; a view. */
  payload: Buffer;
}

export declare function decode(buf: Buffer, offset?: number, end?: number): UdpRepr;
export declare function encode(repr: UdpRepr, buf?: Buffer, offset?: number, pseudo?: PseudoHeader): Buffer;
export declare function encodingLength(repr: UdpRepr): number;
/** Verifies the checksum of the datagram buf[offset, end) (true for a zero checksum). */
export declare function checksumValid(buf: Buffer, offset: number, end: number, pseudo: PseudoHeader): boolean;

export const codec = { name: 'udp', decode, encode, encodingLength } satisfies Codec<UdpRepr>;
