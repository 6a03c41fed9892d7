import { describe, expect, it } from 'vitest';
import { RECEIVE_SLAB_BYTES, ReceiveSlab } from './receive-slab.js';

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('ReceiveSlab', () => {
  it('returns copies equal to the source range that later writes to the source do not change', () => {
    const slab = new ReceiveSlab();
    const source = bytes(3000, 7);
    const a = slab.copy(source, 100, 1510);
    const b = slab.copy(source, 0, 1);
    expect(a.equals(source.subarray(100, 1510))).toBe(true);
    expect(b.equals(source.subarray(0, 1))).toBe(true);
    source.fill(0);
    expect(a.equals(bytes(3000, 7).subarray(100, 1510))).toBe(true);
    expect(b[0]).toBe(7);
  });

  it('never lets two copies overlap, across slab boundaries', () => {
    const slab = new ReceiveSlab();
    const copies: { copy: Buffer; expected: Buffer }[] = [];
    // 200 segments of 1410 bytes: more than four slabs' worth.
    for (let i = 0; i < 200; i++) {
      const source = bytes(1460, i);
      copies.push({ copy: slab.copy(source, 50, 1460), expected: Buffer.from(source.subarray(50, 1460)) });
    }
    expect(copies.every(({ copy, expected }) => copy.equals(expected))).toBe(true);
    expect(copies.reduce((n, c) => n + c.copy.length, 0)).toBe(200 * 1410);
  });

  it('gives a piece larger than a quarter slab its own buffer, and an empty range an empty buffer', () => {
    const slab = new ReceiveSlab();
    const big = bytes(RECEIVE_SLAB_BYTES, 3);
    const copy = slab.copy(big, 0, big.length);
    expect(copy.equals(big)).toBe(true);
    expect(copy.buffer.byteLength).toBe(big.length);
    expect(slab.copy(big, 5, 5).length).toBe(0);
  });
});
