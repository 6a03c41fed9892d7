// SCTP common header and chunks (RFC 9260 §3), with the CRC32c checksum (RFC 9260 Appendix A).
//
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Source Port Number        |     Destination Port Number   |
//  |                      Verification Tag                         |
//  |                           Checksum                            |
//  | Chunk Type  | Chunk Flags   |        Chunk Length             |  (repeated,
//  |                          Chunk Value ...                      |   padded to 4)
import { type Codec } from './codec.js';

export const ChunkType = { DATA: 0, INIT: 1, INIT_ACK: 2, SACK: 3, HEARTBEAT: 4, ABORT: 6, SHUTDOWN: 7, COOKIE_ECHO: 10, COOKIE_ACK: 11 } as const;
export const HEADER_LENGTH = 12;

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
  /** CRC32c as read on decode; when undefined on encode it is computed. */
  checksum?: number;
  chunks: SctpChunk[];
}

export declare function decode(buf: Buffer, offset?: number, end?: number): SctpRepr;
export declare function encode(repr: SctpRepr, buf?: Buffer, offset?: number): Buffer;
export declare function encodingLength(repr: SctpRepr): number;
export declare function checksumValid(buf: Buffer, offset?: number, end?: number): boolean;
/** CRC32c (Castagnoli) of buf[start, end), as SCTP stores it. */
export declare function crc32c(buf: Uint8Array, start?: number, end?: number): number;

export const codec = { name: 'sctp', decode, encode, encodingLength } satisfies Codec<SctpRepr>;
