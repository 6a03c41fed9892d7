// UDP Reprs as decode returns them, for property tests (RFC 768).
import fc from 'fast-check';
import type { UdpRepr } from '../../udp.js';
import { arbBytes, arbU16 } from './common.js';

/** A datagram as decode gives it back: the checksum a number as read (0 meaning none). */
export const arbUdpRepr = (): fc.Arbitrary<UdpRepr> =>
  fc.record({ srcPort: arbU16(), dstPort: arbU16(), checksum: fc.oneof(fc.constant(0), arbU16()), payload: arbBytes(200) });
