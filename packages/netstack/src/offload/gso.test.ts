import { ipv4, packetPool, tcp } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { GSO_MAX_IP_BYTES, gsoSizeOf, segmentTcp, setGsoSize } from './gso.js';
import { type TcpFrameSpec, tcpFrame } from './test-frames.js';

const F = tcp.TcpFlags;

type FrameSpec = Omit<TcpFrameSpec, 'seq'> & { seq?: number };

/** This file's frames: seq and id just below their wrap, TOS 0x10, in ordinary memory. */
function buildFrame(s: FrameSpec): Buffer {
  return tcpFrame({ tos: 0x10, id: 0xfffe, ack: 12345, window: 502, ...s, seq: s.seq ?? 0xfffff000 });
}

function payloadOf(n: number, salt = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + salt) & 0xff;
  return b;
}

function collect(frame: Buffer, gsoSize: number): { count: number; segments: Buffer[] } {
  const segments: Buffer[] = [];
  const count = segmentTcp(frame, gsoSize, (s) => segments.push(s));
  return { count, segments };
}

const TS_OPTIONS = Buffer.from('0101080a0000000100000002', 'hex'); // NOP NOP timestamps (RFC 7323)

describe('segmentTcp', () => {
  it('cuts every payload size from 0 to 3*gsoSize+7 into valid segments whose payloads concatenate back', () => {
    const gsoSize = 100;
    for (let n = 0; n <= 3 * gsoSize + 7; n++) {
      const payload = payloadOf(n, n);
      const frame = buildFrame({ payload, flags: F.ACK | F.PSH | F.FIN | F.CWR, tcpOptions: TS_OPTIONS });
      const { count, segments } = collect(frame, gsoSize);
      const expected = n <= gsoSize ? 1 : Math.ceil(n / gsoSize);
      expect(count).toBe(expected);
      expect(segments).toHaveLength(expected);
      if (n <= gsoSize) {
        expect(segments[0]).toBe(frame); // emitted unchanged
        continue;
      }
      const parts: Buffer[] = [];
      segments.forEach((seg, i) => {
        expect(seg.subarray(0, 14).equals(frame.subarray(0, 14))).toBe(true);
        const ip = ipv4.decode(seg, 14);
        expect(ipv4.checksumValid(seg, 14)).toBe(true);
        expect(ip.identification).toBe((0xfffe + i) & 0xffff); // wraps mod 2^16
        expect(ip.dontFragment).toBe(true);
        expect(14 + 20 + ip.payload.length).toBe(seg.length);
        expect(tcp.checksumValid(ip.payload, 0, ip.payload.length, ip)).toBe(true);
        const t = tcp.decode(ip.payload);
        expect(t.seq).toBe((0xfffff000 + i * gsoSize) >>> 0); // wraps mod 2^32
        expect(t.ack).toBe(12345);
        expect(t.window).toBe(502);
        expect(ip.payload.subarray(20, 32).equals(TS_OPTIONS)).toBe(true);
        const last = i === segments.length - 1;
        expect(t.payload.length).toBe(last ? n - i * gsoSize : gsoSize);
        expect((t.flags & F.CWR) !== 0).toBe(i === 0);
        expect((t.flags & F.FIN) !== 0).toBe(last);
        expect((t.flags & F.PSH) !== 0).toBe(last);
        expect(t.flags & F.ACK).toBe(F.ACK);
        parts.push(Buffer.from(t.payload));
        packetPool.release(seg);
      });
      expect(Buffer.concat(parts).equals(payload)).toBe(true);
    }
  });

  it('copies IPv4 options into every segment and keeps its header checksum valid', () => {
    const ipOptions = Buffer.from('94040000', 'hex'); // Router Alert (RFC 2113)
    const frame = buildFrame({ payload: payloadOf(250), ipOptions, id: 7 });
    const { count, segments } = collect(frame, 100);
    expect(count).toBe(3);
    segments.forEach((seg, i) => {
      const ip = ipv4.decode(seg, 14);
      expect(ip.options.equals(ipOptions)).toBe(true);
      expect(ip.identification).toBe(7 + i);
      expect(ipv4.checksumValid(seg, 14)).toBe(true);
      expect(tcp.checksumValid(ip.payload, 0, ip.payload.length, ip)).toBe(true);
    });
  });

  it('allocates segments with headroom for a tunnel header', async () => {
    const { headroomOf, ENCAP_HEADROOM } = await import('../links/headroom.js');
    const { segments } = collect(buildFrame({ payload: payloadOf(3000) }), 1400);
    expect(segments).toHaveLength(3);
    for (const seg of segments) expect(headroomOf(seg)).toBe(ENCAP_HEADROOM);
    for (const seg of segments) packetPool.release(seg);
  });

  it('emits non-TCP frames, fragments, non-IPv4 and truncated frames unchanged', () => {
    const udp = buildFrame({ payload: payloadOf(500), protocol: 17 });
    const fragment = buildFrame({ payload: payloadOf(500), fragment: 0x2000 });
    const arp = Buffer.alloc(60);
    arp.writeUInt16BE(0x0806, 12);
    const truncated = buildFrame({ payload: payloadOf(500) }).subarray(0, 300);
    for (const frame of [udp, fragment, arp, truncated, Buffer.alloc(5)]) {
      const { count, segments } = collect(frame, 100);
      expect(count).toBe(1);
      expect(segments[0]).toBe(frame);
    }
  });

  it('rejects a gsoSize that is not a positive integer with a clear error', () => {
    const frame = buildFrame({ payload: payloadOf(10) });
    for (const bad of [0, -1, 1.5, Number.NaN, GSO_MAX_IP_BYTES + 1]) {
      expect(() => segmentTcp(frame, bad, () => {})).toThrow(/gsoSize .* is not a segment payload size/);
    }
  });
});

describe('gsoSizeOf / setGsoSize', () => {
  it('marks, reads and clears a frame', () => {
    const frame = Buffer.alloc(100);
    expect(gsoSizeOf(frame)).toBe(0);
    setGsoSize(frame, 1448);
    expect(gsoSizeOf(frame)).toBe(1448);
    expect(gsoSizeOf(frame.subarray(0))).toBe(0); // the mark belongs to that Buffer object
    setGsoSize(frame, 0);
    expect(gsoSizeOf(frame)).toBe(0);
    expect(() => setGsoSize(frame, -3)).toThrow(/PODNET|gsoSize/);
  });
});
