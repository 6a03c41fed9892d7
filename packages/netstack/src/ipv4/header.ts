// Writing IPv4 headers into frames and the small field edits the data plane does in place.
// Offsets are wire's named constants (RFC 791 §3.1).
import { type Ipv4Address, ipv4, ipv4HeaderSum, updateChecksum16, writeIpv4 } from '@podnet/wire';

export const FLAG_DF = 0x4000;
export const FLAG_MF = 0x2000;
export const OFFSET_MASK = 0x1fff;
export const DEFAULT_TTL = 64;

export interface HeaderFields {
  src: Ipv4Address;
  dst: Ipv4Address;
  protocol: number;
  totalLength: number;
  identification: number;
  ttl: number;
  tos: number;
  dontFragment: boolean;
}

/** Writes a 20-byte header (no options) at buf[at] with its checksum. */
export function writeHeader(buf: Buffer, at: number, f: HeaderFields): void {
  buf[at] = 0x45;
  buf[at + ipv4.TOS_OFFSET] = f.tos;
  buf.writeUInt16BE(f.totalLength, at + ipv4.TOTAL_LENGTH_OFFSET);
  buf.writeUInt16BE(f.identification & 0xffff, at + ipv4.IDENTIFICATION_OFFSET);
  buf.writeUInt16BE(f.dontFragment ? FLAG_DF : 0, at + ipv4.FLAGS_FRAGMENT_OFFSET);
  buf[at + ipv4.TTL_OFFSET] = f.ttl;
  buf[at + ipv4.PROTOCOL_OFFSET] = f.protocol;
  buf.writeUInt16BE(0, at + ipv4.CHECKSUM_OFFSET);
  writeIpv4(buf, at + ipv4.SRC_OFFSET, f.src);
  writeIpv4(buf, at + ipv4.DST_OFFSET, f.dst);
  buf.writeUInt16BE(~ipv4HeaderSum(buf, at) & 0xffff, at + ipv4.CHECKSUM_OFFSET);
}

/** ip_decrease_ttl: TTL minus one with the RFC 1624 incremental checksum update. */
export function decrementTtl(buf: Buffer, at: number): void {
  const word = buf.readUInt16BE(at + ipv4.TTL_OFFSET);
  const next = word - 0x0100;
  buf.writeUInt16BE(next, at + ipv4.TTL_OFFSET);
  const sum = buf.readUInt16BE(at + ipv4.CHECKSUM_OFFSET);
  buf.writeUInt16BE(updateChecksum16(sum, word, next), at + ipv4.CHECKSUM_OFFSET);
}

export function headerLength(buf: Buffer, at: number): number {
  return ((buf[at] as number) & 0x0f) * 4;
}
export function totalLength(buf: Buffer, at: number): number {
  return buf.readUInt16BE(at + ipv4.TOTAL_LENGTH_OFFSET);
}
export function protocolOf(buf: Buffer, at: number): number {
  return buf[at + ipv4.PROTOCOL_OFFSET] as number;
}
export function flagsOffset(buf: Buffer, at: number): number {
  return buf.readUInt16BE(at + ipv4.FLAGS_FRAGMENT_OFFSET);
}
export function isFragment(buf: Buffer, at: number): boolean {
  return (flagsOffset(buf, at) & (FLAG_MF | OFFSET_MASK)) !== 0;
}
export function fragmentOffsetBytes(buf: Buffer, at: number): number {
  return (flagsOffset(buf, at) & OFFSET_MASK) * 8;
}
