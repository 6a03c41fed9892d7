// ICMP for IPv4 (RFC 792), with the next-hop MTU of "fragmentation needed" (RFC 1191 §4).
//
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Type      |     Code      |          Checksum             |
//  |              rest of header (identifier/sequence, MTU, unused)|
//  |     data: echo payload, or the offending IP header + 64 bits  |
import { checkField, put16, put32, u16, u32 } from './bytes.js';
import { onesComplementSum } from './checksum.js';
import { type Codec, outputBuffer, writePayload } from './codec.js';
import { checkBounds, DecodeError, needBytes } from './errors.js';

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

export const TYPE_OFFSET = 0;
export const CODE_OFFSET = 1;
export const CHECKSUM_OFFSET = 2;
export const REST_OFFSET = 4;
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

export function decode(buf: Buffer, offset = 0, end?: number): Icmpv4Repr {
  const e = checkBounds('icmp', buf, offset, end);
  needBytes('icmp', offset, e, HEADER_LENGTH);
  const type = buf[offset + TYPE_OFFSET] as number;
  const code = buf[offset + CODE_OFFSET] as number;
  const checksum = u16(buf, offset + CHECKSUM_OFFSET);
  const body = buf.subarray(offset + HEADER_LENGTH, e);
  switch (type) {
    case IcmpType.EchoRequest:
    case IcmpType.EchoReply:
      return {
        kind: type === IcmpType.EchoRequest ? 'echo-request' : 'echo-reply',
        code,
        checksum,
        identifier: u16(buf, offset + REST_OFFSET),
        sequence: u16(buf, offset + REST_OFFSET + 2),
        data: body,
      };
    case IcmpType.DestinationUnreachable:
      return {
        kind: 'destination-unreachable',
        code,
        checksum,
        unused: u16(buf, offset + REST_OFFSET),
        // RFC 1191 §4: the low 16 bits carry the next-hop MTU for code 4.
        nextHopMtu: u16(buf, offset + REST_OFFSET + 2),
        quote: body,
      };
    case IcmpType.TimeExceeded:
      return { kind: 'time-exceeded', code, checksum, unused: u32(buf, offset + REST_OFFSET), quote: body };
    default:
      return { kind: 'other', type, code, checksum, rest: u32(buf, offset + REST_OFFSET), data: body };
  }
}

export function typeOf(repr: Icmpv4Repr): number {
  switch (repr.kind) {
    case 'echo-request':
      return IcmpType.EchoRequest;
    case 'echo-reply':
      return IcmpType.EchoReply;
    case 'destination-unreachable':
      return IcmpType.DestinationUnreachable;
    case 'time-exceeded':
      return IcmpType.TimeExceeded;
    default:
      return repr.type;
  }
}

function bodyOf(repr: Icmpv4Repr): Buffer {
  return repr.kind === 'destination-unreachable' || repr.kind === 'time-exceeded' ? repr.quote : repr.data;
}

export function encodingLength(repr: Icmpv4Repr): number {
  return HEADER_LENGTH + bodyOf(repr).length;
}

const check16 = (name: string, v: number, max = 0xffff): void => checkField('icmp', name, v, max);

export function encode(repr: Icmpv4Repr, buf?: Buffer, offset = 0): Buffer {
  const body = bodyOf(repr);
  const out = outputBuffer('icmp', HEADER_LENGTH + body.length, buf, offset);
  const type = typeOf(repr);
  check16('type', type, 255);
  check16('code', repr.code, 255);
  out[offset + TYPE_OFFSET] = type;
  out[offset + CODE_OFFSET] = repr.code;
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      check16('identifier', repr.identifier);
      check16('sequence', repr.sequence);
      put16(out, offset + REST_OFFSET, repr.identifier);
      put16(out, offset + REST_OFFSET + 2, repr.sequence);
      break;
    case 'destination-unreachable':
      check16('unused', repr.unused);
      check16('next-hop MTU', repr.nextHopMtu);
      put16(out, offset + REST_OFFSET, repr.unused);
      put16(out, offset + REST_OFFSET + 2, repr.nextHopMtu);
      break;
    case 'time-exceeded':
      check16('unused', repr.unused, 0xffffffff);
      put32(out, offset + REST_OFFSET, repr.unused);
      break;
    default:
      check16('rest of header', repr.rest, 0xffffffff);
      put32(out, offset + REST_OFFSET, repr.rest);
  }
  writePayload(body, out, offset + HEADER_LENGTH);
  let checksum = repr.checksum;
  if (checksum === undefined) {
    // RFC 792: the checksum covers the whole ICMP message, type onwards, with the field zero.
    put16(out, offset + CHECKSUM_OFFSET, 0);
    checksum = ~onesComplementSum(out, offset, offset + HEADER_LENGTH + body.length) & 0xffff;
  } else {
    check16('checksum', checksum);
  }
  put16(out, offset + CHECKSUM_OFFSET, checksum);
  return out;
}

export function checksumValid(buf: Buffer, offset = 0, end = buf.length): boolean {
  if (end - offset < HEADER_LENGTH) return false;
  return onesComplementSum(buf, offset, end) === 0xffff;
}

export function quoteOf(packet: Buffer, offset = 0): Buffer {
  if (packet.length - offset < 20) throw new DecodeError('icmp', offset, 'the offending datagram is shorter than an IPv4 header');
  const headerLen = ((packet[offset] as number) & 0x0f) * 4;
  const totalLength = u16(packet, offset + 2);
  const available = Math.min(packet.length - offset, Math.max(totalLength, headerLen));
  // RFC 792: "the internet header plus the first 64 bits of the original datagram's data".
  return Buffer.from(packet.subarray(offset, offset + Math.min(available, headerLen + 8)));
}

export const codec = { name: 'icmp', decode, encode, encodingLength } satisfies Codec<Icmpv4Repr>;
