import fc from 'fast-check';
import type { ArpRepr } from '../../arp.js';
import { arbIpv4Address, arbMacAddress, arbU16 } from './common.js';

export const arbArpRepr = (): fc.Arbitrary<ArpRepr> =>
  fc.record({
    htype: fc.oneof(fc.constant(1), arbU16()),
    ptype: fc.oneof(fc.constant(0x0800), arbU16()),
    operation: fc.oneof(fc.constantFrom(1, 2), arbU16()),
    senderMac: arbMacAddress(),
    senderIp: arbIpv4Address(),
    targetMac: arbMacAddress(),
    targetIp: arbIpv4Address(),
  });
