// Shared fast-check building blocks for the codec property tests.
import fc from 'fast-check';

export const arbU8 = () => fc.integer({ min: 0, max: 0xff });
export const arbU16 = () => fc.integer({ min: 0, max: 0xffff });
export const arbU32 = () => fc.integer({ min: 0, max: 0xffffffff });
export const arbIpv4Address = () => arbU32();
export const arbMacAddress = () => fc.integer({ min: 0, max: 2 ** 48 - 1 });
export const arbBytes = (maxLength: number, minLength = 0) => fc.uint8Array({ minLength, maxLength }).map((a) => Buffer.from(a));
