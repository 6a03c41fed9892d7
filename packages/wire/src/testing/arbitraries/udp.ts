import fc from 'fast-check';
import type { UdpRepr } from '../../udp.js';
import { arbBytes, arbU16 } from './common.js';

export const arbUdpRepr = (): fc.Arbitrary<UdpRepr> =>
  fc.record({ srcPort: arbU16(), dstPort: arbU16(), checksum: arbU16(), payload: arbBytes(200) });
