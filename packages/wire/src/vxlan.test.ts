import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIpv4, formatMac } from './address.js';
import { EncodeError } from './errors.js';
import * as ethernet from './ethernet.js';
import * as ipv4 from './ipv4.js';
import { arbVxlanRepr } from './testing/arbitraries/vxlan.js';
import { encodeChecks, fixtureFrame } from './testing/fixtures.js';
import * as udp from './udp.js';
import * as vxlan from './vxlan.js';

describe('vxlan', () => {
  it('decodes a real kernel VXLAN frame carrying a TCP SYN (vxlan.pcap frame 5)', () => {
    const frame = fixtureFrame('vxlan', 5);
    const outer = ipv4.decode(frame, 14);
    const u = udp.decode(outer.payload);
    // tshark: outer 10.0.0.1 > 10.0.0.254, udp.srcport 40161 > 4789, udp.checksum 0x1523,
    // vxlan.flags 0x0800 (I), vni 1; inner 0a:58:0a:f4:01:01 > 0a:58:0a:f4:01:fe, 10.244.1.1
    expect(formatIpv4(outer.src)).toBe('10.0.0.1');
    expect(u).toMatchObject({ srcPort: 40161, dstPort: vxlan.UDP_PORT, checksum: 0x1523 });
    const vx = vxlan.decode(u.payload);
    expect(vx).toMatchObject({ flags: vxlan.FLAG_I, reserved1: 0, vni: 1, reserved2: 0 });
    const inner = ethernet.decode(vx.payload);
    expect(formatMac(inner.src)).toBe('0a:58:0a:f4:01:01');
    expect(formatMac(inner.dst)).toBe('0a:58:0a:f4:01:fe');
    expect(formatIpv4(ipv4.decode(inner.payload).src)).toBe('10.244.1.1');
    // The whole encapsulation: 14 + 20 + 8 + 8 bytes around the inner frame.
    expect(frame.length - vx.payload.length).toBe(vxlan.ENCAPSULATION_OVERHEAD);
    expect(encodeChecks(u.payload, (buf, at) => vxlan.encode(vx, buf, at))).toEqual({ exact: true, atOffset: true });
  });

  it('keeps reserved bits and a missing I flag as read (RFC 7348 §5)', () => {
    const bytes = Buffer.from('0c123456000abc7f', 'hex');
    const vx = vxlan.decode(bytes);
    expect(vx).toMatchObject({ flags: 0x0c, reserved1: 0x123456, vni: 0xabc, reserved2: 0x7f });
    expect(vxlan.encode(vx).equals(bytes)).toBe(true);
    expect(vxlan.decode(Buffer.from('0000000000000100', 'hex')).flags & vxlan.FLAG_I).toBe(0);
  });

  it('refuses truncated headers and VNIs wider than 24 bits', () => {
    expect(() => vxlan.decode(Buffer.alloc(7))).toThrow(/truncated/);
    expect(() => vxlan.encode({ flags: 8, reserved1: 0, vni: 2 ** 24, reserved2: 0, payload: Buffer.alloc(0) })).toThrow(EncodeError);
  });

  it('decode(encode(x)) equals x', () => {
    fc.assert(fc.property(arbVxlanRepr(), (repr) => void expect(vxlan.decode(vxlan.encode(repr))).toEqual(repr)));
  });
});
