import fc from 'fast-check';
import type { Icmpv4Repr } from '../../icmpv4.js';
import { arbBytes, arbU8, arbU16, arbU32 } from './common.js';

export const arbIcmpv4Repr = (): fc.Arbitrary<Icmpv4Repr> =>
  fc.oneof(
    fc.record({
      kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const),
      code: arbU8(),
      checksum: arbU16(),
      identifier: arbU16(),
      sequence: arbU16(),
      data: arbBytes(64),
    }),
    fc.record({
      kind: fc.constant('destination-unreachable' as const),
      code: arbU8(),
      checksum: arbU16(),
      unused: arbU16(),
      nextHopMtu: arbU16(),
      quote: arbBytes(64),
    }),
    fc.record({ kind: fc.constant('time-exceeded' as const), code: arbU8(), checksum: arbU16(), unused: arbU32(), quote: arbBytes(64) }),
    fc.record({
      kind: fc.constant('other' as const),
      type: arbU8().filter((t) => ![0, 3, 8, 11].includes(t)),
      code: arbU8(),
      checksum: arbU16(),
      rest: arbU32(),
      data: arbBytes(64),
    }),
  );
