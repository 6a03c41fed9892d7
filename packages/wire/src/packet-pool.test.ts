import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fold, internetChecksum, ipv4HeaderChecksum, ipv4HeaderSum, onesComplementSum } from './checksum.js';
import { FRAME_ADDRESS, MAX_LENGTH, type MaybePoolFrame, simdSum } from './checksum-simd.js';
import * as ipv4 from './ipv4.js';
import { JUMBO_BYTES, PacketPool, packetPool, SLOT_BYTES } from './packet-pool.js';
import * as tcp from './tcp.js';
import { fixtureFrame } from './testing/fixtures.js';

const reference = (b: Uint8Array, start: number, end: number) => {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += ((b[i] as number) << 8) | (i + 1 < end ? (b[i + 1] as number) : 0);
  return fold(sum);
};

describe('packet pool', () => {
  it("hands out zeroed frames inside the checksum kernel's memory, and takes them back", () => {
    expect(simdSum).toBeDefined();
    const before = packetPool.available;
    const a = packetPool.alloc(1514);
    const b = packetPool.alloc(60);
    expect(a.buffer).toBe(simdSum?.memory.buffer);
    expect(packetPool.owns(a)).toBe(true);
    expect(a.every((x) => x === 0)).toBe(true);
    expect(packetPool.available).toBe(before - 2);
    a.fill(0xee);
    packetPool.release(a);
    packetPool.release(b);
    expect(packetPool.available).toBe(before);
    expect(() => packetPool.release(a)).toThrow(/released twice/);
    const big = packetPool.alloc(SLOT_BYTES + 1);
    expect(packetPool.owns(big)).toBe(false);
    packetPool.release(big);
    expect(packetPool.available).toBe(before);
  });

  it('falls back to ordinary memory when exhausted', () => {
    const small = new PacketPool(Buffer.alloc(2 * SLOT_BYTES), 0, 2 * SLOT_BYTES);
    const frames = [small.alloc(100), small.alloc(100), small.alloc(100)];
    expect(frames.map((f) => small.owns(f))).toEqual([true, true, false]);
  });

  it('checksums frames in the pool in place, equal to the RFC 1071 definition at every offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: SLOT_BYTES }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const frame = packetPool.alloc(bytes.length);
        try {
          frame.set(bytes);
          const start = bytes.length === 0 ? 0 : a % bytes.length;
          const end = start + (b % (bytes.length - start + 1));
          expect(onesComplementSum(frame, start, end, 7)).toBe(fold(reference(frame, start, end) + 7));
        } finally {
          packetPool.release(frame);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('frames carry their kernel address; a subarray of one takes the general path and sums the same', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: SLOT_BYTES }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const frame: MaybePoolFrame & Buffer = packetPool.alloc(bytes.length);
        try {
          frame.set(bytes);
          expect(frame[FRAME_ADDRESS]).toBe(frame.byteOffset);
          const from = a % bytes.length;
          const part: MaybePoolFrame = frame.subarray(from);
          expect(part[FRAME_ADDRESS]).toBeUndefined();
          const end = b % (part.length + 1);
          expect(onesComplementSum(part, 0, end, 0x1234)).toBe(fold(reference(frame, from, from + end) + 0x1234));
        } finally {
          packetPool.release(frame);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('sums and checksums a 20-byte IPv4 header in a pool frame at even and odd addresses as in ordinary memory', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 120 }), fc.nat(), (bytes, a) => {
        const at = a % (bytes.length - 19);
        const frame = packetPool.alloc(bytes.length);
        try {
          frame.set(bytes);
          const ordinary = Buffer.from(bytes);
          expect(ipv4HeaderSum(frame, at)).toBe(reference(frame, at, at + 20));
          expect(ipv4HeaderSum(ordinary, at)).toBe(reference(ordinary, at, at + 20));
          // The checksum as computed with the field zero (RFC 791 §3.1), without zeroing it.
          const zeroed = Buffer.from(bytes.subarray(at, at + 20));
          zeroed.writeUInt16BE(0, 10);
          expect(ipv4HeaderChecksum(frame, at)).toBe(internetChecksum(zeroed));
          expect(ipv4HeaderChecksum(ordinary, at)).toBe(internetChecksum(zeroed));
        } finally {
          packetPool.release(frame);
        }
      }),
      { numRuns: 300 },
    );
    const ones = packetPool.alloc(20).fill(0xff);
    expect(ipv4HeaderSum(ones, 0)).toBe(0xffff);
    packetPool.release(ones);
  });

  it('the kernel cannot overflow at its maximum length (all ones, and random bytes at every tail length)', () => {
    // All 0xff: every lane and the final i32 add reach their largest values.
    const ones = Buffer.alloc(MAX_LENGTH, 0xff);
    expect(onesComplementSum(ones, 0, MAX_LENGTH)).toBe(0xffff);
    const random = Buffer.alloc(MAX_LENGTH);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    for (const cut of [0, 1, 2, 15, 16, 17, 31, 32, 33, 63]) {
      expect(onesComplementSum(random, cut, MAX_LENGTH)).toBe(reference(random, cut, MAX_LENGTH));
      expect(onesComplementSum(ones, 0, MAX_LENGTH - cut)).toBe(reference(ones, 0, MAX_LENGTH - cut));
    }
  });

  it('a real TCP segment copied into the pool verifies and re-encodes the same', () => {
    const captured = fixtureFrame('l2l3', 23);
    const frame = packetPool.alloc(captured.length);
    try {
      captured.copy(frame);
      const ip = ipv4.Ipv4View.at(frame, 14);
      const seg = tcp.TcpView.at(frame, ip.payloadOffset, ip.payloadEnd);
      expect(seg.checksumValid(ip)).toBe(true);
      seg.updateChecksum(ip);
      expect(frame.equals(captured)).toBe(true);
    } finally {
      packetPool.release(frame);
    }
  });
});

describe('unfilled frames', () => {
  it('alloc(length, false) skips the zero-fill (for a writer of every byte); alloc(length) always zero-fills', () => {
    const pool = new PacketPool(Buffer.alloc(4 * SLOT_BYTES), 0, 4 * SLOT_BYTES);
    const a = pool.alloc(100).fill(7);
    pool.release(a);
    // The free list is last-in first-out: the same slot comes back.
    const b = pool.alloc(100, false);
    expect(b.byteOffset).toBe(a.byteOffset);
    expect(b.every((x) => x === 7)).toBe(true);
    pool.release(b);
    expect(pool.alloc(100).every((x) => x === 0)).toBe(true);
  });
});

describe('jumbo buffers (TCP super-frames)', () => {
  it('are reused after release, zero-filled each time, and a second release throws', () => {
    const pool = new PacketPool(Buffer.alloc(4 * SLOT_BYTES), 0, 4 * SLOT_BYTES);
    const a = pool.alloc(40_000);
    expect(a.length).toBe(40_000);
    a.fill(7);
    const buffer = a.buffer;
    pool.release(a);
    expect(() => pool.release(a)).toThrow(/released twice/);
    const b = pool.alloc(JUMBO_BYTES);
    expect(b.buffer).toBe(buffer);
    expect(b.every((x) => x === 0)).toBe(true);
    // A second one while the first is held is a different buffer; a view of it is released by its buffer.
    const c = pool.allocJumbo(1000, 64);
    expect(c.buffer).not.toBe(buffer);
    expect(c.byteOffset).toBe(64);
    pool.release(b.subarray(0, 30_000));
    expect(pool.alloc(SLOT_BYTES + 1).buffer).toBe(buffer);
  });

  it('beyond JUMBO_BYTES a frame is ordinary memory, left to the garbage collector', () => {
    const pool = new PacketPool(Buffer.alloc(SLOT_BYTES), 0, SLOT_BYTES);
    const big = pool.alloc(JUMBO_BYTES + 1);
    expect(big.length).toBe(JUMBO_BYTES + 1);
    expect(() => pool.release(big)).not.toThrow();
    expect(pool.alloc(JUMBO_BYTES + 1).buffer).not.toBe(big.buffer);
  });
});
