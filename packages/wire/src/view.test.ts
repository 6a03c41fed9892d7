// The zero-copy views (DESIGN §6.1) the data plane uses must agree with the Repr codecs on
// every field and on validity, and their in-place checksum updates must give what encode gives.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from './errors.js';
import * as ethernet from './ethernet.js';
import * as ipv4 from './ipv4.js';
import * as tcp from './tcp.js';
import { fixtureFrame } from './testing/fixtures.js';
import * as udp from './udp.js';
import * as vxlan from './vxlan.js';

/** Both throw a DecodeError, or neither throws. */
function sameValidity(a: () => unknown, b: () => unknown): void {
  const outcome = (fn: () => unknown) => {
    try {
      fn();
      return 'ok';
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      return 'DecodeError';
    }
  };
  expect(outcome(a)).toBe(outcome(b));
}

describe('zero-copy views', () => {
  it('read the same fields as the codecs on a real VXLAN frame, down to the inner TCP segment', () => {
    const frame = Buffer.from(fixtureFrame('vxlan', 5));
    const oe = ethernet.EthernetView.at(frame);
    expect(oe.etherType).toBe(ethernet.EtherType.IPv4);
    expect(oe.dst).toBe(ethernet.decode(frame).dst);
    const oi = ipv4.Ipv4View.at(frame, oe.payloadOffset);
    const oiRepr = ipv4.decode(frame, 14);
    expect([oi.src, oi.dst, oi.ttl, oi.protocol, oi.dontFragment]).toEqual([
      oiRepr.src,
      oiRepr.dst,
      oiRepr.ttl,
      oiRepr.protocol,
      oiRepr.dontFragment,
    ]);
    expect(oi.checksumValid).toBe(true);
    const ou = udp.UdpView.at(frame, oi.payloadOffset, oi.payloadEnd);
    expect([ou.srcPort, ou.dstPort, ou.checksum]).toEqual([40161, 4789, 0x1523]);
    expect(ou.checksumValid(oi)).toBe(true);
    const vx = vxlan.VxlanView.at(frame, ou.payloadOffset, ou.payloadEnd);
    expect([vx.flags, vx.vni]).toEqual([vxlan.FLAG_I, 1]);
    const ie = ethernet.EthernetView.at(frame, vx.payloadOffset, ou.payloadEnd);
    const ii = ipv4.Ipv4View.at(frame, ie.payloadOffset, ou.payloadEnd);
    const seg = tcp.TcpView.at(frame, ii.payloadOffset, ii.payloadEnd);
    const segRepr = tcp.decode(frame, ii.payloadOffset, ii.payloadEnd);
    expect([seg.srcPort, seg.dstPort, seg.seq, seg.ack, seg.flags, seg.window]).toEqual([
      segRepr.srcPort,
      segRepr.dstPort,
      segRepr.seq,
      segRepr.ack,
      segRepr.flags,
      segRepr.window,
    ]);
    expect(seg.options).toEqual(segRepr.options);
    expect(seg.checksumValid(ii)).toBe(true);
  });

  it('rewrite fields in place and recompute checksums as encode would (a DNAT of the inner packet)', () => {
    const frame = Buffer.from(fixtureFrame('l2l3', 23));
    const ip = ipv4.Ipv4View.at(frame, 14);
    const seg = tcp.TcpView.at(frame, ip.payloadOffset, ip.payloadEnd);
    ip.dst = 0x0af40203;
    ip.ttl = ip.ttl - 1;
    seg.dstPort = 80;
    seg.updateChecksum(ip);
    ip.updateChecksum();
    expect(ip.checksumValid).toBe(true);
    expect(seg.checksumValid(ip)).toBe(true);
    const ipRepr = ipv4.decode(frame, 14);
    const expected = ipv4.encode({
      ...ipRepr,
      checksum: undefined,
      payload: tcp.encode({ ...tcp.decode(ipRepr.payload), checksum: undefined }, undefined, 0, ipRepr),
    });
    expect(frame.subarray(14).equals(expected)).toBe(true);
  });

  it('computes a UDP checksum in place, or none', () => {
    const frame = Buffer.from(fixtureFrame('l2l3', 17));
    const ip = ipv4.Ipv4View.at(frame, 14);
    const u = udp.UdpView.at(frame, ip.payloadOffset, ip.payloadEnd);
    u.updateChecksum(ip, true);
    expect(u.checksum).toBe(0);
    u.updateChecksum(ip);
    expect(u.checksum).toBe(0xae54);
  });

  it('agree with decode about what is malformed, on mutated frames', () => {
    const frames = [fixtureFrame('vxlan', 5), fixtureFrame('l2l3', 23), fixtureFrame('l2l3', 17)];
    fc.assert(
      fc.property(fc.constantFrom(...frames), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (frame, at, value, cut) => {
        const b = Buffer.from(frame);
        b[at % b.length] = value;
        const end = cut % (b.length + 1);
        sameValidity(
          () => ethernet.decode(b, 0, end),
          () => ethernet.EthernetView.at(b, 0, end),
        );
        for (const off of [14, 34, 42, 50, 64, 84]) {
          if (off > end) continue;
          sameValidity(
            () => ipv4.decode(b, off, end),
            () => ipv4.Ipv4View.at(b, off, end),
          );
          sameValidity(
            () => udp.decode(b, off, end),
            () => udp.UdpView.at(b, off, end),
          );
          sameValidity(
            () => vxlan.decode(b, off, end),
            () => vxlan.VxlanView.at(b, off, end),
          );
          // TcpView checks lengths only; it parses options on demand (decode validates them eagerly).
          try {
            tcp.TcpView.at(b, off, end);
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError);
            expect(() => tcp.decode(b, off, end)).toThrow(DecodeError);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
