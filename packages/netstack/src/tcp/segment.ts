// Parsing of received segments and building of sent ones, directly on bytes (RFC 9293 §3.1).
// The hot path reads the fixed header with DataView-free big-endian reads and parses options
// only on SYNs (MSS and window scale are the only options this TCP negotiates); the wire
// package's TcpView/tcp.decode do the same validation for tools and tests.
import { onesComplementSum, pseudoHeaderSum, tcp } from '@podnet/wire';

export const PROTOCOL_TCP = 6;
export const HEADER_LENGTH = 20;

export const FIN = tcp.TcpFlags.FIN;
export const SYN = tcp.TcpFlags.SYN;
export const RST = tcp.TcpFlags.RST;
export const PSH = tcp.TcpFlags.PSH;
export const ACK = tcp.TcpFlags.ACK;

/** A received segment: fields of the header, and the payload's range in the caller's buffer. */
export interface Segment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** From the options (SYN only): the peer's MSS and window shift, when present. */
  mss: number | undefined;
  windowShift: number | undefined;
  /** SACK-permitted on a SYN (RFC 2018 §2). */
  sackPermitted: boolean;
  /** SACK blocks of an ACK as [left0, right0, left1, right1, ...] (RFC 2018 §3), when present. */
  sackBlocks: number[] | undefined;
  buf: Buffer;
  dataStart: number;
  dataEnd: number;
}

export type ParseResult = { ok: true; segment: Segment } | { ok: false; reason: 'malformed' | 'checksum' };

/** Validates length, data offset and checksum (RFC 9293 §3.1; RFC 1122 §4.2.2.7: drop a bad checksum silently). */
export function parseSegment(buf: Buffer, src: number, dst: number, checksumKnownGood = false): ParseResult {
  const len = buf.length;
  if (len < HEADER_LENGTH) return { ok: false, reason: 'malformed' };
  const headerLen = ((buf[12] as number) >>> 4) * 4;
  if (headerLen < HEADER_LENGTH || headerLen > len) return { ok: false, reason: 'malformed' };
  if (!checksumKnownGood && onesComplementSum(buf, 0, len, pseudoHeaderSum(src, dst, PROTOCOL_TCP, len)) !== 0xffff) {
    return { ok: false, reason: 'checksum' };
  }
  const flags = buf[13] as number;
  let mss: number | undefined;
  let windowShift: number | undefined;
  let sackPermitted = false;
  let sackBlocks: number[] | undefined;
  if (headerLen > HEADER_LENGTH) {
    // RFC 9293 §3.2: walk kind/length pairs; a malformed option list ends the walk (options
    // are advisory, so the SYN itself is still processed, as Linux tcp_parse_options does).
    let i = HEADER_LENGTH;
    while (i < headerLen) {
      const kind = buf[i] as number;
      if (kind === 0) break;
      if (kind === 1) {
        i++;
        continue;
      }
      const olen = buf[i + 1];
      if (olen === undefined || olen < 2 || i + olen > headerLen) break;
      if (flags & SYN) {
        if (kind === 2 && olen === 4) mss = buf.readUInt16BE(i + 2);
        // RFC 7323 §2.3: a shift above 14 is treated as 14.
        else if (kind === 3 && olen === 3) windowShift = Math.min(14, buf[i + 2] as number);
        else if (kind === 4 && olen === 2) sackPermitted = true;
      } else if (kind === 5 && olen > 2 && (olen - 2) % 8 === 0) {
        sackBlocks = [];
        for (let b = i + 2; b < i + olen; b += 8) sackBlocks.push(buf.readUInt32BE(b), buf.readUInt32BE(b + 4));
      }
      i += olen;
    }
  }
  return {
    ok: true,
    segment: {
      srcPort: buf.readUInt16BE(0),
      dstPort: buf.readUInt16BE(2),
      seq: buf.readUInt32BE(4),
      ack: buf.readUInt32BE(8),
      flags,
      window: buf.readUInt16BE(14),
      mss,
      windowShift,
      sackPermitted,
      sackBlocks,
      buf,
      dataStart: headerLen,
      dataEnd: len,
    },
  };
}

/** Writes a 20-byte header (data offset includes optionsLength) at buf[0..20). */
export function writeHeader(
  buf: Buffer,
  srcPort: number,
  dstPort: number,
  seq: number,
  ack: number,
  flags: number,
  window: number,
  optionsLength: number,
): void {
  buf.writeUInt16BE(srcPort, 0);
  buf.writeUInt16BE(dstPort, 2);
  buf.writeUInt32BE(seq >>> 0, 4);
  buf.writeUInt32BE(ack >>> 0, 8);
  buf[12] = ((HEADER_LENGTH + optionsLength) >>> 2) << 4;
  buf[13] = flags;
  buf.writeUInt16BE(window, 14);
  buf.writeUInt16BE(0, 16);
  buf.writeUInt16BE(0, 18);
}

/** Writes the SYN options at buf[20..): MSS, then NOP + window scale, then NOP NOP + SACK-permitted; returns their length. */
export function writeSynOptions(buf: Buffer, mss: number, windowShift: number | undefined, sackPermitted = false): number {
  buf[20] = 2;
  buf[21] = 4;
  buf.writeUInt16BE(mss, 22);
  let at = 24;
  if (windowShift !== undefined) {
    buf[at] = 1;
    buf[at + 1] = 3;
    buf[at + 2] = 3;
    buf[at + 3] = windowShift;
    at += 4;
  }
  if (sackPermitted) {
    buf[at] = 1;
    buf[at + 1] = 1;
    buf[at + 2] = 4;
    buf[at + 3] = 2;
    at += 4;
  }
  return at - HEADER_LENGTH;
}

/** Writes NOP NOP + a SACK option with the blocks [l0, r0, ...] at buf[20..); returns its length (RFC 2018 §3). */
export function writeSackOption(buf: Buffer, blocks: readonly number[]): number {
  const n = blocks.length >>> 1;
  buf[20] = 1;
  buf[21] = 1;
  buf[22] = 5;
  buf[23] = 2 + 8 * n;
  for (let i = 0; i < blocks.length; i++) buf.writeUInt32BE((blocks[i] as number) >>> 0, 24 + 4 * i);
  return 4 + 8 * n;
}

/** Fills in the checksum of the segment buf[0..length) (RFC 9293 §3.1). */
export function finishChecksum(buf: Buffer, length: number, src: number, dst: number): void {
  const sum = onesComplementSum(buf, 0, length, pseudoHeaderSum(src, dst, PROTOCOL_TCP, length));
  buf.writeUInt16BE(~sum & 0xffff, 16);
}
