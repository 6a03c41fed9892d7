// VXLAN header (RFC 7348 §5), carried in UDP to port 4789 (IANA).
//
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |R|R|R|R|I|R|R|R|            Reserved                           |
//  |                VXLAN Network Identifier (VNI) |   Reserved    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  followed by the inner Ethernet frame.
import { type Codec } from './codec.js';

export const UDP_PORT = 4789;
export const HEADER_LENGTH = 8;
/** The I flag: the VNI is valid (RFC 7348 §5). */
export const FLAG_I = 0x08;
/** Outer Ethernet (14) + IPv4 (20) + UDP (8) + VXLAN (8): what the tunnel adds per frame. */
export const ENCAPSULATION_OVERHEAD = 50;

export interface VxlanRepr {
  /** The whole flags byte; FLAG_I set for a valid VNI. Other bits kept as read. */
  flags: number;
  /** The 24 reserved bits after the flags, kept as read. */
  reserved1: number;
  /** VXLAN network identifier, 24 bits. */
  vni: number;
  /** The last 8 reserved bits, kept as read. */
  reserved2: number;
  /** The inner Ethernet frame; a view. */
  payload: Buffer;
}

export declare function decode(buf: Buffer, offset?: number, end?: number): VxlanRepr;
export declare function encode(repr: VxlanRepr, buf?: Buffer, offset?: number): Buffer;
export declare function encodingLength(repr: VxlanRepr): number;

export const codec = { name: 'vxlan', decode, encode, encodingLength } satisfies Codec<VxlanRepr>;
