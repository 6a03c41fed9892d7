// SCTP Reprs as decode returns them, for property tests (RFC 9260 §3).
import fc from 'fast-check';
import type { SctpChunk, SctpRepr } from '../../sctp.js';
import { arbBytes, arbU8, arbU16, arbU32 } from './common.js';

/** Any chunk: known types (DATA, INIT, ..., COOKIE_ACK) as often as unknown ones; values of any length. */
export const arbSctpChunk = (): fc.Arbitrary<SctpChunk> =>
  fc.record({ type: fc.oneof(fc.integer({ min: 0, max: 14 }), arbU8()), flags: arbU8(), value: arbBytes(40) });

/** A packet as decode gives it back: the checksum field a number as read (big-endian). */
export const arbSctpRepr = (): fc.Arbitrary<SctpRepr> =>
  fc.record({
    srcPort: arbU16(),
    dstPort: arbU16(),
    verificationTag: arbU32(),
    checksum: arbU32(),
    chunks: fc.array(arbSctpChunk(), { maxLength: 4 }),
  });
