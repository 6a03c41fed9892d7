import { parseIpv4 } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { RouteTable } from './routes.js';

const devs = new Set(['eth0', 'cni0', 'flannel.1']);
const has = (d: string) => devs.has(d);

function table(): RouteTable {
  const t = new RouteTable();
  t.addConnected({ network: parseIpv4('10.244.1.0'), prefix: 24 }, 'cni0', parseIpv4('10.244.1.1'));
  t.addConnected({ network: parseIpv4('172.18.0.0'), prefix: 16 }, 'eth0', parseIpv4('172.18.0.2'));
  t.add({ dst: 'default', via: '172.18.0.1', dev: 'eth0' }, has);
  t.add({ dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'flannel.1', onlink: true }, has);
  t.add({ dst: '10.244.0.0/16', via: '172.18.0.9', dev: 'eth0', metric: 100, src: '172.18.0.2' }, has);
  return t;
}

describe('routes: longest-prefix match', () => {
  it('picks the most specific route, then the lowest metric', () => {
    const t = table();
    expect(t.lookup(parseIpv4('10.244.1.7'))?.dev).toBe('cni0');
    expect(t.lookup(parseIpv4('10.244.2.7'))).toMatchObject({ dev: 'flannel.1', via: parseIpv4('10.244.2.0'), onlink: true });
    expect(t.lookup(parseIpv4('10.244.3.7'))).toMatchObject({ dev: 'eth0', via: parseIpv4('172.18.0.9'), src: parseIpv4('172.18.0.2') });
    expect(t.lookup(parseIpv4('8.8.8.8'))?.via).toBe(parseIpv4('172.18.0.1'));
    t.add({ dst: '10.244.0.0/16', via: '172.18.0.8', dev: 'eth0', metric: 50 }, has);
    expect(t.lookup(parseIpv4('10.244.3.7'))?.via).toBe(parseIpv4('172.18.0.8'));
    expect(t.delete('10.244.0.0/16', { metric: 50 })).toBe(1);
    expect(t.lookup(parseIpv4('10.244.3.7'))?.via).toBe(parseIpv4('172.18.0.9'));
  });

  it('prints like ip route, in lookup order', () => {
    expect(table().show()).toEqual([
      '10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1',
      '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
      '172.18.0.0/16 dev eth0 proto kernel scope link src 172.18.0.2',
      '10.244.0.0/16 via 172.18.0.9 dev eth0 src 172.18.0.2 metric 100',
      'default via 172.18.0.1 dev eth0',
    ]);
  });

  it('has no route when nothing matches', () => {
    const t = new RouteTable();
    expect(t.lookup(parseIpv4('1.2.3.4'))).toBeUndefined();
  });

  it('refuses bad routes with a clear error, changing nothing', () => {
    const t = table();
    const before = t.show();
    expect(() => t.add({ dst: '10.244.9.0/24', via: '10.9.9.9', dev: 'eth0' }, has)).toThrow(/not on a connected subnet.*onlink/);
    expect(() => t.add({ dst: '10.244.9.1/24', dev: 'eth0' }, has)).toThrow(/host bits/);
    expect(() => t.add({ dst: '10.244.9.0/24', dev: 'nope' }, has)).toThrow(/no interface named "nope"/);
    expect(() => t.add({ dst: '10.244.2.0/24', dev: 'eth0' }, has)).toThrow(/exists already/);
    expect(() => t.add({ dst: '10.244.9.0/24', dev: 'eth0', metric: -1 }, has)).toThrow(/metric/);
    expect(t.show()).toEqual(before);
  });
});
