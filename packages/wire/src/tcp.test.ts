import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, EncodeError } from './errors.js';
import * as ipv4 from './ipv4.js';
import * as tcp from './tcp.js';
import { arbTcpRepr } from './testing/arbitraries/tcp.js';
import { encodeChecks, fixtureFrame } from './testing/fixtures.js';

const segmentOf = (frame: number) => {
  const ip = ipv4.decode(fixtureFrame('l2l3', frame), 14);
  return { ip, bytes: ip.payload };
};

describe('tcp', () => {
  it('decodes a real SYN with MSS, SACK-permitted, timestamps and window scale (l2l3.pcap frame 20)', () => {
    const { ip, bytes } = segmentOf(20);
    const s = tcp.decode(bytes);
    // tshark: srcport 34678, dstport 8080, seq_raw 1035903738, ack_raw 0, hdr_len 40, flags 0x002,
    // window 65280, checksum 0x649e, MSS 1360, SACK_PERM, TSval 4231416778 TSecr 0, WS 2^10
    expect(s).toMatchObject({
      srcPort: 34678,
      dstPort: 8080,
      seq: 1035903738,
      ack: 0,
      reserved: 0,
      flags: tcp.TcpFlags.SYN,
      window: 65280,
      checksum: 0x649e,
      urgentPointer: 0,
    });
    expect(s.options).toEqual([
      { kind: 'mss', value: 1360 },
      { kind: 'sack-permitted' },
      { kind: 'timestamps', tsval: 4231416778, tsecr: 0 },
      { kind: 'nop' },
      { kind: 'window-scale', shift: 10 },
    ]);
    expect(tcp.headerLength(s)).toBe(40);
    expect(s.payload.length).toBe(0);
    expect(tcp.checksumValid(bytes, 0, bytes.length, ip)).toBe(true);
    expect(tcp.flagsString(s.flags)).toBe('S');
    expect(encodeChecks(bytes, (buf, at) => tcp.encode(s, buf, at))).toEqual({ exact: true, atOffset: true });
    expect(tcp.encode({ ...s, checksum: undefined }, undefined, 0, ip).equals(bytes)).toBe(true);
  });

  it('decodes a real data segment with its payload (frame 23)', () => {
    const { ip, bytes } = segmentOf(23);
    const s = tcp.decode(bytes);
    expect(s.flags).toBe(tcp.TcpFlags.PSH | tcp.TcpFlags.ACK);
    expect(tcp.flagsString(s.flags)).toBe('P.');
    expect(s.payload.toString()).toBe('GET /hostname HTTP/1.1\r\nHost: b\r\n\r\n');
    expect(s.options.map((o) => o.kind)).toEqual(['nop', 'nop', 'timestamps']);
    expect(tcp.checksumValid(bytes, 0, bytes.length, ip)).toBe(true);
    expect(tcp.encode(s).equals(bytes)).toBe(true);
  });

  it('decodes a real FIN and a RST from a closed port (frames 27 and 31)', () => {
    expect(tcp.flagsString(tcp.decode(segmentOf(27).bytes).flags)).toBe('F.');
    const { ip, bytes } = segmentOf(31);
    const rst = tcp.decode(bytes);
    // tshark: srcport 8081, seq_raw 0, ack_raw 3967043101 (the SYN's seq + 1), window 0, checksum 0xaf2d
    expect(rst).toMatchObject({ srcPort: 8081, seq: 0, window: 0, checksum: 0xaf2d, options: [] });
    expect(tcp.flagsString(rst.flags)).toBe('R.');
    expect(tcp.checksumValid(bytes, 0, bytes.length, ip)).toBe(true);
  });

  it('keeps unknown options, wrong-length known options and EOL padding byte for byte', () => {
    const { bytes } = segmentOf(20);
    const crafted = Buffer.from(bytes.subarray(0, 40));
    const area = Buffer.alloc(20);
    // MSS with length 3 (not the RFC's 4), an unknown kind 30, a NOP, then EOL and non-zero padding.
    area.set([2, 3, 9, 30, 2, 1, 0]);
    area[19] = 0x77;
    area.copy(crafted, 20);
    const s = tcp.decode(crafted);
    expect(s.options).toEqual([
      { kind: 'unknown', type: 2, data: Buffer.from([9]) },
      { kind: 'unknown', type: 30, data: Buffer.alloc(0) },
      { kind: 'nop' },
      { kind: 'eol', rest: area.subarray(7) },
    ]);
    expect(tcp.encode(s).equals(crafted)).toBe(true);
  });

  it('prints flags in tcpdump order', () => {
    const { FIN, SYN, RST, PSH, ACK, URG, ECE, CWR } = tcp.TcpFlags;
    expect(tcp.flagsString(SYN | ACK)).toBe('S.');
    expect(tcp.flagsString(FIN | PSH | ACK)).toBe('FP.');
    expect(tcp.flagsString(SYN | ECE | CWR)).toBe('SEW');
    expect(tcp.flagsString(RST | URG | ACK)).toBe('R.U');
    expect(tcp.flagsString(0)).toBe('none');
  });

  it('refuses malformed headers and options with a DecodeError at the right offset', () => {
    const { bytes } = segmentOf(20);
    const bad = (mutate: (b: Buffer) => void) => {
      const b = Buffer.from(bytes);
      mutate(b);
      try {
        tcp.decode(b);
      } catch (e) {
        return e as DecodeError;
      }
      return undefined;
    };
    expect(bad((b) => (b[12] = 0x40))?.message).toMatch(/data offset 4/);
    expect(bad((b) => (b[12] = 0xf0))?.message).toMatch(/truncated/);
    expect(bad((b) => (b[21] = 1))?.offset).toBe(21);
    expect(bad((b) => (b[21] = 60))?.message).toMatch(/runs past the header/);
    expect(() => tcp.decode(bytes.subarray(0, 19))).toThrow(DecodeError);
  });

  it('refuses to encode more than 40 bytes of options or out-of-range fields', () => {
    const s = tcp.decode(segmentOf(20).bytes);
    expect(() => tcp.encode({ ...s, options: [...s.options, ...s.options, ...s.options] })).toThrow(/at most 40/);
    expect(() => tcp.encode({ ...s, seq: 2 ** 32 })).toThrow(EncodeError);
    expect(() => tcp.encode({ ...s, checksum: undefined })).toThrow(/pseudo-header/);
  });

  it('decode(encode(x)) equals x', () => {
    fc.assert(fc.property(arbTcpRepr(), (repr) => void expect(tcp.decode(tcp.encode(repr))).toEqual(repr)));
  });

  it('computed checksums verify', () => {
    const pseudo = { src: 0x0a000001, dst: 0x0a000102 };
    fc.assert(
      fc.property(arbTcpRepr(), (repr) => {
        const out = tcp.encode({ ...repr, checksum: undefined }, undefined, 0, pseudo);
        expect(tcp.checksumValid(out, 0, out.length, pseudo)).toBe(true);
      }),
    );
  });
});
