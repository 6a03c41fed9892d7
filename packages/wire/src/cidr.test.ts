import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIpv4, parseIpv4 } from './address.js';
import {
  cidrAddress,
  cidrAddresses,
  cidrBroadcast,
  cidrContains,
  cidrContainsCidr,
  cidrOverlaps,
  cidrSize,
  cidrSubnets,
  formatCidr,
  parseCidr,
} from './cidr.js';

describe('CIDR', () => {
  it('parses, clears or refuses host bits, and formats', () => {
    expect(parseCidr('10.244.0.0/16')).toEqual({ network: 0x0af40000, prefix: 16 });
    expect(formatCidr(parseCidr('10.244.1.7/24'))).toBe('10.244.1.0/24');
    expect(() => parseCidr('10.244.1.7/24', { strict: true })).toThrow(/did you mean 10.244.1.0\/24/);
    expect(parseCidr('10.96.0.1')).toEqual({ network: 0x0a600001, prefix: 32 });
    expect(formatCidr(parseCidr('0.0.0.0/0'))).toBe('0.0.0.0/0');
    for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0/8', '10.0.0.0/-1', '10.0.0.0/8x'])
      expect(() => parseCidr(bad)).toThrow(/not an IPv4 CIDR/);
  });

  it('answers contains, broadcast, size and overlap', () => {
    const pods = parseCidr('10.244.0.0/16');
    const node1 = parseCidr('10.244.1.0/24');
    expect(cidrContains(pods, parseIpv4('10.244.255.1'))).toBe(true);
    expect(cidrContains(node1, parseIpv4('10.244.2.1'))).toBe(false);
    expect(formatIpv4(cidrBroadcast(node1))).toBe('10.244.1.255');
    expect(cidrSize(parseCidr('10.96.0.0/12'))).toBe(2 ** 20);
    expect(cidrContainsCidr(pods, node1)).toBe(true);
    expect(cidrContainsCidr(node1, pods)).toBe(false);
    expect(cidrOverlaps(node1, pods)).toBe(true);
    expect(cidrOverlaps(node1, parseCidr('10.244.2.0/24'))).toBe(false);
    expect(cidrContains(parseCidr('0.0.0.0/0'), 0xffffffff)).toBe(true);
  });

  it('iterates addresses and subnets', () => {
    const small = parseCidr('10.244.1.0/30');
    expect([...cidrAddresses(small)].map(formatIpv4)).toEqual(['10.244.1.0', '10.244.1.1', '10.244.1.2', '10.244.1.3']);
    expect([...cidrAddresses(small, { hostsOnly: true })].map(formatIpv4)).toEqual(['10.244.1.1', '10.244.1.2']);
    expect([...cidrAddresses(parseCidr('10.0.0.0/31'), { hostsOnly: true })]).toHaveLength(2);
    expect(formatIpv4(cidrAddress(parseCidr('10.96.0.0/12'), 10))).toBe('10.96.0.10');
    expect(() => cidrAddress(small, 4)).toThrow(RangeError);
    const subnets = [...cidrSubnets(parseCidr('10.244.0.0/22'), 24)].map(formatCidr);
    expect(subnets).toEqual(['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24']);
    expect(() => [...cidrSubnets(parseCidr('10.244.0.0/24'), 16)]).toThrow(RangeError);
  });

  it('every address of a block is contained in it, and nothing just outside is', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 8, max: 32 }), fc.nat(), (ip, prefix, i) => {
        const c = parseCidr(`${formatIpv4(ip)}/${prefix}`);
        expect(cidrContains(c, cidrAddress(c, i % cidrSize(c)))).toBe(true);
        const after = cidrBroadcast(c) + 1;
        if (after <= 0xffffffff) expect(cidrContains(c, after)).toBe(false);
      }),
    );
  });
});
