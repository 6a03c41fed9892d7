import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatMac, parseMac } from './address.js';
import { DecodeError } from './errors.js';
import * as ethernet from './ethernet.js';
import { arbEthernetRepr } from './testing/arbitraries/ethernet.js';
import { encodeChecks, fixtureFrame } from './testing/fixtures.js';

describe('ethernet', () => {
  it('decodes a real ARP broadcast frame (l2l3.pcap frame 1) field by field', () => {
    const frame = fixtureFrame('l2l3', 1);
    const eth = ethernet.decode(frame);
    // tshark: eth.dst ff:ff:ff:ff:ff:ff, eth.src 7e:a7:be:1d:67:32, eth.type 0x0806
    expect(formatMac(eth.dst)).toBe('ff:ff:ff:ff:ff:ff');
    expect(formatMac(eth.src)).toBe('7e:a7:be:1d:67:32');
    expect(eth.vlans).toEqual([]);
    expect(eth.etherType).toBe(ethernet.EtherType.ARP);
    expect(eth.payload.length).toBe(28);
    expect(ethernet.etherTypeName(eth.etherType)).toBe('ARP');
    expect(encodeChecks(frame, (buf, at) => ethernet.encode(eth, buf, at))).toEqual({ exact: true, atOffset: true });
  });

  it('keeps the payload as a view, not a copy', () => {
    const frame = fixtureFrame('l2l3', 3);
    const eth = ethernet.decode(frame);
    expect(eth.payload.buffer).toBe(frame.buffer);
    expect(eth.etherType).toBe(ethernet.EtherType.IPv4);
  });

  it('decodes and re-encodes stacked 802.1ad/802.1Q tags', () => {
    const inner = fixtureFrame('l2l3', 3);
    const tagged = Buffer.concat([inner.subarray(0, 12), Buffer.from('88a8a064' + '81000064', 'hex'), inner.subarray(12)]);
    const eth = ethernet.decode(tagged);
    expect(eth.vlans).toEqual([
      { tpid: 0x88a8, pcp: 5, dei: false, vid: 0x064 },
      { tpid: 0x8100, pcp: 0, dei: false, vid: 100 },
    ]);
    expect(eth.etherType).toBe(ethernet.EtherType.IPv4);
    expect(ethernet.encode(eth).equals(tagged)).toBe(true);
  });

  it('keeps unknown EtherTypes and prints them in hex', () => {
    const frame = Buffer.concat([Buffer.alloc(12, 1), Buffer.from([0x88, 0xcc, 9, 9])]);
    const eth = ethernet.decode(frame);
    expect(eth.etherType).toBe(0x88cc);
    expect(ethernet.etherTypeName(0x88cc)).toBe('0x88cc');
    expect(ethernet.encode(eth).equals(frame)).toBe(true);
  });

  it('refuses truncated headers and tags with a DecodeError naming the offset', () => {
    expect(() => ethernet.decode(Buffer.alloc(13))).toThrow(DecodeError);
    const err = (() => {
      try {
        ethernet.decode(Buffer.from('ffffffffffff0000000000008100', 'hex'));
      } catch (e) {
        return e as DecodeError;
      }
    })();
    expect(err).toBeInstanceOf(DecodeError);
    expect(err?.offset).toBe(12);
    expect(err?.message).toMatch(/802.1Q tag/);
  });

  it('refuses to encode an out-of-range VLAN id', () => {
    expect(() =>
      ethernet.encode({
        dst: 0,
        src: parseMac('02:00:00:00:00:01'),
        vlans: [{ tpid: 0x8100, pcp: 0, dei: false, vid: 5000 }],
        etherType: 0x800,
        payload: Buffer.alloc(0),
      }),
    ).toThrow(/VLAN/);
  });

  it('decode(encode(x)) equals x', () => {
    fc.assert(fc.property(arbEthernetRepr(), (repr) => void expect(ethernet.decode(ethernet.encode(repr))).toEqual(repr)));
  });
});
