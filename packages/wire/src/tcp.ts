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
import { type Codec } from './codec.js';
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

export declare function decode(buf: Buffer, offset?: number, end?: number): TcpRepr;
export declare function encode(repr: TcpRepr, buf?: Buffer, offset?: number, pseudo?: PseudoHeader): Buffer;
export declare function encodingLength(repr: TcpRepr): number;
export declare function headerLength(repr: TcpRepr): number;
export declare function checksumValid(buf: Buffer, offset: number, end: number, pseudo: PseudoHeader): boolean;
/** tcpdump's flag letters: "S", "S.", "P.", "F.", "R", "." ... */
export declare function flagsString(flags: number): string;

export const codec = { name: 'tcp', decode, encode, encodingLength } satisfies Codec<TcpRepr>;
