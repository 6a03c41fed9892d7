// SCTP common header and chunks (RFC 9260 §3), with the CRC32c checksum (RFC 9260 Appendix A).
//
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Source Port Number        |     Destination Port Number   |
//  |                      Verification Tag                         |
//  |                           Checksum                            |
//  | Chunk Type  | Chunk Flags   |        Chunk Length             |  (repeated,
//  |                          Chunk Value ...                      |   padded to 4)
import { checkField, put16, put32, u16, u32 } from './bytes.js';
import { type Codec, outputBuffer, writePayload } from './codec.js';
import { checkBounds, DecodeError, EncodeError, needBytes } from './errors.js';

export const ChunkType = {
  DATA: 0,
  INIT: 1,
  INIT_ACK: 2,
  SACK: 3,
  HEARTBEAT: 4,
  ABORT: 6,
  SHUTDOWN: 7,
  COOKIE_ECHO: 10,
  COOKIE_ACK: 11,
} as const;
export const SRC_PORT_OFFSET = 0;
export const DST_PORT_OFFSET = 2;
export const VERIFICATION_TAG_OFFSET = 4;
export const CHECKSUM_OFFSET = 8;
export const HEADER_LENGTH = 12;
export const CHUNK_HEADER_LENGTH = 4;

export interface SctpChunk {
  type: number;
  flags: number;
  /** The chunk value (Chunk Length - 4 bytes), without the padding to 4 bytes. */
  value: Buffer;
}

export interface SctpRepr {
  srcPort: number;
  dstPort: number;
  verificationTag: number;
  /**
   * The checksum field read as a big-endian number (as tshark shows it); when undefined on
   * encode the CRC32c is computed. SCTP stores the CRC in little-endian byte order (Linux
   * sctp_compute_cksum; RFC 9260 Appendix A's bit ordering), so this is the CRC byte-swapped.
   */
  checksum?: number;
  chunks: SctpChunk[];
}

/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), RFC 9260 Appendix A, table-driven
 * eight bytes at a time ("slicing-by-8"): table k (at k * 256) maps a byte to its CRC after k
 * further zero bytes, so eight lookups advance the CRC over eight bytes at once.
 */
const CRC32C_TABLES = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n] as number;
    for (let k = 1; k < 8; k++) {
      c = (t[c & 0xff] as number) ^ (c >>> 8);
      t[k * 256 + n] = c >>> 0;
    }
  }
  return t;
})();

function crcUpdate(crc: number, buf: Uint8Array, start: number, end: number): number {
  const t = CRC32C_TABLES;
  let c = crc;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    // The first four bytes fold into the CRC (little-endian, as the reflected CRC consumes them).
    c ^= (buf[i] as number) | ((buf[i + 1] as number) << 8) | ((buf[i + 2] as number) << 16) | ((buf[i + 3] as number) << 24);
    c =
      (t[7 * 256 + (c & 0xff)] as number) ^
      (t[6 * 256 + ((c >>> 8) & 0xff)] as number) ^
      (t[5 * 256 + ((c >>> 16) & 0xff)] as number) ^
      (t[4 * 256 + (c >>> 24)] as number) ^
      (t[3 * 256 + (buf[i + 4] as number)] as number) ^
      (t[2 * 256 + (buf[i + 5] as number)] as number) ^
      (t[256 + (buf[i + 6] as number)] as number) ^
      (t[buf[i + 7] as number] as number);
  }
  for (; i < end; i++) c = (t[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return c;
}

export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  return ~crcUpdate(0xffffffff, buf, start, end) >>> 0;
}

/** The CRC of an SCTP packet, computed with its checksum field taken as zero. */
function packetCrc(buf: Uint8Array, offset: number, end: number): number {
  let c = crcUpdate(0xffffffff, buf, offset, offset + CHECKSUM_OFFSET);
  c = crcUpdate(c, ZERO4, 0, 4);
  c = crcUpdate(c, buf, offset + HEADER_LENGTH, end);
  return ~c >>> 0;
}
const ZERO4 = new Uint8Array(4);

function swap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

export function decode(buf: Buffer, offset = 0, end?: number): SctpRepr {
  const e = checkBounds('sctp', buf, offset, end);
  needBytes('sctp', offset, e, HEADER_LENGTH);
  const chunks: SctpChunk[] = [];
  let i = offset + HEADER_LENGTH;
  // RFC 9260 §3.2: chunks follow one another, each padded to a multiple of 4 bytes; the
  // padding of the last chunk may be absent.
  while (i < e) {
    needBytes('sctp', i, e, CHUNK_HEADER_LENGTH, 'chunk header');
    const length = u16(buf, i + 2);
    if (length < CHUNK_HEADER_LENGTH) throw new DecodeError('sctp', i + 2, `chunk length ${length} is below the 4-byte chunk header`);
    if (i + length > e) throw new DecodeError('sctp', i + 2, `chunk of length ${length} runs past the packet (${e - i} bytes left)`);
    chunks.push({ type: buf[i] as number, flags: buf[i + 1] as number, value: buf.subarray(i + CHUNK_HEADER_LENGTH, i + length) });
    i += Math.min((length + 3) & ~3, e - i);
  }
  return {
    srcPort: u16(buf, offset + SRC_PORT_OFFSET),
    dstPort: u16(buf, offset + DST_PORT_OFFSET),
    verificationTag: u32(buf, offset + VERIFICATION_TAG_OFFSET),
    checksum: u32(buf, offset + CHECKSUM_OFFSET),
    chunks,
  };
}

export function encodingLength(repr: SctpRepr): number {
  let n = HEADER_LENGTH;
  for (const c of repr.chunks) n += (CHUNK_HEADER_LENGTH + c.value.length + 3) & ~3;
  return n;
}

const check = (name: string, v: number, max: number): void => checkField('sctp', name, v, max);

export function encode(repr: SctpRepr, buf?: Buffer, offset = 0): Buffer {
  check('source port', repr.srcPort, 0xffff);
  check('destination port', repr.dstPort, 0xffff);
  check('verification tag', repr.verificationTag, 0xffffffff);
  const length = encodingLength(repr);
  const out = outputBuffer('sctp', length, buf, offset);
  put16(out, offset + SRC_PORT_OFFSET, repr.srcPort);
  put16(out, offset + DST_PORT_OFFSET, repr.dstPort);
  put32(out, offset + VERIFICATION_TAG_OFFSET, repr.verificationTag);
  let i = offset + HEADER_LENGTH;
  for (const c of repr.chunks) {
    check('chunk type', c.type, 255);
    check('chunk flags', c.flags, 255);
    const chunkLength = CHUNK_HEADER_LENGTH + c.value.length;
    if (chunkLength > 0xffff) throw new EncodeError('sctp', `chunk of ${chunkLength} bytes exceeds the 16-bit length field`);
    out[i] = c.type;
    out[i + 1] = c.flags;
    put16(out, i + 2, chunkLength);
    writePayload(c.value, out, i + CHUNK_HEADER_LENGTH);
    const padded = (chunkLength + 3) & ~3;
    // Padding bytes are zeros (RFC 9260 §3.2); at most 3, so no native fill call.
    for (let p = i + chunkLength; p < i + padded; p++) out[p] = 0;
    i += padded;
  }
  if (repr.checksum === undefined) {
    out.writeUInt32LE(packetCrc(out, offset, offset + length), offset + CHECKSUM_OFFSET);
  } else {
    check('checksum', repr.checksum, 0xffffffff);
    put32(out, offset + CHECKSUM_OFFSET, repr.checksum);
  }
  return out;
}

export function checksumValid(buf: Buffer, offset = 0, end = buf.length): boolean {
  if (end - offset < HEADER_LENGTH) return false;
  return swap32(u32(buf, offset + CHECKSUM_OFFSET)) === packetCrc(buf, offset, end);
}

export const codec = { name: 'sctp', decode, encode, encodingLength } satisfies Codec<SctpRepr>;
