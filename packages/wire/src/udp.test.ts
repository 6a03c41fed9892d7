import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeInterop } from '../../../test/support/interop.ts';
import { parseIpv4 } from './address.js';
import { pseudoHeaderSum } from './checksum.js';
import { DecodeError, EncodeError } from './errors.js';
import { arbUdpRepr } from './testing/arbitraries/udp.js';
import { encodeChecks } from './testing/fixtures.js';
import { captureFrame, captureFrames, capturePath, tsharkFields } from './testing/pnb-captures.js';
import * as udp from './udp.js';

// Real frames, captured on this machine by packages/wire/fixtures/pnb-capture.sh between the
// namespaces pnb-a (veth pa0, 10.77.0.1) and pnb-b (veth pb0, 10.77.0.2):
//   ip netns exec pnb-a tshark -q -i pa0 -F pcap -w pnb-l4.pcap -f 'not udp port 4789 and not arp'
//   ip netns exec pnb-b python3 -c 's = socket.socket(AF_INET, SOCK_DGRAM); s.bind(("10.77.0.2", 7000)); s.recvfrom(100)'
//   ip netns exec pnb-a python3 -c 's = socket.socket(AF_INET, SOCK_DGRAM); s.bind(("10.77.0.1", 40001));
//                                   s.sendto(b"hello from pnb-a", ("10.77.0.2", 7000))'
// with `ethtool -K pa0 tx off` (and pb0) for DATAGRAM, and `tx on` for OFFLOADED (pnb-offload.pcap,
// payload "offloaded"). The UDP header starts at byte 34 (Ethernet 14 + IPv4 20).
//
// tshark -T json -x, pnb-l4.pcap frame 1: udp.srcport 40001, udp.dstport 7000, udp.length 24,
//   udp.checksum 0x5d82, udp.checksum_calculated 0x5d82, udp.checksum.status 1 (Good),
//   udp.payload 68:65:6c:6c:6f:20:66:72:6f:6d:20:70:6e:62:2d:61 ("hello from pnb-a").
const DATAGRAM = Buffer.from(
  '02770000000202770000000108004500002c0d4b4000401118da0a4d00010a4d0002' + '9c411b5800185d8268656c6c6f2066726f6d20706e622d61',
  'hex',
);
// tshark, pnb-offload.pcap frame 1: udp.length 17, udp.checksum 0x14bf, udp.checksum_calculated
//   0x25fc, "[UDP CHECKSUM INCORRECT]": the kernel left the pseudo-header sum for the NIC to finish.
const OFFLOADED = Buffer.from(
  '0277000000020277000000010800450000250e5c4000401117d00a4d00010a4d0002' + '9c411b58001114bf6f66666c6f61646564',
  'hex',
);
const L4 = 34;
const PSEUDO = { src: parseIpv4('10.77.0.1'), dst: parseIpv4('10.77.0.2') };

describe('udp', () => {
  it('the hex fixtures are the captured frames', () => {
    expect(captureFrame('pnb-l4', 1).equals(DATAGRAM)).toBe(true);
    expect(captureFrame('pnb-offload', 1).equals(OFFLOADED)).toBe(true);
  });

  it('decodes a real datagram field by field and verifies its checksum', () => {
    const bytes = DATAGRAM.subarray(L4);
    expect(udp.decode(bytes)).toEqual({ srcPort: 40001, dstPort: 7000, checksum: 0x5d82, payload: Buffer.from('hello from pnb-a') });
    expect(udp.checksumValid(bytes, 0, bytes.length, PSEUDO)).toBe(true);
    // The same datagram decoded in place inside the frame: the payload is a view, not a copy.
    const inFrame = udp.decode(DATAGRAM, L4);
    expect(inFrame.payload.buffer).toBe(DATAGRAM.buffer);
    expect(inFrame.payload.byteOffset).toBe(DATAGRAM.byteOffset + L4 + udp.HEADER_LENGTH);
    expect(udp.checksumValid(DATAGRAM, L4, DATAGRAM.length, PSEUDO)).toBe(true);
  });

  it('re-encodes the real datagram exactly, at offset 0 and 10, and recomputes the same checksum', () => {
    const bytes = DATAGRAM.subarray(L4);
    const d = udp.decode(bytes);
    expect(udp.encodingLength(d)).toBe(24);
    expect(encodeChecks(bytes, (buf, at) => udp.encode(d, buf, at))).toEqual({ exact: true, atOffset: true });
    expect(encodeChecks(bytes, (buf, at) => udp.encode({ ...d, checksum: undefined }, buf, at, PSEUDO))).toEqual({
      exact: true,
      atOffset: true,
    });
    expect(udp.encode({ ...d, checksum: undefined }, undefined, 0, PSEUDO).equals(bytes)).toBe(true);
  });

  it('keeps an offloaded (partial) checksum as read, and computes the real one when asked', () => {
    const bytes = OFFLOADED.subarray(L4);
    const d = udp.decode(bytes);
    expect(d).toEqual({ srcPort: 40001, dstPort: 7000, checksum: 0x14bf, payload: Buffer.from('offloaded') });
    // Linux CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum (RFC 768 pseudo-header).
    expect(d.checksum).toBe(pseudoHeaderSum(PSEUDO.src, PSEUDO.dst, 17, 17));
    expect(udp.checksumValid(bytes, 0, bytes.length, PSEUDO)).toBe(false);
    expect(encodeChecks(bytes, (buf, at) => udp.encode(d, buf, at))).toEqual({ exact: true, atOffset: true });
    const fixed = udp.encode({ ...d, checksum: undefined }, undefined, 0, PSEUDO);
    expect(fixed.readUInt16BE(udp.CHECKSUM_OFFSET)).toBe(0x25fc); // tshark's udp.checksum_calculated
    expect(udp.checksumValid(fixed, 0, fixed.length, PSEUDO)).toBe(true);
  });

  it('treats a zero checksum as "none" (RFC 768), and sends a computed zero as 0xffff', () => {
    const none = udp.encode({ srcPort: 1, dstPort: 2, checksum: 0, payload: Buffer.from('x') });
    expect(udp.checksumValid(none, 0, none.length, PSEUDO)).toBe(true);
    // With both addresses and ports zero the sum is 17 (protocol) + 10 (pseudo-header length)
    // + 10 (Length field) + the payload word; 0xffda makes it 0xffff, whose complement is 0.
    const pseudo = { src: 0, dst: 0 };
    const zeroSum = udp.encode({ srcPort: 0, dstPort: 0, payload: Buffer.from([0xff, 0xda]) }, undefined, 0, pseudo);
    expect(zeroSum.readUInt16BE(udp.CHECKSUM_OFFSET)).toBe(0xffff);
    expect(udp.checksumValid(zeroSum, 0, zeroSum.length, pseudo)).toBe(true);
    // One less and the checksum is an ordinary 0x0001.
    const one = udp.encode({ srcPort: 0, dstPort: 0, payload: Buffer.from([0xff, 0xd9]) }, undefined, 0, pseudo);
    expect(one.readUInt16BE(udp.CHECKSUM_OFFSET)).toBe(0x0001);
  });

  it('bounds the payload by the Length field, not by the bytes given', () => {
    // Ethernet pads short frames to 60 bytes; the padding must not become UDP data.
    const padded = Buffer.concat([DATAGRAM.subarray(L4), Buffer.alloc(6)]);
    const d = udp.decode(padded);
    expect(d.payload.toString()).toBe('hello from pnb-a');
    expect(udp.checksumValid(padded, 0, padded.length, PSEUDO)).toBe(true);
    // decode(buf, offset, end) looks only at [offset, end).
    const frame = Buffer.concat([DATAGRAM, Buffer.alloc(6)]);
    expect(udp.decode(frame, L4, DATAGRAM.length).payload.toString()).toBe('hello from pnb-a');
  });

  it('refuses truncated headers and impossible Length fields with a DecodeError at the right byte', () => {
    const bytes = DATAGRAM.subarray(L4);
    const err = (buf: Buffer, offset?: number, end?: number): DecodeError => {
      try {
        udp.decode(buf, offset, end);
      } catch (e) {
        if (e instanceof DecodeError) return e;
        throw e;
      }
      throw new Error('decoded without an error');
    };
    expect(err(bytes.subarray(0, 7))).toMatchObject({ protocol: 'udp', offset: 0 });
    expect(err(DATAGRAM, L4, L4 + 5)).toMatchObject({ offset: L4, reason: expect.stringMatching(/truncated header/) });
    const short = Buffer.from(bytes);
    short.writeUInt16BE(7, udp.LENGTH_OFFSET);
    expect(err(short)).toMatchObject({ offset: udp.LENGTH_OFFSET, reason: expect.stringMatching(/below the 8-byte header/) });
    const long = Buffer.from(bytes);
    long.writeUInt16BE(25, udp.LENGTH_OFFSET);
    expect(err(long)).toMatchObject({ offset: udp.LENGTH_OFFSET, reason: expect.stringMatching(/truncated datagram/) });
    expect(err(DATAGRAM, L4, DATAGRAM.length - 1).offset).toBe(L4 + udp.LENGTH_OFFSET);
    expect(err(bytes, 30).reason).toMatch(/bad bounds/);
    // checksumValid never throws on such bytes: they are simply not valid.
    expect(udp.checksumValid(long, 0, long.length, PSEUDO)).toBe(false);
    expect(udp.checksumValid(bytes, 0, 4, PSEUDO)).toBe(false);
  });

  it('refuses to encode out-of-range fields, or a checksum to compute without a pseudo-header', () => {
    const ok = { srcPort: 1, dstPort: 2, checksum: 0, payload: Buffer.alloc(0) };
    expect(() => udp.encode({ ...ok, checksum: undefined })).toThrow(/no pseudo-header/);
    expect(() => udp.encode({ ...ok, srcPort: 70000 })).toThrow(EncodeError);
    expect(() => udp.encode({ ...ok, srcPort: 70000 })).toThrow(/source port 70000/);
    expect(() => udp.encode({ ...ok, dstPort: -1 })).toThrow(/destination port -1/);
    expect(() => udp.encode({ ...ok, dstPort: 1.5 })).toThrow(EncodeError);
    expect(() => udp.encode({ ...ok, checksum: 0x10000 })).toThrow(/checksum 65536/);
    expect(() => udp.encode({ ...ok, payload: Buffer.alloc(65528) })).toThrow(/65535-byte length field/);
    expect(udp.encode({ ...ok, payload: Buffer.alloc(65527) }).readUInt16BE(udp.LENGTH_OFFSET)).toBe(65535);
  });

  it('decode(encode(x)) equals x', () => {
    fc.assert(fc.property(arbUdpRepr(), (repr) => void expect(udp.decode(udp.encode(repr))).toEqual(repr)));
  });

  it('computed checksums verify and are never zero on the wire', () => {
    fc.assert(
      fc.property(arbUdpRepr(), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), (repr, src, dst) => {
        const pseudo = { src, dst };
        const out = udp.encode({ ...repr, checksum: undefined }, undefined, 0, pseudo);
        expect(out.readUInt16BE(udp.CHECKSUM_OFFSET)).not.toBe(0);
        expect(udp.checksumValid(out, 0, out.length, pseudo)).toBe(true);
      }),
    );
  });
});

describeInterop('udp against tshark', { commands: ['tshark'] }, () => {
  it('podnet reads every UDP datagram of the pnb captures as tshark does, checksum verdict included', async () => {
    for (const file of ['pnb-l4', 'pnb-offload'] as const) {
      const rows = await tsharkFields(
        capturePath(file),
        ['udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum', 'udp.checksum.status', 'udp.payload'],
        'udp',
      );
      expect(rows.length).toBeGreaterThan(0);
      for (const { 'frame.number': n, ...fields } of rows) {
        const frame = captureFrames(file)[Number(n) - 1] as Buffer;
        const d = udp.decode(frame, L4);
        const hex = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;
        expect({
          'udp.srcport': String(d.srcPort),
          'udp.dstport': String(d.dstPort),
          'udp.length': String(udp.encodingLength(d)),
          'udp.checksum': hex(d.checksum as number),
          'udp.checksum.status': udp.checksumValid(frame, L4, frame.length, PSEUDO) ? '1' : '0',
          'udp.payload': d.payload.toString('hex'),
        }).toEqual(fields);
      }
    }
  });
});
