// ICMP for IPv4 (RFC 792), with the next-hop MTU of "fragmentation needed" (RFC 1191 §4).
//
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Type      |     Code      |          Checksum             |
//  |              rest of header (identifier/sequence, MTU, unused)|
//  |     data: echo payload, or the offending IP header + 64 bits  |
import { type Codec } from './codec.js';

export const IcmpType = {
  EchoReply: 0,
  DestinationUnreachable: 3,
  Redirect: 5,
  EchoRequest: 8,
  TimeExceeded: 11,
  ParameterProblem: 12,
} as const;

/** Codes of Destination Unreachable (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1). */
export const UnreachableCode = {
  Net: 0,
  Host: 1,
  Protocol: 2,
  Port: 3,
  FragmentationNeeded: 4,
  SourceRouteFailed: 5,
  NetProhibited: 9,
  HostProhibited: 10,
  AdminProhibited: 13,
} as const;

export const TimeExceededCode = { TtlExceeded: 0, FragmentReassembly: 1 } as const;

export const HEADER_LENGTH = 8;

export type Icmpv4Repr =
  | {
      kind: 'echo-request' | 'echo-reply';
      code: number;
      checksum?: number;
      identifier: number;
      sequence: number;
      data: Buffer;
    }
  | {
      kind: 'destination-unreachable';
      code: number;
      checksum?: number;
      /** The 16 bits before the MTU (zero per RFC 1191), kept as read. */
      unused: number;
      /** Next-hop MTU for code 4 (RFC 1191); 0 otherwise. */
      nextHopMtu: number;
      /** The offending datagram's IP header and at least its first 8 payload bytes. */
      quote: Buffer;
    }
  | {
      kind: 'time-exceeded';
      code: number;
      checksum?: number;
      /** 32 unused bits, kept as read. */
      unused: number;
      quote: Buffer;
    }
  | {
      /** Any other type (redirect, parameter problem, timestamp, ...), kept whole. */
      kind: 'other';
      type: number;
      code: number;
      checksum?: number;
      /** The 32 bits after the checksum. */
      rest: number;
      data: Buffer;
    };

export declare function decode(buf: Buffer, offset?: number, end?: number): Icmpv4Repr;
/** Computes the checksum over header and data when repr.checksum is undefined. */
export declare function encode(repr: Icmpv4Repr, buf?: Buffer, offset?: number): Buffer;
export declare function encodingLength(repr: Icmpv4Repr): number;
export declare function checksumValid(buf: Buffer, offset?: number, end?: number): boolean;
/** The ICMP type number of a repr. */
export declare function typeOf(repr: Icmpv4Repr): number;
/**
 * The quote an error message carries for the offending datagram `packet` (an IPv4 datagram
 * starting at `offset`): its header plus the first 8 bytes of its payload (RFC 792).
 */
export declare function quoteOf(packet: Buffer, offset?: number): Buffer;

export const codec = { name: 'icmp', decode, encode, encodingLength } satisfies Codec<Icmpv4Repr>;
