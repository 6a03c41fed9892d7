import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIpv4, parseCidr } from '@podnet/wire';
import { afterAll, describe, expect, it } from 'vitest';
import { HostLocalIpam } from './host-local.js';

const dir = mkdtempSync(join(tmpdir(), `podnet-ipam-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('host-local IPAM', () => {
  it('allocates from .2, one file per address as host-local writes it, idempotent per container', () => {
    const ipam = new HostLocalIpam(join(dir, 'a'), 'podnet', parseCidr('10.244.1.0/24'));
    const a = ipam.allocate('c1', 'eth0');
    expect(formatIpv4(a)).toBe('10.244.1.2');
    expect(ipam.allocate('c1', 'eth0')).toBe(a);
    expect(readFileSync(join(ipam.dir, '10.244.1.2'), 'utf8')).toBe('c1\r\neth0');
    expect(formatIpv4(ipam.allocate('c2', 'eth0'))).toBe('10.244.1.3');
  });

  it('never hands out an address twice across a restart, and does not reuse a freed one at once', () => {
    const d = join(dir, 'b');
    const first = new HostLocalIpam(d, 'podnet', parseCidr('10.244.2.0/24'));
    const x = first.allocate('x', 'eth0');
    first.allocate('y', 'eth0');
    const second = new HostLocalIpam(d, 'podnet', parseCidr('10.244.2.0/24'));
    expect(second.find('x', 'eth0')).toBe(x);
    expect(formatIpv4(second.allocate('z', 'eth0'))).toBe('10.244.2.4');
    expect(second.release('x', 'eth0')).toBe(true);
    expect(second.release('x', 'eth0')).toBe(false);
    expect(formatIpv4(second.allocate('w', 'eth0'))).toBe('10.244.2.5');
  });

  it('reserves network, gateway and broadcast and reports exhaustion clearly', () => {
    const ipam = new HostLocalIpam(join(dir, 'c'), 'podnet', parseCidr('10.244.3.0/29'));
    const got = ['a', 'b', 'c', 'd', 'e'].map((c) => formatIpv4(ipam.allocate(c, 'eth0')));
    expect(got).toEqual(['10.244.3.2', '10.244.3.3', '10.244.3.4', '10.244.3.5', '10.244.3.6']);
    expect(() => ipam.allocate('f', 'eth0')).toThrow(/no free address in 10\.244\.3\.0\/29/);
  });
});
