// UDP (RFC 768).
//
//   0      7 8     15 16    23 24    31
//  +--------+--------+--------+--------+
//  |   Source Port   | Destination Port|
//  |     Length      |    Checksum     |
//  |  data ...

import type { Ipv4Address } from './address.js';
import { put16, u16 } from './bytes.js';
import { onesComplementSum, pseudoHeaderSum } from './checksum.js';
import { type Codec, outputBuffer, writePayload } from './codec.js';
import { checkBounds, DecodeError, EncodeError, needBytes } from './errors.js';

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

const PROTOCOL_UDP = 17;

/** RFC 768: the Length field covers the header and fits in the bytes we have. */
function validate(buf: Buffer, offset: number, end: number | undefined): number {
  const e = checkBounds('udp', buf, offset, end);
  needBytes('udp', offset, e, HEADER_LENGTH);
  const length = u16(buf, offset + LENGTH_OFFSET);
  if (length < HEADER_LENGTH) throw new DecodeError('udp', offset + LENGTH_OFFSET, `length ${length} is below the 8-byte header`);
  if (length > e - offset)
    throw new DecodeError('udp', offset + LENGTH_OFFSET, `truncated datagram: length ${length}, have ${e - offset} bytes`);
  return length;
}

export function decode(buf: Buffer, offset = 0, end?: number): UdpRepr {
  const length = validate(buf, offset, end);
  return {
    srcPort: u16(buf, offset + SRC_PORT_OFFSET),
    dstPort: u16(buf, offset + DST_PORT_OFFSET),
    checksum: u16(buf, offset + CHECKSUM_OFFSET),
    payload: buf.subarray(offset + HEADER_LENGTH, offset + length),
  };
}

export function encodingLength(repr: UdpRepr): number {
  return HEADER_LENGTH + repr.payload.length;
}

function checkPort(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new EncodeError('udp', `${name} ${v} is not a 16-bit number`);
}

export function encode(repr: UdpRepr, buf?: Buffer, offset = 0, pseudo?: PseudoHeader): Buffer {
  const length = HEADER_LENGTH + repr.payload.length;
  if (length > 0xffff) throw new EncodeError('udp', `datagram of ${length} bytes exceeds the 65535-byte length field`);
  checkPort('source port', repr.srcPort);
  checkPort('destination port', repr.dstPort);
  if (repr.checksum === undefined && pseudo === undefined) {
    throw new EncodeError('udp', 'the checksum is to be computed but no pseudo-header (src/dst addresses) was given');
  }
  const out = outputBuffer('udp', length, buf, offset);
  put16(out, offset + SRC_PORT_OFFSET, repr.srcPort);
  put16(out, offset + DST_PORT_OFFSET, repr.dstPort);
  put16(out, offset + LENGTH_OFFSET, length);
  writePayload(repr.payload, out, offset + HEADER_LENGTH);
  let checksum = repr.checksum;
  if (checksum === undefined) {
    put16(out, offset + CHECKSUM_OFFSET, 0);
    const sum = onesComplementSum(
      out,
      offset,
      offset + length,
      pseudoHeaderSum((pseudo as PseudoHeader).src, (pseudo as PseudoHeader).dst, PROTOCOL_UDP, length),
    );
    // RFC 768: a computed zero is sent as all ones; zero on the wire means "no checksum".
    checksum = ~sum & 0xffff || 0xffff;
  } else {
    checkPort('checksum', checksum);
  }
  put16(out, offset + CHECKSUM_OFFSET, checksum);
  return out;
}

export function checksumValid(buf: Buffer, offset: number, end: number, pseudo: PseudoHeader): boolean {
  if (end - offset < HEADER_LENGTH) return false;
  if (u16(buf, offset + CHECKSUM_OFFSET) === 0) return true;
  const length = u16(buf, offset + LENGTH_OFFSET);
  if (length < HEADER_LENGTH || length > end - offset) return false;
  return onesComplementSum(buf, offset, offset + length, pseudoHeaderSum(pseudo.src, pseudo.dst, PROTOCOL_UDP, length)) === 0xffff;
}

export const codec = { name: 'udp', decode, encode, encodingLength } satisfies Codec<UdpRepr>;

/** A zero-copy view of the UDP datagram at buf[offset] (DESIGN §6.1); `at` validates like decode. */
export class UdpView {
  private constructor(
    readonly buf: Buffer,
    readonly offset: number,
    readonly length: number,
  ) {}

  static at(buf: Buffer, offset = 0, end?: number): UdpView {
    return new UdpView(buf, offset, validate(buf, offset, end));
  }

  get srcPort(): number {
    return u16(this.buf, this.offset + SRC_PORT_OFFSET);
  }
  get dstPort(): number {
    return u16(this.buf, this.offset + DST_PORT_OFFSET);
  }
  get checksum(): number {
    return u16(this.buf, this.offset + CHECKSUM_OFFSET);
  }
  get payloadOffset(): number {
    return this.offset + HEADER_LENGTH;
  }
  get payloadEnd(): number {
    return this.offset + this.length;
  }
  checksumValid(pseudo: PseudoHeader): boolean {
    return checksumValid(this.buf, this.offset, this.offset + this.length, pseudo);
  }
  /** Computes the checksum in place; `zero` sends none (RFC 768), as Linux vxlan does by default. */
  updateChecksum(pseudo: PseudoHeader, zero = false): void {
    const at = this.offset + CHECKSUM_OFFSET;
    put16(this.buf, at, 0);
    if (zero) return;
    const sum = onesComplementSum(
      this.buf,
      this.offset,
      this.offset + this.length,
      pseudoHeaderSum(pseudo.src, pseudo.dst, PROTOCOL_UDP, this.length),
    );
    put16(this.buf, at, ~sum & 0xffff || 0xffff);
  }
}
