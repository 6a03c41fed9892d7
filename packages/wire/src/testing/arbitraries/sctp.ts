import fc from 'fast-check';
import type { SctpRepr } from '../../sctp.js';
import { arbBytes, arbU8, arbU16, arbU32 } from './common.js';

export const arbSctpRepr = (): fc.Arbitrary<SctpRepr> =>
  fc.record({
    srcPort: arbU16(),
    dstPort: arbU16(),
    verificationTag: arbU32(),
    checksum: arbU32(),
    chunks: fc.array(fc.record({ type: arbU8(), flags: arbU8(), value: arbBytes(40) }), { maxLength: 4 }),
  });
