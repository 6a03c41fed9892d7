import { ipv4, packetPool, tcp } from '@podnet/wire';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TcpGro } from './gro.js';
import { GSO_MAX_IP_BYTES, gsoSizeOf, segmentTcp, setGsoSize } from './gso.js';
import { type TcpFrameSpec, tcpFrame } from './test-frames.js';

const F = tcp.TcpFlags;
type SegSpec = Omit<TcpFrameSpec, 'pool'>;

/** A frame as a link hands it over: in a packetPool slot when it fits. */
function frameOf(s: SegSpec): Buffer {
  return tcpFrame({ ...s, pool: true });
}

function bytes(n: number, salt: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + salt * 31) & 0xff;
  return b;
}

/** A valid-checksum view of what a delivered frame carries. */
function inspect(frame: Buffer): { seq: number; flags: number; payload: Buffer; ack: number; ipTotal: number } {
  expect(ipv4.checksumValid(frame, 14)).toBe(true);
  const ip = ipv4.decode(frame, 14);
  expect(tcp.checksumValid(ip.payload, 0, ip.payload.length, ip)).toBe(true);
  const t = tcp.decode(ip.payload);
  return { seq: t.seq, flags: t.flags, payload: Buffer.from(t.payload), ack: t.ack, ipTotal: 20 + ip.payload.length };
}

let delivered: Buffer[];
let gro: TcpGro;
let poolBefore: number;

beforeEach(() => {
  delivered = [];
  gro = new TcpGro((f) => delivered.push(f));
  poolBefore = packetPool.available;
});

afterEach(() => {
  // Every delivered frame now belongs to the test: give pool frames back, then nothing may be missing.
  for (const f of delivered) packetPool.release(f);
  expect(packetPool.available).toBe(poolBefore);
});

/** Four in-order 100-byte segments of flow 40000 starting at `seq`. */
function run(seq: number, count: number, size = 100, extra: Partial<SegSpec> = {}): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) out.push(frameOf({ payload: bytes(size, seq + i), seq: seq + i * size, ...extra }));
  return out;
}

describe('TcpGro', () => {
  it('merges in-order segments into one valid frame whose payload is their concatenation', () => {
    const segs = run(0xffffff00, 4, 101); // odd sizes; the sequence space wraps inside the run
    const expected = Buffer.concat(segs.map((s) => Buffer.from(s.subarray(54))));
    const headers = Buffer.from(segs[0]?.subarray(0, 54) as Buffer);
    for (const s of segs) gro.receive(s);
    expect(delivered).toHaveLength(0);
    expect(gro.held).toBe(1);
    gro.flush();
    expect(gro.held).toBe(0);
    expect(delivered).toHaveLength(1);
    const m = delivered[0] as Buffer;
    expect(packetPool.owns(m)).toBe(false);
    const r = inspect(m);
    expect(r.payload.equals(expected)).toBe(true);
    expect(r.seq).toBe(0xffffff00);
    expect(r.ipTotal).toBe(20 + 20 + 404);
    expect(gsoSizeOf(m)).toBe(101);
    // Ethernet, IP (but length and checksum) and TCP (but checksum) headers are the first segment's.
    expect(m.subarray(0, 16).equals(headers.subarray(0, 16))).toBe(true);
    expect(m.subarray(18, 24).equals(headers.subarray(18, 24))).toBe(true);
    expect(m.subarray(26, 50).equals(headers.subarray(26, 50))).toBe(true);
  });

  it('delivers a held packet that merged nothing as the original frame, without a gso mark', () => {
    const [s] = run(1, 1);
    gro.receive(s as Buffer);
    gro.flush();
    expect(delivered[0]).toBe(s);
    expect(gsoSizeOf(s as Buffer)).toBe(0);
  });

  it('does not merge out-of-order segments', () => {
    const [s0, s1, s2] = run(1000, 3);
    gro.receive(s0 as Buffer);
    gro.receive(s2 as Buffer); // a gap: s0 goes up, s2 is held
    expect(delivered).toEqual([s0]);
    gro.receive(s1 as Buffer); // before s2: s2 goes up, s1 is held
    expect(delivered).toEqual([s0, s2]);
    gro.flush();
    expect(delivered).toEqual([s0, s2, s1]);
  });

  const mismatches: [string, Partial<SegSpec>][] = [
    ['ACK number', { ack: 778 }],
    ['window', { window: 999 }],
    ['TCP options', { tcpOptions: Buffer.from('0101080a0000000900000002', 'hex') }],
    ['TTL', { ttl: 63 }],
    ['TOS', { tos: 0x10 }],
    ['DF', { df: false }],
    ['ECE', { flags: F.ACK | F.ECE }],
    ['CWR on the new segment', { flags: F.ACK | F.CWR }],
  ];
  for (const [what, change] of mismatches) {
    it(`does not merge a segment with a different ${what}`, () => {
      const opts = change.tcpOptions ? { tcpOptions: Buffer.from('0101080a0000000100000002', 'hex') } : {};
      const first = frameOf({ payload: bytes(100, 1), seq: 0, ...opts });
      const second = frameOf({ payload: bytes(100, 2), seq: 100, ...change });
      gro.receive(first);
      gro.receive(second);
      expect(delivered).toEqual([first]);
      gro.flush();
      expect(delivered).toEqual([first, second]);
      expect(inspect(second).payload.equals(bytes(100, 2))).toBe(true);
    });
  }

  it('merges segments with identical options and a CWR that only leads', () => {
    const tcpOptions = Buffer.from('0101080a0000000100000002', 'hex');
    gro.receive(frameOf({ payload: bytes(100, 1), seq: 0, tcpOptions, flags: F.ACK | F.CWR }));
    gro.receive(frameOf({ payload: bytes(100, 2), seq: 100, tcpOptions }));
    gro.flush();
    expect(delivered).toHaveLength(1);
    const r = inspect(delivered[0] as Buffer);
    expect(r.flags).toBe(F.ACK | F.CWR);
    expect(r.payload.equals(Buffer.concat([bytes(100, 1), bytes(100, 2)]))).toBe(true);
    expect((delivered[0] as Buffer).subarray(54, 66).equals(tcpOptions)).toBe(true);
  });

  it('delivers SYN, RST and URG segments at once, after their flow', () => {
    const [held] = run(0, 1);
    gro.receive(held as Buffer);
    const rst = frameOf({ payload: bytes(100, 9), seq: 100, flags: F.ACK | F.RST });
    gro.receive(rst);
    expect(delivered).toEqual([held, rst]);
    expect(gro.held).toBe(0);
    const syn = frameOf({ payload: bytes(10, 1), seq: 5, flags: F.SYN });
    const urg = frameOf({ payload: bytes(10, 1), seq: 5, flags: F.ACK | F.URG, srcPort: 1 });
    gro.receive(syn);
    gro.receive(urg);
    expect(delivered).toEqual([held, rst, syn, urg]);
    expect(gro.held).toBe(0);
  });

  it('merges a FIN segment, keeps FIN and PSH in the merged header, and flushes the flow', () => {
    const [s0, s1] = run(0, 2);
    gro.receive(s0 as Buffer);
    gro.receive(s1 as Buffer);
    gro.receive(frameOf({ payload: bytes(100, 3), seq: 200, flags: F.ACK | F.FIN | F.PSH }));
    expect(gro.held).toBe(0);
    expect(delivered).toHaveLength(1);
    const r = inspect(delivered[0] as Buffer);
    expect(r.flags).toBe(F.ACK | F.FIN | F.PSH);
    expect(r.payload.length).toBe(300);
  });

  it('flushes the flow after a PSH segment and after a short segment', () => {
    for (const s of run(0, 2)) gro.receive(s);
    gro.receive(frameOf({ payload: bytes(100, 5), seq: 200, flags: F.ACK | F.PSH }));
    expect(delivered).toHaveLength(1);
    expect(inspect(delivered[0] as Buffer).flags).toBe(F.ACK | F.PSH);
    for (const s of run(300, 2)) gro.receive(s);
    gro.receive(frameOf({ payload: bytes(40, 5), seq: 500 }));
    expect(delivered).toHaveLength(2);
    const r = inspect(delivered[1] as Buffer);
    expect(r.payload.length).toBe(240);
    expect(gsoSizeOf(delivered[1] as Buffer)).toBe(100);
    expect(gro.held).toBe(0);
  });

  it('does not merge a segment larger than the first one (gso_size)', () => {
    const first = frameOf({ payload: bytes(50, 1), seq: 0 });
    const big = frameOf({ payload: bytes(100, 2), seq: 50 });
    gro.receive(first);
    gro.receive(big);
    expect(delivered).toEqual([first]);
    expect(gro.held).toBe(1);
    gro.flush();
  });

  it('delivers a segment with a bad checksum unchanged at once, after flushing its flow', () => {
    const [s0, s1] = run(0, 2);
    (s1 as Buffer)[60] = ((s1 as Buffer)[60] as number) ^ 0xff;
    gro.receive(s0 as Buffer);
    gro.receive(s1 as Buffer);
    expect(delivered).toEqual([s0, s1]);
    expect(gro.held).toBe(0);
  });

  it('delivers a segment with a bad IPv4 header checksum unchanged at once, after flushing its flow', () => {
    const [s0, s1] = run(0, 2);
    (s1 as Buffer)[24] = ((s1 as Buffer)[24] as number) ^ 0x01;
    gro.receive(s0 as Buffer);
    gro.receive(s1 as Buffer);
    expect(delivered).toEqual([s0, s1]);
    expect(ipv4.checksumValid(s1 as Buffer, 14)).toBe(false);
    expect(gro.held).toBe(0);
  });

  it('passes non-IPv4, non-TCP, IP-options and pure-ACK frames at once, after their flow', () => {
    const arp = packetPool.alloc(60);
    arp.writeUInt16BE(0x0806, 12);
    gro.receive(arp);
    expect(delivered).toEqual([arp]);
    const [held] = run(0, 1);
    gro.receive(held as Buffer);
    const withOptions = frameOf({ payload: bytes(100, 1), seq: 100, ipOptions: Buffer.from('94040000', 'hex') });
    gro.receive(withOptions);
    expect(delivered).toEqual([arp, held, withOptions]);
    const [again] = run(200, 1);
    gro.receive(again as Buffer);
    const pureAck = frameOf({ payload: Buffer.alloc(0), seq: 300 });
    gro.receive(pureAck);
    expect(delivered).toEqual([arp, held, withOptions, again, pureAck]);
    expect(gro.held).toBe(0);
  });

  it('passes a frame that is already a super-frame (gso mark) at once, after its flow', () => {
    const [held] = run(0, 1);
    gro.receive(held as Buffer);
    const superFrame = frameOf({ payload: bytes(4000, 1), seq: 100 });
    setGsoSize(superFrame, 1000);
    gro.receive(superFrame);
    expect(delivered).toEqual([held, superFrame]);
    expect(gsoSizeOf(superFrame)).toBe(1000);
    expect(gro.held).toBe(0);
  });

  it('holds two interleaved flows at once and merges each', () => {
    const a = run(0, 3, 100, { srcPort: 1111 });
    const b = run(5000, 3, 100, { srcPort: 2222 });
    for (let i = 0; i < 3; i++) {
      gro.receive(a[i] as Buffer);
      gro.receive(b[i] as Buffer);
    }
    expect(gro.held).toBe(2);
    expect(delivered).toHaveLength(0);
    gro.flush();
    expect(delivered).toHaveLength(2);
    const [ra, rb] = delivered.map((f) => inspect(f));
    expect(ra?.seq).toBe(0); // oldest first
    expect(ra?.payload.length).toBe(300);
    expect(rb?.seq).toBe(5000);
    expect(rb?.payload.length).toBe(300);
  });

  it('delivers the oldest held packet when maxFlows flows are held', () => {
    gro = new TcpGro((f) => delivered.push(f), { maxFlows: 2 });
    const f1 = frameOf({ payload: bytes(100, 1), seq: 0, srcPort: 1 });
    const f2 = frameOf({ payload: bytes(100, 2), seq: 0, srcPort: 2 });
    const f3 = frameOf({ payload: bytes(100, 3), seq: 0, srcPort: 3 });
    gro.receive(f1);
    gro.receive(f2);
    expect(gro.held).toBe(2);
    gro.receive(f3);
    expect(delivered).toEqual([f1]);
    expect(gro.held).toBe(2);
    gro.flush();
    expect(delivered).toEqual([f1, f2, f3]);
    expect(() => new TcpGro(() => {}, { maxFlows: 0 })).toThrow(/maxFlows 0/);
  });

  it(`stops a merged packet at GSO_MAX_IP_BYTES (${GSO_MAX_IP_BYTES}) of IPv4 total length`, () => {
    const size = 1448;
    const perPacket = Math.floor((GSO_MAX_IP_BYTES - 40) / size); // 45
    const segs = run(0, perPacket + 2, size);
    for (const s of segs) gro.receive(s);
    expect(delivered).toHaveLength(1);
    const first = inspect(delivered[0] as Buffer);
    expect(first.ipTotal).toBe(40 + perPacket * size);
    expect(first.ipTotal).toBeLessThanOrEqual(GSO_MAX_IP_BYTES);
    expect(first.ipTotal + size).toBeGreaterThan(GSO_MAX_IP_BYTES);
    gro.flush();
    expect(delivered).toHaveLength(2);
    const second = inspect(delivered[1] as Buffer);
    expect(second.seq).toBe(perPacket * size);
    expect(second.payload.length).toBe(2 * size);
  });
});

describe('segmentTcp then TcpGro', () => {
  it('re-creates the super-frame byte for byte (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1460 }),
        fc.integer({ min: 0, max: 20000 }),
        fc.constantFrom(F.ACK, F.ACK | F.PSH, F.ACK | F.CWR | F.PSH, F.ACK | F.FIN | F.PSH, F.ACK | F.ECE),
        fc.boolean(),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (gsoSize, n, flags, withOptions, id, seq) => {
          fc.pre(Math.ceil(n / gsoSize) <= 60);
          const payload = bytes(n, gsoSize);
          const spec = { payload, seq, flags, id, ...(withOptions ? { tcpOptions: Buffer.from('0101080a0000000100000002', 'hex') } : {}) };
          const superFrame = frameOf(spec);
          const original = Buffer.from(superFrame);
          const out: Buffer[] = [];
          const local = new TcpGro((f) => out.push(f));
          segmentTcp(superFrame, gsoSize, (seg) => local.receive(seg));
          local.flush();
          // Identity holds when the segments fit one merged packet; with PSH/FIN only on the last
          // segment and every segment but the last full-sized, GRO merges them all.
          expect(out).toHaveLength(1);
          const merged = out[0] as Buffer;
          // Every byte, the IPv4 id and both checksums included (the id is the first segment's,
          // which is the super-frame's; the checksums are recomputed to the same canonical values).
          expect(merged.equals(original)).toBe(true);
          if (n > gsoSize) expect(gsoSizeOf(merged)).toBe(gsoSize);
          packetPool.release(merged);
        },
      ),
      { numRuns: 200, seed: 20261202 },
    );
  });
});
