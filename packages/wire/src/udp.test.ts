import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, EncodeError } from './errors.js';
import * as ipv4 from './ipv4.js';
import { arbUdpRepr } from './testing/arbitraries/udp.js';
import { encodeChecks, fixtureFrame } from './testing/fixtures.js';
import * as udp from './udp.js';

describe('udp', () => {
  it('decodes a real datagram (l2l3.pcap frame 17) and verifies its checksum', () => {
    const ip = ipv4.decode(fixtureFrame('l2l3', 17), 14);
    const bytes = ip.payload;
    const d = udp.decode(bytes);
    // tshark: udp.srcport 43683, dstport 5000, length 20, checksum 0xae54; payload "hello podnet"
    expect(d.srcPort).toBe(43683);
    expect(d.dstPort).toBe(5000);
    expect(d.checksum).toBe(0xae54);
    expect(d.payload.toString()).toBe('hello podnet');
    expect(udp.checksumValid(bytes, 0, bytes.length, ip)).toBe(true);
    expect(encodeChecks(bytes, (buf, at) => udp.encode(d, buf, at))).toEqual({ exact: true, atOffset: true });
    expect(udp.encode({ ...d, checksum: undefined }, undefined, 0, ip).equals(bytes)).toBe(true);
  });

  it('treats a zero checksum as none, and sends a computed zero as 0xffff (RFC 768)', () => {
    const none = udp.encode({ srcPort: 1, dstPort: 2, checksum: 0, payload: Buffer.from('x') });
    expect(udp.checksumValid(none, 0, none.length, { src: 1, dst: 2 })).toBe(true);
    // Find a payload whose checksum computes to zero: the one's-complement sum must be 0xffff.
    const pseudo = { src: 0, dst: 0 };
    const base = udp.encode({ srcPort: 0, dstPort: 0, payload: Buffer.alloc(2) }, undefined, 0, pseudo);
    const sum = 0xffff - ((~base.readUInt16BE(6) & 0xffff) >>> 0);
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(sum & 0xffff);
    const zeroSum = udp.encode({ srcPort: 0, dstPort: 0, payload }, undefined, 0, pseudo);
    expect(zeroSum.readUInt16BE(6)).toBe(0xffff);
    expect(udp.checksumValid(zeroSum, 0, zeroSum.length, pseudo)).toBe(true);
  });

  it('bounds the payload by the Length field and refuses bad lengths', () => {
    const bytes = Buffer.concat([ipv4.decode(fixtureFrame('l2l3', 17), 14).payload, Buffer.alloc(4)]);
    expect(udp.decode(bytes).payload.length).toBe(12);
    const short = Buffer.from(bytes);
    short.writeUInt16BE(7, 4);
    expect(() => udp.decode(short)).toThrow(/below the 8-byte header/);
    const long = Buffer.from(bytes);
    long.writeUInt16BE(100, 4);
    expect(() => udp.decode(long)).toThrow(DecodeError);
  });

  it('needs a pseudo-header to compute the checksum, and range-checks ports', () => {
    expect(() => udp.encode({ srcPort: 1, dstPort: 2, payload: Buffer.alloc(0) })).toThrow(/pseudo-header/);
    expect(() => udp.encode({ srcPort: 70000, dstPort: 2, checksum: 0, payload: Buffer.alloc(0) })).toThrow(EncodeError);
  });

  it('decode(encode(x)) equals x', () => {
    fc.assert(fc.property(arbUdpRepr(), (repr) => void expect(udp.decode(udp.encode(repr))).toEqual(repr)));
  });
});
