import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatIpv4,
  formatMac,
  isIpv4,
  isMac,
  isMulticastMac,
  macFromIpv4,
  parseIpv4,
  parseMac,
  readIpv4,
  readMac,
  writeIpv4,
  writeMac,
} from './address.js';
import { PodnetError } from './errors.js';

describe('addresses', () => {
  it('parses and formats IPv4 addresses', () => {
    expect(parseIpv4('10.244.1.2')).toBe(0x0af40102);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(formatIpv4(0xc0a80001)).toBe('192.168.0.1');
    for (const bad of ['10.244.1', '10.244.1.256', '010.1.1.1', '1.2.3.4 ', 'a.b.c.d', '']) {
      expect(isIpv4(bad)).toBe(false);
      expect(() => parseIpv4(bad)).toThrow(PodnetError);
    }
    expect(() => parseIpv4('10.0.0.300')).toThrow(/like 10.244.1.2/);
  });

  it('parses and formats MAC addresses', () => {
    expect(parseMac('0a:58:0a:f4:01:02')).toBe(0x0a580af40102);
    expect(parseMac('FF-FF-FF-FF-FF-FF')).toBe(2 ** 48 - 1);
    expect(formatMac(0x0a580af40102)).toBe('0a:58:0a:f4:01:02');
    expect(isMac('0a:58:0a:f4:01')).toBe(false);
    expect(() => parseMac('0a:58:0a:f4:01:0g')).toThrow(/not a MAC address/);
    expect(isMulticastMac(parseMac('01:00:5e:00:00:01'))).toBe(true);
    expect(isMulticastMac(parseMac('0a:58:0a:f4:01:02'))).toBe(false);
    expect(formatMac(macFromIpv4(parseIpv4('10.244.1.2')))).toBe('0a:58:0a:f4:01:02');
  });

  it('round-trips through text and bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (ip) => {
        expect(parseIpv4(formatIpv4(ip))).toBe(ip);
        const b = Buffer.alloc(6, 0xa5);
        writeIpv4(b, 1, ip);
        expect(readIpv4(b, 1)).toBe(ip);
        expect(b.readUInt32BE(1)).toBe(ip);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (mac) => {
        expect(parseMac(formatMac(mac))).toBe(mac);
        const b = Buffer.alloc(8, 0xa5);
        writeMac(b, 1, mac);
        expect(readMac(b, 1)).toBe(mac);
        expect(b.readUIntBE(1, 6)).toBe(mac);
      }),
    );
  });
});
