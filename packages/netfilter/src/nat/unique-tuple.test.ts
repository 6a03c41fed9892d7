import { SeededRng } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import type { NatRange, Tuple } from '../conntrack/contract.ts';
import { jhash2, reciprocalScale, uniqueTuple } from './unique-tuple.ts';

const NODE = 0xac120002;
const udp = (srcPort: number): Tuple => ({ protocol: 17, src: 0x0af40102, dst: 0xc0000209, srcPort, dstPort: 53 });
const masq: NatRange = { minAddress: NODE, maxAddress: NODE };

describe('uniqueTuple (get_unique_tuple)', () => {
  it('keeps the source port when it is free', () => {
    const t = uniqueTuple({ current: udp(5000), range: masq, manip: 'SRC', used: () => false, rng: new SeededRng(1) });
    expect(t).toEqual({ ...udp(5000), src: NODE });
  });

  it('reallocates a clashing port within its class: 1-511, 600-1023, 1024-65535', () => {
    for (const [port, lo, hi] of [
      [80, 1, 511],
      [700, 600, 1023],
      [40000, 1024, 65535],
    ] as const) {
      const taken = { ...udp(port), src: NODE };
      const used = (t: Tuple) => t.srcPort === taken.srcPort && t.src === taken.src;
      for (let seed = 1; seed <= 20; seed++) {
        const t = uniqueTuple({ current: udp(port), range: masq, manip: 'SRC', used, rng: new SeededRng(seed) });
        expect(t.srcPort).not.toBe(port);
        expect(t.srcPort).toBeGreaterThanOrEqual(lo);
        expect(t.srcPort).toBeLessThanOrEqual(hi);
      }
    }
  });

  it('never changes the port of a DNAT without --to-destination ports, even on a clash', () => {
    const range: NatRange = { minAddress: 0x0af40203, maxAddress: 0x0af40203 };
    const t = uniqueTuple({ current: udp(5000), range, manip: 'DST', used: () => true, rng: new SeededRng(1) });
    expect(t).toEqual({ ...udp(5000), dst: 0x0af40203 });
  });

  it('gives up after the bounded number of attempts when every port is taken (NF_NAT_MAX_ATTEMPTS)', () => {
    let calls = 0;
    const used = () => {
      calls++;
      return true;
    };
    uniqueTuple({ current: udp(40000), range: masq, manip: 'SRC', used, rng: new SeededRng(1) });
    expect(calls).toBeLessThan(300);
  });

  it('--random-fully ignores a free original port; the same seed gives the same port', () => {
    const range = { ...masq, randomFully: true };
    const a = uniqueTuple({ current: udp(5000), range, manip: 'SRC', used: () => false, rng: new SeededRng(9) });
    const b = uniqueTuple({ current: udp(5000), range, manip: 'SRC', used: () => false, rng: new SeededRng(9) });
    expect(a.srcPort).toBe(b.srcPort);
    expect(a.srcPort).not.toBe(5000);
  });

  it('reuses an existing mapping of the same source (find_appropriate_src) unless it is taken', () => {
    const mapped = { ...udp(5000), src: NODE, srcPort: 31000, dst: 0xc000020a };
    const mappings = () => [mapped];
    const t = uniqueTuple({ current: udp(5000), range: masq, manip: 'SRC', used: () => false, rng: new SeededRng(1), mappings });
    expect(t).toEqual({ ...udp(5000), src: NODE, srcPort: 31000 });
    const taken = (x: Tuple) => x.srcPort === 31000;
    const other = uniqueTuple({ current: udp(5000), range: masq, manip: 'SRC', used: taken, rng: new SeededRng(1), mappings });
    expect(other.srcPort).toBe(5000);
  });
});

describe('jhash2 and reciprocal_scale', () => {
  it('hash the same words to the same value, and different seeds differently', () => {
    expect(jhash2([1, 0, 0, 0], 7)).toBe(jhash2([1, 0, 0, 0], 7));
    expect(jhash2([1, 0, 0, 0], 7)).not.toBe(jhash2([1, 0, 0, 0], 8));
    expect(jhash2([], 0)).toBe(0xdeadbeef); // no words: the initial value (JHASH_INITVAL)
  });
  it('scale into [0, range)', () => {
    expect(reciprocalScale(0, 5)).toBe(0);
    expect(reciprocalScale(0xffffffff, 5)).toBe(4);
    expect(reciprocalScale(0x80000000, 2)).toBe(1);
  });
});
