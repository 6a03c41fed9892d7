import fc from 'fast-check';
import type { EthernetRepr, VlanTag } from '../../ethernet.js';
import { arbBytes, arbMacAddress, arbU16 } from './common.js';

export const arbVlanTag = (): fc.Arbitrary<VlanTag> =>
  fc.record({
    tpid: fc.constantFrom(0x8100, 0x88a8),
    pcp: fc.integer({ min: 0, max: 7 }),
    dei: fc.boolean(),
    vid: fc.integer({ min: 0, max: 0xfff }),
  });

export const arbEthernetRepr = (): fc.Arbitrary<EthernetRepr> =>
  fc.record({
    dst: arbMacAddress(),
    src: arbMacAddress(),
    vlans: fc.array(arbVlanTag(), { maxLength: 2 }),
    // A tag's TPID as the final EtherType would decode as one more tag.
    etherType: arbU16().filter((t) => t !== 0x8100 && t !== 0x88a8),
    payload: arbBytes(100),
  });
