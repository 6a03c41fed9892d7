import fc from 'fast-check';
import type { Ipv4Repr } from '../../ipv4.js';
import { arbBytes, arbIpv4Address, arbU8, arbU16 } from './common.js';

export const arbIpv4Repr = (): fc.Arbitrary<Ipv4Repr> =>
  fc.record({
    dscp: fc.integer({ min: 0, max: 63 }),
    ecn: fc.integer({ min: 0, max: 3 }),
    identification: arbU16(),
    reservedFlag: fc.boolean(),
    dontFragment: fc.boolean(),
    moreFragments: fc.boolean(),
    fragmentOffset: fc.integer({ min: 0, max: 8191 }).map((n) => n * 8),
    ttl: arbU8(),
    protocol: arbU8(),
    checksum: arbU16(),
    src: arbIpv4Address(),
    dst: arbIpv4Address(),
    options: fc.integer({ min: 0, max: 10 }).chain((words) => arbBytes(words * 4, words * 4)),
    payload: arbBytes(200),
  });
