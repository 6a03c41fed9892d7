// VXLAN Reprs as decode returns them, for property tests (RFC 7348 §5).
import fc from 'fast-check';
import type { VxlanRepr } from '../../vxlan.js';
import { arbBytes, arbU8 } from './common.js';

/** A header with the I flag set most of the time, and any reserved bits (decode keeps them). */
export const arbVxlanRepr = (): fc.Arbitrary<VxlanRepr> =>
  fc.record({
    flags: fc.oneof(fc.constant(0x08), arbU8()),
    reserved1: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffff })),
    vni: fc.integer({ min: 0, max: 0xffffff }),
    reserved2: fc.oneof(fc.constant(0), arbU8()),
    payload: arbBytes(120),
  });
