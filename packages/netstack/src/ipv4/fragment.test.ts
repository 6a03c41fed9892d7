// Fragmentation (RFC 791 §3.2) and reassembly (RFC 815) with Linux's limits and timeout.
import { ipv4, packetPool, parseIpv4 } from '@podnet/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../wire/src/testing/fake-clock.js';
import { fragmentDatagram } from './fragment.js';
import { writeHeader } from './header.js';
import { REASSEMBLY_TIMEOUT_MS, Reassembler, type ReassemblyDrop } from './reassembly.js';

function datagram(dataLength: number, id = 0x1234): Buffer {
  const f = Buffer.alloc(14 + 20 + dataLength);
  writeHeader(f, 14, {
    src: parseIpv4('10.244.1.2'),
    dst: parseIpv4('10.244.2.2'),
    protocol: 17,
    totalLength: 20 + dataLength,
    identification: id,
    ttl: 64,
    tos: 0,
    dontFragment: false,
  });
  for (let i = 0; i < dataLength; i++) f[34 + i] = (i * 13) & 0xff;
  return f;
}

function reassembler() {
  const clock = new FakeClock();
  const drops: ReassemblyDrop[] = [];
  const timeouts: Array<Buffer | undefined> = [];
  const r = new Reassembler(clock, { drop: (d) => drops.push(d), timeout: (f) => timeouts.push(f) });
  return { clock, drops, timeouts, r };
}

describe('fragmentation', () => {
  it('cuts a 3000-byte datagram for MTU 1500 as Linux does (1480 + 1480 + 40)', () => {
    const frags = fragmentDatagram(datagram(2980), 14, 1500) ?? [];
    const reprs = frags.map((f) => ipv4.decode(f, 14));
    expect(reprs.map((r) => [r.payload.length, r.fragmentOffset, r.moreFragments])).toEqual([
      [1480, 0, true],
      [1480, 1480, true],
      [20, 2960, false],
    ]);
    for (const f of frags) expect(ipv4.checksumValid(f, 14)).toBe(true);
    expect(reprs.every((r) => r.identification === 0x1234)).toBe(true);
  });

  it('refuses an MTU that leaves no room for 8 data bytes', () => {
    expect(fragmentDatagram(datagram(100), 14, 27)).toBeUndefined();
  });

  it('reassembles in any order, fragments of fragments included (property; within the 64-fragment limit)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9000 }),
        fc.integer({ min: 576, max: 1500 }),
        fc.integer({ min: 0, max: 1000 }),
        (len, mtu, seed) => {
          const original = datagram(len);
          const first = fragmentDatagram(original, 14, mtu) ?? [];
          // Fragment some fragments again, as a router with a smaller MTU would.
          const all = first.flatMap((f, i) => (i % 2 === 0 ? (fragmentDatagram(f, 14, Math.max(68, mtu - 100)) ?? [f]) : [f]));
          let s = seed;
          for (let i = all.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) >>> 0;
            const j = s % (i + 1);
            [all[i], all[j]] = [all[j] as Buffer, all[i] as Buffer];
          }
          const { r } = reassembler();
          let whole: Buffer | undefined;
          for (const f of all) whole = r.add(f, 14) ?? whole;
          expect(whole).toBeDefined();
          expect((whole as Buffer).subarray(14).equals(original.subarray(14))).toBe(true);
          expect(r.heldBytes).toBe(0);
          packetPool.release(whole as Buffer);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('ignores exact duplicates, drops the datagram on an overlap', () => {
    const frags = fragmentDatagram(datagram(2000), 14, 1000) ?? [];
    const { r, drops } = reassembler();
    expect(r.add(frags[0] as Buffer, 14)).toBeUndefined();
    expect(r.add(frags[0] as Buffer, 14)).toBeUndefined();
    expect(drops).toEqual([]);
    // A fragment overlapping the first one's data, at offset 8.
    const overlap = Buffer.from(frags[1] as Buffer);
    overlap.writeUInt16BE(0x2000 | 1, 14 + 6);
    expect(r.add(overlap, 14)).toBeUndefined();
    expect(drops).toEqual(['frag-overlap']);
    expect(r.pendingDatagrams).toBe(0);
  });

  it('times out after 30 s, reporting the first fragment when it came (ICMP time exceeded code 1)', () => {
    const frags = fragmentDatagram(datagram(2000), 14, 1000) ?? [];
    const { r, clock, drops, timeouts } = reassembler();
    r.add(frags[0] as Buffer, 14);
    clock.advance(REASSEMBLY_TIMEOUT_MS - 1);
    expect(timeouts).toEqual([]);
    clock.advance(1);
    expect(drops).toEqual(['frag-timeout']);
    expect(timeouts[0]?.subarray(0, 20).equals((frags[0] as Buffer).subarray(14, 34))).toBe(true);
    // Without the first fragment there is nothing to quote.
    r.add(frags[1] as Buffer, 14);
    clock.advance(REASSEMBLY_TIMEOUT_MS);
    expect(timeouts[1]).toBeUndefined();
  });

  it('refuses a datagram beyond 65535 bytes (ping of death) and more than 64 fragments', () => {
    const { r, drops } = reassembler();
    const f = datagram(16);
    f.writeUInt16BE(0x2000 | (65528 / 8), 14 + 6); // offset 65528 + 16 bytes > 65535
    f.writeUInt16BE(0, 24);
    expect(r.add(f, 14)).toBeUndefined();
    expect(drops).toEqual(['frag-too-big']);
    const many = fragmentDatagram(datagram(8 * 70), 14, 28) ?? [];
    expect(many.length).toBe(70);
    for (const m of many) r.add(m, 14);
    expect(drops).toContain('frag-too-many');
  });
});

describe('reassembly: fragments that do not fit the datagram', () => {
  it('drops data beyond the end the last fragment fixed', () => {
    const frags = fragmentDatagram(datagram(2000), 14, 1000) ?? [];
    const { r, drops } = reassembler();
    r.add(frags[2] as Buffer, 14); // the last one: the length is known now
    const beyond = Buffer.from(frags[1] as Buffer);
    beyond.writeUInt16BE(0x2000 | (2400 / 8), 14 + 6);
    expect(r.add(beyond, 14)).toBeUndefined();
    expect(drops).toEqual(['frag-overlap']);
  });
});
