import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIpv4 } from './address.js';
import { DecodeError } from './errors.js';
import * as icmpv4 from './icmpv4.js';
import * as ipv4 from './ipv4.js';
import { arbIcmpv4Repr } from './testing/arbitraries/icmpv4.js';
import { encodeChecks, fixtureFrame } from './testing/fixtures.js';

const icmpOf = (frame: number) => ipv4.decode(fixtureFrame('l2l3', frame), 14).payload;

describe('icmpv4', () => {
  it('decodes a real echo request (l2l3.pcap frame 3)', () => {
    const bytes = icmpOf(3);
    const m = icmpv4.decode(bytes);
    expect(m.kind).toBe('echo-request');
    if (m.kind !== 'echo-request') return;
    expect(m.code).toBe(0);
    expect(m.identifier).toBe(fixtureFrame('l2l3', 3).readUInt16BE(38));
    expect(m.sequence).toBe(1);
    expect(m.data.length).toBe(56);
    expect(icmpv4.checksumValid(bytes)).toBe(true);
    expect(icmpv4.typeOf(m)).toBe(icmpv4.IcmpType.EchoRequest);
    expect(encodeChecks(bytes, (buf, at) => icmpv4.encode(m, buf, at))).toEqual({ exact: true, atOffset: true });
    expect(icmpv4.encode({ ...m, checksum: undefined }).equals(bytes)).toBe(true);
    expect(icmpv4.decode(icmpOf(4)).kind).toBe('echo-reply');
  });

  it('decodes a real fragmentation-needed with the next-hop MTU (frame 14, RFC 1191)', () => {
    const bytes = icmpOf(14);
    const m = icmpv4.decode(bytes);
    // tshark: icmp.type 3, code 4, checksum 0x2c88, icmp.mtu 1400; the quote is the original header + data.
    expect(m).toMatchObject({
      kind: 'destination-unreachable',
      code: icmpv4.UnreachableCode.FragmentationNeeded,
      nextHopMtu: 1400,
      unused: 0,
      checksum: 0x2c88,
    });
    if (m.kind !== 'destination-unreachable') return;
    // The quoted header is the original datagram's: 10.0.0.1 > 10.0.1.1, total length 1478, DF.
    expect(formatIpv4(m.quote.readUInt32BE(12))).toBe('10.0.0.1');
    expect(formatIpv4(m.quote.readUInt32BE(16))).toBe('10.0.1.1');
    expect(m.quote.readUInt16BE(2)).toBe(1478);
    expect(m.quote.readUInt16BE(10)).toBe(0x2036); // tshark: inner ip.checksum 0x2036
    expect(icmpv4.checksumValid(bytes)).toBe(true);
    expect(icmpv4.encode(m).equals(bytes)).toBe(true);
  });

  it('decodes a real port unreachable quoting the UDP header (frame 19)', () => {
    const m = icmpv4.decode(icmpOf(19));
    expect(m).toMatchObject({ kind: 'destination-unreachable', code: icmpv4.UnreachableCode.Port, checksum: 0x1219 });
    if (m.kind !== 'destination-unreachable') return;
    // The quote holds the offending IPv4 header (20 bytes) and its first 8 data bytes: the UDP header.
    expect(m.quote.length).toBe(29);
    expect(m.quote.readUInt16BE(22)).toBe(9);
  });

  it('decodes a real time exceeded (frame 16)', () => {
    const m = icmpv4.decode(icmpOf(16));
    expect(m).toMatchObject({ kind: 'time-exceeded', code: icmpv4.TimeExceededCode.TtlExceeded, unused: 0, checksum: 0xf4ff });
  });

  it('builds the RFC 792 quote of an offending datagram', () => {
    const offending = ipv4.decode(fixtureFrame('l2l3', 18), 14);
    const packet = fixtureFrame('l2l3', 18).subarray(14);
    const quote = icmpv4.quoteOf(packet);
    expect(quote.length).toBe(ipv4.headerLength(offending) + 8);
    expect(quote.equals(packet.subarray(0, 28))).toBe(true);
    // Linux quotes more when it has it (RFC 1812 §4.3.2.3 allows up to 576 bytes): frame 19
    // carries the whole 29-byte datagram, as the router saw it (TTL already decremented).
    const kernel = icmpv4.decode(icmpOf(19));
    expect(kernel.kind === 'destination-unreachable' && kernel.quote.length).toBe(29);
    expect(() => icmpv4.quoteOf(Buffer.alloc(10))).toThrow(DecodeError);
  });

  it('keeps other types whole', () => {
    const redirect = Buffer.from('0501000a0a0000fe45000000', 'hex');
    const m = icmpv4.decode(redirect);
    expect(m).toMatchObject({ kind: 'other', type: 5, code: 1, rest: 0x0a0000fe });
    expect(icmpv4.encode(m).equals(redirect)).toBe(true);
  });

  it('refuses a truncated header', () => {
    expect(() => icmpv4.decode(Buffer.alloc(7))).toThrow(DecodeError);
  });

  it('decode(encode(x)) equals x', () => {
    fc.assert(fc.property(arbIcmpv4Repr(), (repr) => void expect(icmpv4.decode(icmpv4.encode(repr))).toEqual(repr)));
  });
});
