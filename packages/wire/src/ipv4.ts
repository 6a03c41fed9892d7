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
import { readIpv4, writeIpv4 } from './address.js';
import { checkField, put16, u16 } from './bytes.js';
import { ipv4HeaderChecksum, ipv4HeaderSum, onesComplementSum } from './checksum.js';
import { type Codec, outputBuffer, writePayload } from './codec.js';
import { checkBounds, DecodeError, EncodeError, needBytes } from './errors.js';

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

const FLAG_RESERVED = 0x8000;
const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const EMPTY = Buffer.alloc(0);

/**
 * Checks the header at buf[offset] against RFC 791's rules (version 4, IHL >= 5, Total Length
 * covering the header and within the bytes we have); shared by decode and Ipv4View. Returns the
 * header length; the Total Length is then read at TOTAL_LENGTH_OFFSET (a number, not an object:
 * the view's hot path then allocates nothing here).
 */
function validate(buf: Buffer, offset: number, end: number | undefined): number {
  const e = checkBounds('ipv4', buf, offset, end);
  needBytes('ipv4', offset, e, MIN_HEADER_LENGTH);
  const vihl = buf[offset + VERSION_IHL_OFFSET] as number;
  if (vihl >>> 4 !== 4) throw new DecodeError('ipv4', offset, `version ${vihl >>> 4} is not 4`);
  const headerLen = (vihl & 0x0f) * 4;
  if (headerLen < MIN_HEADER_LENGTH)
    throw new DecodeError('ipv4', offset, `header length ${headerLen} is below the minimum 20 (IHL ${vihl & 0x0f})`);
  needBytes('ipv4', offset, e, headerLen, 'header with options');
  const totalLength = u16(buf, offset + TOTAL_LENGTH_OFFSET);
  if (totalLength < headerLen) {
    throw new DecodeError('ipv4', offset + TOTAL_LENGTH_OFFSET, `total length ${totalLength} is shorter than the header (${headerLen})`);
  }
  if (totalLength > e - offset) {
    throw new DecodeError(
      'ipv4',
      offset + TOTAL_LENGTH_OFFSET,
      `truncated datagram: total length ${totalLength}, have ${e - offset} bytes`,
    );
  }
  return headerLen;
}

export function decode(buf: Buffer, offset = 0, end?: number): Ipv4Repr {
  const headerLen = validate(buf, offset, end);
  const totalLength = u16(buf, offset + TOTAL_LENGTH_OFFSET);
  const tos = buf[offset + TOS_OFFSET] as number;
  const ff = u16(buf, offset + FLAGS_FRAGMENT_OFFSET);
  return {
    dscp: tos >>> 2,
    ecn: tos & 0x03,
    identification: u16(buf, offset + IDENTIFICATION_OFFSET),
    reservedFlag: (ff & FLAG_RESERVED) !== 0,
    dontFragment: (ff & FLAG_DF) !== 0,
    moreFragments: (ff & FLAG_MF) !== 0,
    fragmentOffset: (ff & 0x1fff) * 8,
    ttl: buf[offset + TTL_OFFSET] as number,
    protocol: buf[offset + PROTOCOL_OFFSET] as number,
    checksum: u16(buf, offset + CHECKSUM_OFFSET),
    src: readIpv4(buf, offset + SRC_OFFSET),
    dst: readIpv4(buf, offset + DST_OFFSET),
    options: headerLen > MIN_HEADER_LENGTH ? buf.subarray(offset + MIN_HEADER_LENGTH, offset + headerLen) : EMPTY,
    payload: buf.subarray(offset + headerLen, offset + totalLength),
  };
}

export function headerLength(repr: Ipv4Repr): number {
  return MIN_HEADER_LENGTH + repr.options.length;
}

export function encodingLength(repr: Ipv4Repr): number {
  return MIN_HEADER_LENGTH + repr.options.length + repr.payload.length;
}

const check = (name: string, v: number, max: number): void => checkField('ipv4', name, v, max);

export function encode(repr: Ipv4Repr, buf?: Buffer, offset = 0): Buffer {
  const headerLen = headerLength(repr);
  const total = headerLen + repr.payload.length;
  if (repr.options.length % 4 !== 0 || repr.options.length > 40) {
    throw new EncodeError('ipv4', `options are ${repr.options.length} bytes; they must be padded to a multiple of 4 and at most 40`);
  }
  if (total > 0xffff) throw new EncodeError('ipv4', `datagram of ${total} bytes exceeds the 65535-byte maximum`);
  check('dscp', repr.dscp, 63);
  check('ecn', repr.ecn, 3);
  check('identification', repr.identification, 0xffff);
  check('ttl', repr.ttl, 255);
  check('protocol', repr.protocol, 255);
  if (!Number.isInteger(repr.fragmentOffset) || repr.fragmentOffset < 0 || repr.fragmentOffset > 65528 || repr.fragmentOffset % 8 !== 0) {
    throw new EncodeError('ipv4', `fragment offset ${repr.fragmentOffset} must be a multiple of 8 bytes from 0 to 65528`);
  }
  const out = outputBuffer('ipv4', total, buf, offset);
  out[offset + VERSION_IHL_OFFSET] = 0x40 | (headerLen >>> 2);
  out[offset + TOS_OFFSET] = (repr.dscp << 2) | repr.ecn;
  put16(out, offset + TOTAL_LENGTH_OFFSET, total);
  put16(out, offset + IDENTIFICATION_OFFSET, repr.identification);
  const ff =
    (repr.reservedFlag ? FLAG_RESERVED : 0) |
    (repr.dontFragment ? FLAG_DF : 0) |
    (repr.moreFragments ? FLAG_MF : 0) |
    (repr.fragmentOffset >>> 3);
  put16(out, offset + FLAGS_FRAGMENT_OFFSET, ff);
  out[offset + TTL_OFFSET] = repr.ttl;
  out[offset + PROTOCOL_OFFSET] = repr.protocol;
  writeIpv4(out, offset + SRC_OFFSET, repr.src);
  writeIpv4(out, offset + DST_OFFSET, repr.dst);
  if (repr.options.length > 0) repr.options.copy(out, offset + MIN_HEADER_LENGTH);
  writePayload(repr.payload, out, offset + headerLen);
  let checksum = repr.checksum;
  if (checksum === undefined) {
    // RFC 791 §3.1: the one's complement of the one's complement sum of the header, with the
    // checksum field taken as zero.
    put16(out, offset + CHECKSUM_OFFSET, 0);
    checksum = ~onesComplementSum(out, offset, offset + headerLen) & 0xffff;
  } else {
    check('checksum', checksum, 0xffff);
  }
  put16(out, offset + CHECKSUM_OFFSET, checksum);
  return out;
}

export function checksumValid(buf: Buffer, offset = 0): boolean {
  if (buf.length - offset < MIN_HEADER_LENGTH) return false;
  const headerLen = ((buf[offset] as number) & 0x0f) * 4;
  if (headerLen < MIN_HEADER_LENGTH || buf.length - offset < headerLen) return false;
  // Summing the header including its checksum gives 0xffff when it is intact.
  return onesComplementSum(buf, offset, offset + headerLen) === 0xffff;
}

export function parseOptions(options: Buffer): Ipv4Option[] {
  const list: Ipv4Option[] = [];
  let i = 0;
  while (i < options.length) {
    const type = options[i] as number;
    if (type === 0) {
      list.push({ kind: 'eol' });
      break;
    }
    if (type === 1) {
      list.push({ kind: 'nop' });
      i++;
      continue;
    }
    if (i + 1 >= options.length) throw new DecodeError('ipv4', MIN_HEADER_LENGTH + i, `option ${type} has no length byte`);
    const len = options[i + 1] as number;
    if (len < 2 || i + len > options.length)
      throw new DecodeError('ipv4', MIN_HEADER_LENGTH + i + 1, `option ${type} has bad length ${len}`);
    const body = options.subarray(i + 2, i + len);
    if (type === 7 && len >= 3) {
      // Record Route (RFC 791 §3.1): pointer, then route data of 4-byte addresses.
      const addresses: number[] = [];
      for (let a = 1; a + 4 <= body.length; a += 4) addresses.push(readIpv4(body, a));
      list.push({ kind: 'record-route', pointer: body[0] as number, addresses });
    } else if (type === 68 && len >= 4) {
      const of = body[1] as number;
      list.push({ kind: 'timestamp', pointer: body[0] as number, overflow: of >>> 4, flag: of & 0x0f, data: body.subarray(2) });
    } else if (type === 148 && len === 4) {
      // Router Alert (RFC 2113).
      list.push({ kind: 'router-alert', value: u16(body, 0) });
    } else {
      list.push({ kind: 'unknown', type, data: body });
    }
    i += len;
  }
  return list;
}

const PROTOCOL_NAMES: Record<number, string> = { 1: 'ICMP', 2: 'IGMP', 6: 'TCP', 17: 'UDP', 47: 'GRE', 50: 'ESP', 132: 'SCTP' };

export function protocolName(protocol: number): string {
  return PROTOCOL_NAMES[protocol] ?? String(protocol);
}

export const codec = { name: 'ipv4', decode, encode, encodingLength } satisfies Codec<Ipv4Repr>;

/**
 * A zero-copy view of the IPv4 datagram at buf[offset] (DESIGN §6.1): what the data plane
 * uses to route, decrement TTL and NAT in place. `at` validates exactly as decode does.
 */
export class Ipv4View {
  private constructor(
    readonly buf: Buffer,
    readonly offset: number,
    readonly headerLength: number,
    readonly totalLength: number,
  ) {}

  static at(buf: Buffer, offset = 0, end?: number): Ipv4View {
    const headerLen = validate(buf, offset, end);
    return new Ipv4View(buf, offset, headerLen, u16(buf, offset + TOTAL_LENGTH_OFFSET));
  }

  get protocol(): number {
    return this.buf[this.offset + PROTOCOL_OFFSET] as number;
  }
  get ttl(): number {
    return this.buf[this.offset + TTL_OFFSET] as number;
  }
  set ttl(ttl: number) {
    this.buf[this.offset + TTL_OFFSET] = ttl;
  }
  get src(): Ipv4Address {
    return readIpv4(this.buf, this.offset + SRC_OFFSET);
  }
  set src(ip: Ipv4Address) {
    writeIpv4(this.buf, this.offset + SRC_OFFSET, ip);
  }
  get dst(): Ipv4Address {
    return readIpv4(this.buf, this.offset + DST_OFFSET);
  }
  set dst(ip: Ipv4Address) {
    writeIpv4(this.buf, this.offset + DST_OFFSET, ip);
  }
  get dontFragment(): boolean {
    return (u16(this.buf, this.offset + FLAGS_FRAGMENT_OFFSET) & FLAG_DF) !== 0;
  }
  /** Fragment offset in bytes; non-zero (or MF set) means a fragment. */
  get fragmentOffset(): number {
    return (u16(this.buf, this.offset + FLAGS_FRAGMENT_OFFSET) & 0x1fff) * 8;
  }
  get moreFragments(): boolean {
    return (u16(this.buf, this.offset + FLAGS_FRAGMENT_OFFSET) & FLAG_MF) !== 0;
  }
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  get payloadEnd(): number {
    return this.offset + this.totalLength;
  }
  get checksumValid(): boolean {
    return this.headerSum() === 0xffff;
  }
  private headerSum(): number {
    return this.headerLength === MIN_HEADER_LENGTH
      ? ipv4HeaderSum(this.buf, this.offset)
      : onesComplementSum(this.buf, this.offset, this.offset + this.headerLength);
  }
  /** Recomputes the header checksum in place (after a field was rewritten). */
  updateChecksum(): void {
    if (this.headerLength === MIN_HEADER_LENGTH) {
      put16(this.buf, this.offset + CHECKSUM_OFFSET, ipv4HeaderChecksum(this.buf, this.offset));
      return;
    }
    put16(this.buf, this.offset + CHECKSUM_OFFSET, 0);
    put16(this.buf, this.offset + CHECKSUM_OFFSET, ~this.headerSum() & 0xffff);
  }
}
