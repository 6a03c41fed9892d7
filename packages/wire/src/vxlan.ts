// VXLAN header (RFC 7348 §5), carried in UDP to port 4789 (IANA).
//
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |R|R|R|R|I|R|R|R|            Reserved                           |
//  |                VXLAN Network Identifier (VNI) |   Reserved    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  followed by the inner Ethernet frame.
import { put24, u24 } from './bytes.js';
import { type Codec, outputBuffer, writePayload } from './codec.js';
import { checkBounds, EncodeError, needBytes } from './errors.js';

export const FLAGS_OFFSET = 0;
export const RESERVED1_OFFSET = 1;
export const VNI_OFFSET = 4;
export const RESERVED2_OFFSET = 7;
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

export function decode(buf: Buffer, offset = 0, end?: number): VxlanRepr {
  const e = checkBounds('vxlan', buf, offset, end);
  needBytes('vxlan', offset, e, HEADER_LENGTH);
  // Reserved bits are kept as read: RFC 7348 §5 says receivers ignore them, and a faithful
  // capture tool must show them. Whether to drop a frame without the I flag is the device's call.
  return {
    flags: buf[offset + FLAGS_OFFSET] as number,
    reserved1: u24(buf, offset + RESERVED1_OFFSET),
    vni: u24(buf, offset + VNI_OFFSET),
    reserved2: buf[offset + RESERVED2_OFFSET] as number,
    payload: buf.subarray(offset + HEADER_LENGTH, e),
  };
}

export function encodingLength(repr: VxlanRepr): number {
  return HEADER_LENGTH + repr.payload.length;
}

function check(name: string, v: number, bits: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) throw new EncodeError('vxlan', `${name} ${v} does not fit in ${bits} bits`);
}

export function encode(repr: VxlanRepr, buf?: Buffer, offset = 0): Buffer {
  check('flags', repr.flags, 8);
  check('reserved1', repr.reserved1, 24);
  check('VNI', repr.vni, 24);
  check('reserved2', repr.reserved2, 8);
  const out = outputBuffer('vxlan', HEADER_LENGTH + repr.payload.length, buf, offset);
  out[offset + FLAGS_OFFSET] = repr.flags;
  put24(out, offset + RESERVED1_OFFSET, repr.reserved1);
  put24(out, offset + VNI_OFFSET, repr.vni);
  out[offset + RESERVED2_OFFSET] = repr.reserved2;
  writePayload(repr.payload, out, offset + HEADER_LENGTH);
  return out;
}

export const codec = { name: 'vxlan', decode, encode, encodingLength } satisfies Codec<VxlanRepr>;

/** A zero-copy view of the VXLAN header at buf[offset] (DESIGN §6.1); `at` validates like decode. */
export class VxlanView {
  private constructor(
    readonly buf: Buffer,
    readonly offset: number,
    readonly end: number,
  ) {}

  static at(buf: Buffer, offset = 0, end?: number): VxlanView {
    const e = checkBounds('vxlan', buf, offset, end);
    needBytes('vxlan', offset, e, HEADER_LENGTH);
    return new VxlanView(buf, offset, e);
  }

  get flags(): number {
    return this.buf[this.offset + FLAGS_OFFSET] as number;
  }
  get vni(): number {
    return u24(this.buf, this.offset + VNI_OFFSET);
  }
  get payloadOffset(): number {
    return this.offset + HEADER_LENGTH;
  }
}
