import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIpv4 } from './address.js';
import { DecodeError, EncodeError } from './errors.js';
import * as ipv4 from './ipv4.js';
import { arbIpv4Repr } from './testing/arbitraries/ipv4.js';
import { encodeChecks, fixtureFrame } from './testing/fixtures.js';

const datagram = (frame: number) => fixtureFrame('l2l3', frame).subarray(14);

describe('ipv4', () => {
  it('decodes a real echo request with the record-route option (l2l3.pcap frame 5)', () => {
    const bytes = datagram(5);
    const ip = ipv4.decode(bytes);
    // tshark: ip.id 0xbbf2, flags 0x02 (DF), ttl 64, checksum 0x2d80, len 124, option type 7 (RR)
    expect(ip.identification).toBe(0xbbf2);
    expect(ip.dontFragment).toBe(true);
    expect(ip.moreFragments).toBe(false);
    expect(ip.reservedFlag).toBe(false);
    expect(ip.fragmentOffset).toBe(0);
    expect(ip.ttl).toBe(64);
    expect(ip.protocol).toBe(ipv4.IpProtocol.ICMP);
    expect(ip.checksum).toBe(0x2d80);
    expect(ipv4.checksumValid(bytes)).toBe(true);
    expect(formatIpv4(ip.src)).toBe('10.0.0.1');
    expect(formatIpv4(ip.dst)).toBe('10.0.0.254');
    expect(ip.dscp).toBe(0);
    expect(ip.ecn).toBe(0);
    expect(ip.options.length).toBe(40);
    expect(ipv4.headerLength(ip) + ip.payload.length).toBe(124);
    const options = ipv4.parseOptions(ip.options);
    // Linux's ping -R: a NOP to align, then record route (length 39, 9 slots) with the
    // sender's own address already recorded, so the pointer is 8 (tshark: Pointer: 8).
    expect(options[0]).toEqual({ kind: 'nop' });
    expect(options[1]).toMatchObject({ kind: 'record-route', pointer: 8 });
    expect(options[1]?.kind === 'record-route' && formatIpv4(options[1].addresses[0] as number)).toBe('10.0.0.1');
    expect(options[1]?.kind === 'record-route' && options[1].addresses.length).toBe(9);
    expect(encodeChecks(bytes, (buf, at) => ipv4.encode(ip, buf, at))).toEqual({ exact: true, atOffset: true });
  });

  it('decodes real fragments: MF and offset (frames 7 and 8)', () => {
    const first = ipv4.decode(datagram(7));
    expect(first).toMatchObject({ identification: 0xbbf3, moreFragments: true, dontFragment: false, fragmentOffset: 0, checksum: 0x842f });
    const second = ipv4.decode(datagram(8));
    // tshark: ip.frag_offset 185 (in 8-byte units), i.e. 1480 bytes.
    expect(second).toMatchObject({ identification: 0xbbf3, moreFragments: true, fragmentOffset: 1480, checksum: 0x8376 });
    expect(ipv4.encode(second).equals(datagram(8))).toBe(true);
  });

  it('bounds the payload by Total Length, leaving link padding out', () => {
    const padded = Buffer.concat([datagram(17), Buffer.alloc(6)]);
    const ip = ipv4.decode(padded);
    expect(ipv4.headerLength(ip) + ip.payload.length).toBe(40);
  });

  it('computes the header checksum when it is undefined', () => {
    const ip = ipv4.decode(datagram(20));
    const out = ipv4.encode({ ...ip, checksum: undefined });
    expect(out.readUInt16BE(ipv4.CHECKSUM_OFFSET)).toBe(0xc337);
    expect(out.equals(datagram(20))).toBe(true);
  });

  it('refuses malformed headers with a DecodeError', () => {
    const bytes = Buffer.from(datagram(3));
    const corrupt = (mutate: (b: Buffer) => void) => {
      const b = Buffer.from(bytes);
      mutate(b);
      return b;
    };
    expect(() => ipv4.decode(bytes.subarray(0, 19))).toThrow(DecodeError);
    expect(() => ipv4.decode(corrupt((b) => (b[0] = 0x65)))).toThrow(/version 6/);
    expect(() => ipv4.decode(corrupt((b) => (b[0] = 0x44)))).toThrow(/header length 16/);
    expect(() => ipv4.decode(corrupt((b) => b.writeUInt16BE(200, 2)))).toThrow(/truncated datagram/);
    expect(() => ipv4.decode(corrupt((b) => b.writeUInt16BE(10, 2)))).toThrow(/shorter than the header/);
    expect(ipv4.checksumValid(corrupt((b) => (b[8] = 1)))).toBe(false);
  });

  it('refuses to encode unpadded options, bad fragment offsets and oversize datagrams', () => {
    const ip = ipv4.decode(datagram(3));
    expect(() => ipv4.encode({ ...ip, options: Buffer.alloc(3) })).toThrow(EncodeError);
    expect(() => ipv4.encode({ ...ip, fragmentOffset: 12 })).toThrow(/multiple of 8/);
    expect(() => ipv4.encode({ ...ip, payload: Buffer.alloc(70000) })).toThrow(/65535/);
    expect(() => ipv4.encode({ ...ip, ttl: 256 })).toThrow(/ttl/);
  });

  it('parses options and keeps unknown ones', () => {
    const opts = Buffer.from([1, 148, 4, 0, 0, 0x99, 3, 0xab, 0]);
    expect(ipv4.parseOptions(opts)).toEqual([
      { kind: 'nop' },
      { kind: 'router-alert', value: 0 },
      { kind: 'unknown', type: 0x99, data: Buffer.from([0xab]) },
      { kind: 'eol' },
    ]);
    expect(() => ipv4.parseOptions(Buffer.from([7, 1, 0, 0]))).toThrow(DecodeError);
    expect(ipv4.protocolName(6)).toBe('TCP');
    expect(ipv4.protocolName(99)).toBe('99');
  });

  it('decode(encode(x)) equals x', () => {
    fc.assert(fc.property(arbIpv4Repr(), (repr) => void expect(ipv4.decode(ipv4.encode(repr))).toEqual(repr)));
  });

  it('computed checksums always verify', () => {
    fc.assert(
      fc.property(arbIpv4Repr(), (repr) => void expect(ipv4.checksumValid(ipv4.encode({ ...repr, checksum: undefined }))).toBe(true)),
    );
  });
});
