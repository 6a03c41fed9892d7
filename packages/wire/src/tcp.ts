// TCP header (RFC 9293 §3.1) and its options: MSS (RFC 9293 §3.7.1), window scale,
// timestamps (RFC 7323), SACK-permitted and SACK (RFC 2018), NOP and EOL.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          Source Port          |       Destination Port        |
//  |                        Sequence Number                        |
//  |                    Acknowledgment Number                      |
//  |  Data |       |C|E|U|A|P|R|S|F|                               |
//  | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//  |       |       |R|E|G|K|H|T|N|N|                               |
//  |           Checksum            |         Urgent Pointer        |
//  |                           [Options]                           |
import { checkField, copySmall, put16, put32, u16, u32 } from './bytes.js';
import { onesComplementSum, pseudoHeaderSum } from './checksum.js';
import { type Codec, outputBuffer, writePayload } from './codec.js';
import { checkBounds, DecodeError, EncodeError, needBytes } from './errors.js';
import type { PseudoHeader } from './udp.js';

export const TcpFlags = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

export const SRC_PORT_OFFSET = 0;
export const DST_PORT_OFFSET = 2;
export const SEQ_OFFSET = 4;
export const ACK_OFFSET = 8;
export const DATA_OFFSET_OFFSET = 12;
export const FLAGS_OFFSET = 13;
export const WINDOW_OFFSET = 14;
export const CHECKSUM_OFFSET = 16;
export const URGENT_OFFSET = 18;
export const MIN_HEADER_LENGTH = 20;
export const MAX_HEADER_LENGTH = 60;

export type TcpOption =
  /** End of option list; `rest` holds the bytes after it up to the data offset (normally zeros). */
  | { kind: 'eol'; rest: Buffer }
  | { kind: 'nop' }
  | { kind: 'mss'; value: number }
  | { kind: 'window-scale'; shift: number }
  | { kind: 'sack-permitted' }
  | { kind: 'sack'; blocks: { left: number; right: number }[] }
  | { kind: 'timestamps'; tsval: number; tsecr: number }
  | { kind: 'unknown'; type: number; data: Buffer };

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** The 4 reserved bits between data offset and flags, kept as read. */
  reserved: number;
  /** The 8 control bits, a bitwise OR of TcpFlags. */
  flags: number;
  window: number;
  /** As read on decode; when undefined on encode it is computed (needs the pseudo-header). */
  checksum?: number;
  urgentPointer: number;
  /** In wire order; encode pads with zero bytes (EOL) to a multiple of 4. */
  options: TcpOption[];
  payload: Buffer;
}

const PROTOCOL_TCP = 6;
const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WSCALE = 3;
const OPT_SACK_PERMITTED = 4;
const OPT_SACK = 5;
const OPT_TIMESTAMPS = 8;
const MAX_OPTIONS_LENGTH = MAX_HEADER_LENGTH - MIN_HEADER_LENGTH;

/**
 * Parses the option area buf[start, end) in wire order (RFC 9293 §3.1-3.2); error offsets are
 * absolute in buf. Each known kind is recognised only at the length its RFC fixes: MSS 4
 * (RFC 9293 §3.2), window scale 3 (RFC 7323 §2.2), SACK-permitted 2 and SACK 2+8n
 * (RFC 2018 §2-3), timestamps 10 (RFC 7323 §3.2).
 */
function parseOptions(buf: Buffer, start: number, end: number): TcpOption[] {
  const options: TcpOption[] = [];
  let i = start;
  while (i < end) {
    const kind = buf[i] as number;
    if (kind === OPT_EOL) {
      // RFC 9293 §3.2: End of Option List; what follows up to the data offset is padding.
      options.push({ kind: 'eol', rest: buf.subarray(i + 1, end) });
      return options;
    }
    if (kind === OPT_NOP) {
      options.push({ kind: 'nop' });
      i++;
      continue;
    }
    if (i + 1 >= end) throw new DecodeError('tcp', i, `option ${kind} has no length byte`);
    const len = buf[i + 1] as number;
    if (len < 2) throw new DecodeError('tcp', i + 1, `option ${kind} has length ${len}, below the minimum 2`);
    if (i + len > end) throw new DecodeError('tcp', i + 1, `option ${kind} of length ${len} runs past the header`);
    const at = i + 2;
    if (kind === OPT_MSS && len === 4) options.push({ kind: 'mss', value: u16(buf, at) });
    else if (kind === OPT_WSCALE && len === 3) options.push({ kind: 'window-scale', shift: buf[at] as number });
    else if (kind === OPT_SACK_PERMITTED && len === 2) options.push({ kind: 'sack-permitted' });
    else if (kind === OPT_SACK && len > 2 && (len - 2) % 8 === 0) {
      const blocks: { left: number; right: number }[] = [];
      for (let b = at; b < i + len; b += 8) blocks.push({ left: u32(buf, b), right: u32(buf, b + 4) });
      options.push({ kind: 'sack', blocks });
    } else if (kind === OPT_TIMESTAMPS && len === 10) {
      options.push({ kind: 'timestamps', tsval: u32(buf, at), tsecr: u32(buf, at + 4) });
    } else {
      // Unknown kinds, and known kinds with a length their RFC does not allow, are kept byte for byte.
      options.push({ kind: 'unknown', type: kind, data: buf.subarray(at, i + len) });
    }
    i += len;
  }
  return options;
}

/** Bytes an option takes on the wire. */
export function optionLength(o: TcpOption): number {
  switch (o.kind) {
    case 'eol':
      return 1 + o.rest.length;
    case 'nop':
      return 1;
    case 'mss':
      return 4;
    case 'window-scale':
      return 3;
    case 'sack-permitted':
      return 2;
    case 'sack':
      return 2 + 8 * o.blocks.length;
    case 'timestamps':
      return 10;
    case 'unknown':
      return 2 + o.data.length;
  }
}

function optionsLength(options: readonly TcpOption[]): number {
  let n = 0;
  for (const o of options) n += optionLength(o);
  return n;
}

/**
 * RFC 9293 §3.1: a data offset of at least 5 words, all within the bytes we have. Returns the
 * header length (a number, not an object, so the view's hot path allocates nothing here); the
 * caller takes the effective end from checkBounds.
 */
function validate(buf: Buffer, offset: number, e: number): number {
  needBytes('tcp', offset, e, MIN_HEADER_LENGTH);
  const headerLen = ((buf[offset + DATA_OFFSET_OFFSET] as number) >>> 4) * 4;
  if (headerLen < MIN_HEADER_LENGTH) {
    throw new DecodeError('tcp', offset + DATA_OFFSET_OFFSET, `data offset ${headerLen / 4} is below the minimum 5 words`);
  }
  needBytes('tcp', offset, e, headerLen, 'header with options');
  return headerLen;
}

export function decode(buf: Buffer, offset = 0, end?: number): TcpRepr {
  const e = checkBounds('tcp', buf, offset, end);
  const headerLen = validate(buf, offset, e);
  const doByte = buf[offset + DATA_OFFSET_OFFSET] as number;
  return {
    srcPort: u16(buf, offset + SRC_PORT_OFFSET),
    dstPort: u16(buf, offset + DST_PORT_OFFSET),
    seq: u32(buf, offset + SEQ_OFFSET),
    ack: u32(buf, offset + ACK_OFFSET),
    reserved: doByte & 0x0f,
    flags: buf[offset + FLAGS_OFFSET] as number,
    window: u16(buf, offset + WINDOW_OFFSET),
    checksum: u16(buf, offset + CHECKSUM_OFFSET),
    urgentPointer: u16(buf, offset + URGENT_OFFSET),
    options: headerLen > MIN_HEADER_LENGTH ? parseOptions(buf, offset + MIN_HEADER_LENGTH, offset + headerLen) : [],
    payload: buf.subarray(offset + headerLen, e),
  };
}

export function headerLength(repr: TcpRepr): number {
  return MIN_HEADER_LENGTH + ((optionsLength(repr.options) + 3) & ~3);
}

export function encodingLength(repr: TcpRepr): number {
  return headerLength(repr) + repr.payload.length;
}

const check = (name: string, v: number, max: number): void => checkField('tcp', name, v, max);

function writeOptions(options: readonly TcpOption[], out: Buffer, start: number, end: number): void {
  let i = start;
  for (const o of options) {
    switch (o.kind) {
      case 'eol':
        out[i] = OPT_EOL;
        copySmall(o.rest, out, i + 1);
        break;
      case 'nop':
        out[i] = OPT_NOP;
        break;
      case 'mss':
        check('MSS', o.value, 0xffff);
        out[i] = OPT_MSS;
        out[i + 1] = 4;
        put16(out, i + 2, o.value);
        break;
      case 'window-scale':
        check('window scale shift', o.shift, 255);
        out[i] = OPT_WSCALE;
        out[i + 1] = 3;
        out[i + 2] = o.shift;
        break;
      case 'sack-permitted':
        out[i] = OPT_SACK_PERMITTED;
        out[i + 1] = 2;
        break;
      case 'sack':
        out[i] = OPT_SACK;
        out[i + 1] = 2 + 8 * o.blocks.length;
        for (let n = 0; n < o.blocks.length; n++) {
          const b = o.blocks[n] as { left: number; right: number };
          check('SACK left edge', b.left, 0xffffffff);
          check('SACK right edge', b.right, 0xffffffff);
          put32(out, i + 2 + 8 * n, b.left);
          put32(out, i + 6 + 8 * n, b.right);
        }
        break;
      case 'timestamps':
        check('TSval', o.tsval, 0xffffffff);
        check('TSecr', o.tsecr, 0xffffffff);
        out[i] = OPT_TIMESTAMPS;
        out[i + 1] = 10;
        put32(out, i + 2, o.tsval);
        put32(out, i + 6, o.tsecr);
        break;
      case 'unknown':
        check('option kind', o.type, 255);
        out[i] = o.type;
        out[i + 1] = 2 + o.data.length;
        copySmall(o.data, out, i + 2);
        break;
    }
    i += optionLength(o);
  }
  // Pad to the 32-bit boundary with zeros (EOL), RFC 9293 §3.1.
  for (; i < end; i++) out[i] = 0;
}

export function encode(repr: TcpRepr, buf?: Buffer, offset = 0, pseudo?: PseudoHeader): Buffer {
  const optLen = optionsLength(repr.options);
  if (optLen > MAX_OPTIONS_LENGTH) throw new EncodeError('tcp', `options take ${optLen} bytes; at most 40 fit in the header`);
  const options = repr.options;
  for (let n = 0; n < options.length; n++) {
    const o = options[n] as TcpOption;
    if (o.kind === 'eol' && n !== options.length - 1) {
      // Everything after an EOL is padding to a receiver (RFC 9293 §3.2), so options placed
      // after it would not come back as options.
      throw new EncodeError('tcp', `EOL is option ${n + 1} of ${options.length}; it must be the last (its rest holds any padding)`);
    }
    if (o.kind === 'unknown') {
      // Kinds 0 and 1 are the single-byte EOL and NOP (RFC 9293 §3.2): a length byte after them
      // would be read as the next option.
      if (o.type === OPT_EOL || o.type === OPT_NOP)
        throw new EncodeError('tcp', `option kind ${o.type} has no length byte; use {kind: '${o.type === OPT_EOL ? 'eol' : 'nop'}'}`);
      if (o.data.length > 253) throw new EncodeError('tcp', `option ${o.type} carries ${o.data.length} bytes; at most 253 fit`);
    }
  }
  check('source port', repr.srcPort, 0xffff);
  check('destination port', repr.dstPort, 0xffff);
  check('sequence number', repr.seq, 0xffffffff);
  check('acknowledgment number', repr.ack, 0xffffffff);
  check('reserved bits', repr.reserved, 0x0f);
  check('flags', repr.flags, 0xff);
  check('window', repr.window, 0xffff);
  check('urgent pointer', repr.urgentPointer, 0xffff);
  if (repr.checksum === undefined && pseudo === undefined) {
    throw new EncodeError('tcp', 'the checksum is to be computed but no pseudo-header (src/dst addresses) was given');
  }
  const headerLen = MIN_HEADER_LENGTH + ((optLen + 3) & ~3);
  const length = headerLen + repr.payload.length;
  const out = outputBuffer('tcp', length, buf, offset);
  put16(out, offset + SRC_PORT_OFFSET, repr.srcPort);
  put16(out, offset + DST_PORT_OFFSET, repr.dstPort);
  put32(out, offset + SEQ_OFFSET, repr.seq);
  put32(out, offset + ACK_OFFSET, repr.ack);
  out[offset + DATA_OFFSET_OFFSET] = ((headerLen >>> 2) << 4) | repr.reserved;
  out[offset + FLAGS_OFFSET] = repr.flags;
  put16(out, offset + WINDOW_OFFSET, repr.window);
  put16(out, offset + URGENT_OFFSET, repr.urgentPointer);
  if (headerLen > MIN_HEADER_LENGTH) writeOptions(repr.options, out, offset + MIN_HEADER_LENGTH, offset + headerLen);
  writePayload(repr.payload, out, offset + headerLen);
  let checksum = repr.checksum;
  if (checksum === undefined) {
    // RFC 9293 §3.1: over the pseudo-header, the header with the checksum zero, and the data.
    put16(out, offset + CHECKSUM_OFFSET, 0);
    const p = pseudo as PseudoHeader;
    checksum = ~onesComplementSum(out, offset, offset + length, pseudoHeaderSum(p.src, p.dst, PROTOCOL_TCP, length)) & 0xffff;
  } else {
    check('checksum', checksum, 0xffff);
  }
  put16(out, offset + CHECKSUM_OFFSET, checksum);
  return out;
}

export function checksumValid(buf: Buffer, offset: number, end: number, pseudo: PseudoHeader): boolean {
  if (end - offset < MIN_HEADER_LENGTH) return false;
  return onesComplementSum(buf, offset, end, pseudoHeaderSum(pseudo.src, pseudo.dst, PROTOCOL_TCP, end - offset)) === 0xffff;
}

export function flagsString(flags: number): string {
  // tcpdump (print-tcp.c) prints the flags in the order F S R P . U E W, "." standing for ACK,
  // and "none" when no flag is set: a SYN-ACK is "S.", FIN+PSH+ACK is "FP.".
  let s = '';
  if (flags & TcpFlags.FIN) s += 'F';
  if (flags & TcpFlags.SYN) s += 'S';
  if (flags & TcpFlags.RST) s += 'R';
  if (flags & TcpFlags.PSH) s += 'P';
  if (flags & TcpFlags.ACK) s += '.';
  if (flags & TcpFlags.URG) s += 'U';
  if (flags & TcpFlags.ECE) s += 'E';
  if (flags & TcpFlags.CWR) s += 'W';
  return s === '' ? 'none' : s;
}

export const codec = { name: 'tcp', decode, encode, encodingLength } satisfies Codec<TcpRepr>;

/**
 * A zero-copy view of the TCP segment at buf[offset, end) (DESIGN §6.1): ports, sequence
 * numbers, flags and the checksum, read and rewritten in place. `at` validates the header and
 * option lengths as decode does, without building the option list.
 */
export class TcpView {
  private constructor(
    readonly buf: Buffer,
    readonly offset: number,
    readonly end: number,
    readonly headerLength: number,
  ) {}

  static at(buf: Buffer, offset = 0, end?: number): TcpView {
    const e = checkBounds('tcp', buf, offset, end);
    return new TcpView(buf, offset, e, validate(buf, offset, e));
  }

  get srcPort(): number {
    return u16(this.buf, this.offset + SRC_PORT_OFFSET);
  }
  set srcPort(port: number) {
    check('source port', port, 0xffff);
    put16(this.buf, this.offset + SRC_PORT_OFFSET, port);
  }
  get dstPort(): number {
    return u16(this.buf, this.offset + DST_PORT_OFFSET);
  }
  set dstPort(port: number) {
    check('destination port', port, 0xffff);
    put16(this.buf, this.offset + DST_PORT_OFFSET, port);
  }
  get seq(): number {
    return u32(this.buf, this.offset + SEQ_OFFSET);
  }
  get ack(): number {
    return u32(this.buf, this.offset + ACK_OFFSET);
  }
  get flags(): number {
    return this.buf[this.offset + FLAGS_OFFSET] as number;
  }
  get window(): number {
    return u16(this.buf, this.offset + WINDOW_OFFSET);
  }
  /** The options, parsed on demand (the hot path rarely needs them). */
  get options(): TcpOption[] {
    return parseOptions(this.buf, this.offset + MIN_HEADER_LENGTH, this.offset + this.headerLength);
  }
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  checksumValid(pseudo: PseudoHeader): boolean {
    return checksumValid(this.buf, this.offset, this.end, pseudo);
  }
  /** Recomputes the checksum in place over the pseudo-header, header and data. */
  updateChecksum(pseudo: PseudoHeader): void {
    const at = this.offset + CHECKSUM_OFFSET;
    put16(this.buf, at, 0);
    const length = this.end - this.offset;
    put16(
      this.buf,
      at,
      ~onesComplementSum(this.buf, this.offset, this.end, pseudoHeaderSum(pseudo.src, pseudo.dst, PROTOCOL_TCP, length)) & 0xffff,
    );
  }
}
