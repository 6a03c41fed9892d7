import fc from 'fast-check';
import type { VxlanRepr } from '../../vxlan.js';
import { arbBytes, arbU8 } from './common.js';

export const arbVxlanRepr = (): fc.Arbitrary<VxlanRepr> =>
  fc.record({
    flags: fc.oneof(fc.constant(0x08), arbU8()),
    reserved1: fc.integer({ min: 0, max: 0xffffff }),
    vni: fc.integer({ min: 0, max: 0xffffff }),
    reserved2: arbU8(),
    payload: arbBytes(120),
  });
