import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIpv4, formatMac } from './address.js';
import * as arp from './arp.js';
import { DecodeError } from './errors.js';
import { arbArpRepr } from './testing/arbitraries/arp.js';
import { encodeChecks, fixtureFrame } from './testing/fixtures.js';

describe('arp', () => {
  it('decodes a real request and reply (l2l3.pcap frames 1-2) field by field', () => {
    const request = fixtureFrame('l2l3', 1).subarray(14);
    const req = arp.decode(request);
    // tshark: arp.opcode 1, src 7e:a7:be:1d:67:32 10.0.0.1, target 00:00:00:00:00:00 10.0.0.254
    expect(req).toEqual({
      htype: 1,
      ptype: 0x0800,
      operation: arp.ArpOperation.Request,
      senderMac: req.senderMac,
      senderIp: req.senderIp,
      targetMac: 0,
      targetIp: req.targetIp,
    });
    expect(formatMac(req.senderMac)).toBe('7e:a7:be:1d:67:32');
    expect(formatIpv4(req.senderIp)).toBe('10.0.0.1');
    expect(formatIpv4(req.targetIp)).toBe('10.0.0.254');
    const rep = arp.decode(fixtureFrame('l2l3', 2), 14);
    expect(rep.operation).toBe(arp.ArpOperation.Reply);
    expect(formatMac(rep.senderMac)).toBe('76:30:32:e5:20:59');
    expect(formatIpv4(rep.senderIp)).toBe('10.0.0.254');
    expect(formatMac(rep.targetMac)).toBe('7e:a7:be:1d:67:32');
    expect(encodeChecks(request, (buf, at) => arp.encode(req, buf, at))).toEqual({ exact: true, atOffset: true });
  });

  it('refuses non-Ethernet/IPv4 address sizes and truncation', () => {
    const bad = Buffer.from(fixtureFrame('l2l3', 1).subarray(14));
    bad[4] = 8;
    expect(() => arp.decode(bad)).toThrow(/6\/4/);
    expect(() => arp.decode(fixtureFrame('l2l3', 1).subarray(14, 30))).toThrow(DecodeError);
  });

  it('decode(encode(x)) equals x', () => {
    fc.assert(fc.property(arbArpRepr(), (repr) => void expect(arp.decode(arp.encode(repr))).toEqual(repr)));
  });
});
