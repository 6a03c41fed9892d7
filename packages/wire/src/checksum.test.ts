import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fold, internetChecksum, onesComplementSum, pseudoHeaderSum, updateChecksum16, updateChecksum32 } from './checksum.js';
import { simdSum } from './checksum-simd.js';

describe('Internet checksum (RFC 1071)', () => {
  it('matches the RFC 1071 §3 numerical example', () => {
    // Bytes 00 01 f2 03 f4 f5 f6 f7: the one's-complement sum is 0xddf2, the checksum ~0xddf2.
    const bytes = Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(onesComplementSum(bytes, 0, bytes.length)).toBe(0xddf2);
    expect(internetChecksum(bytes)).toBe(0x220d);
  });

  it('pads an odd byte with zero and chains partial sums', () => {
    expect(onesComplementSum(Buffer.from([0x12]), 0, 1)).toBe(0x1200);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (bytes, cut) => {
        const b = Buffer.from(bytes);
        const even = Math.min(b.length, (cut % (b.length + 1)) & ~1);
        expect(onesComplementSum(b, even, b.length, onesComplementSum(b, 0, even))).toBe(onesComplementSum(b, 0, b.length));
      }),
    );
  });

  it('gives the RFC 1071 sum on every path: byte loop, 32-bit words and the WebAssembly SIMD kernel', () => {
    // The reference: the plain definition, big-endian 16-bit words from `start`, odd byte padded.
    const reference = (b: Uint8Array, start: number, end: number) => {
      let sum = 0;
      for (let i = start; i < end; i += 2) sum += ((b[i] as number) << 8) | (i + 1 < end ? (b[i + 1] as number) : 0);
      return fold(sum);
    };
    expect(simdSum, 'WebAssembly SIMD is available on Node 20+').toBeDefined();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 4000 }), fc.nat(), fc.nat(), fc.nat(), (bytes, slack, a, b) => {
        // Place the bytes at an arbitrary byte offset of a larger ArrayBuffer, so every alignment is exercised.
        const pad = slack % 8;
        const backing = Buffer.alloc(bytes.length + pad + 8);
        const buf = backing.subarray(pad, pad + bytes.length);
        buf.set(bytes);
        const start = bytes.length === 0 ? 0 : a % bytes.length;
        const end = start + (b % (bytes.length - start + 1));
        expect(onesComplementSum(buf, start, end)).toBe(reference(buf, start, end));
        expect(onesComplementSum(buf, start, end, 0x1234)).toBe(fold(reference(buf, start, end) + 0x1234));
      }),
      { numRuns: 300 },
    );
  });

  it('sums (nearly) whole ordinary Buffers, copied whole into the kernel, the same as any range', () => {
    const reference = (b: Uint8Array, start: number, end: number) => {
      let sum = 0;
      for (let i = start; i < end; i += 2) sum += ((b[i] as number) << 8) | (i + 1 < end ? (b[i + 1] as number) : 0);
      return fold(sum);
    };
    const backing = Buffer.alloc(1600);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 97 + 13) & 0xff;
    const datagram = backing.subarray(50, 1550);
    for (const [start, end] of [
      [0, 1500],
      [84, 1500],
      [3, 1499],
      [127, 1500],
      [0, 1372],
      [129, 1500],
      [300, 700],
    ] as const) {
      expect(onesComplementSum(datagram, start, end, 0x0102)).toBe(fold(reference(datagram, start, end) + 0x0102));
    }
  });

  it('verifies to 0xffff once the checksum is in place', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 100 }), (bytes) => {
        const b = Buffer.from(bytes.length % 2 ? [...bytes, 0] : bytes);
        b.writeUInt16BE(0, 0);
        b.writeUInt16BE(internetChecksum(b), 0);
        expect(onesComplementSum(b, 0, b.length)).toBe(0xffff);
      }),
    );
  });

  it('sums the TCP/UDP pseudo-header', () => {
    // 10.0.0.1 > 10.0.1.1, UDP, length 20: 0x0a00+0x0001+0x0a00+0x0101+0x0011+0x0014
    expect(pseudoHeaderSum(0x0a000001, 0x0a000101, 17, 20)).toBe(fold(0x0a00 + 0x0001 + 0x0a00 + 0x0101 + 0x0011 + 0x0014));
  });
});

describe('incremental update (RFC 1624)', () => {
  const arbHeader = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((a) => Buffer.from(a));

  it('equals a full recompute when a 16-bit word changes', () => {
    fc.assert(
      fc.property(arbHeader, fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 0xffff }), (header, word, value) => {
        header.writeUInt16BE(0, 10);
        const before = internetChecksum(header);
        const at = word * 2 === 10 ? 0 : word * 2;
        const old = header.readUInt16BE(at);
        header.writeUInt16BE(value, at);
        const full = internetChecksum(header);
        // One's-complement arithmetic has two zeros; the RFC 1624 form never yields 0x0000 for a non-zero sum.
        expect(onesEqual(updateChecksum16(before, old, value), full)).toBe(true);
      }),
    );
  });

  it('equals a full recompute when an address (32 bits) changes, as NAT does', () => {
    fc.assert(
      fc.property(arbHeader, fc.integer({ min: 0, max: 0xffffffff }), (header, addr) => {
        header.writeUInt16BE(0, 10);
        const before = internetChecksum(header);
        const old = header.readUInt32BE(12);
        header.writeUInt32BE(addr, 12);
        expect(onesEqual(updateChecksum32(before, old, addr), internetChecksum(header))).toBe(true);
      }),
    );
  });
});

/** +0 and -0 (0x0000 and 0xffff) are the same number in one's complement. */
function onesEqual(a: number, b: number): boolean {
  return a === b || (a === 0 && b === 0xffff) || (a === 0xffff && b === 0);
}
