import { describe, expect, it } from 'vitest';
import { conntrackArgs } from './conntrack-cleanup.js';
import { endpointsFromSlices } from './endpoints-change-tracker.js';
import { cidrContains, parseIPv4, parseIPv4Cidr } from './ip.js';
import { formatProbability, LARGE_CLUSTER_ENDPOINTS_THRESHOLD, renderIptables } from './iptables-renderer.js';
import { serviceToServicePorts } from './service-info.js';
import { makeService, makeSlice, tcpPort } from './testing/fixtures.js';

describe('statistic probabilities', () => {
  it('are 1/n with 10 decimals, as Go formats %0.10f', () => {
    expect(formatProbability(2)).toBe('0.5000000000');
    expect(formatProbability(3)).toBe('0.3333333333');
    expect(formatProbability(6)).toBe('0.1666666667');
    expect(formatProbability(7)).toBe('0.1428571429');
    expect(formatProbability(1000)).toBe('0.0010000000');
    // 1/2048 = 0.00048828125 exactly: a tie, which Go rounds to even.
    expect(formatProbability(2048)).toBe('0.0004882812');
  });
});

describe('ip helpers', () => {
  it('parse addresses and CIDRs strictly and mask host bits', () => {
    expect(parseIPv4('10.244.1.5')).toBe(0x0af40105);
    expect(parseIPv4('10.244.1')).toBeUndefined();
    expect(parseIPv4('10.244.01.5')).toBeUndefined();
    expect(parseIPv4('256.0.0.1')).toBeUndefined();
    expect(parseIPv4Cidr(' 203.0.113.7/25')?.text).toBe('203.0.113.0/25');
    expect(parseIPv4Cidr('0.0.0.0/0')?.text).toBe('0.0.0.0/0');
    expect(parseIPv4Cidr('10.0.0.0/33')).toBeUndefined();
    expect(parseIPv4Cidr('10.0.0.0')).toBeUndefined();
    expect(cidrContains(parseIPv4Cidr('172.18.0.0/16')!, parseIPv4('172.18.0.2')!)).toBe(true);
    expect(cidrContains(parseIPv4Cidr('172.18.0.0/16')!, parseIPv4('172.19.0.2')!)).toBe(false);
  });
});

describe('conntrack filters', () => {
  it('render as the conntrack -D arguments kube-proxy runs', () => {
    expect(conntrackArgs({ protocol: 'udp', origDst: '10.96.0.10', dstNat: '10.244.2.2' })).toEqual([
      '-D',
      '-p',
      'udp',
      '--orig-dst',
      '10.96.0.10',
      '--dst-nat',
      '10.244.2.2',
    ]);
    expect(conntrackArgs({ protocol: 'udp', dport: 30053 })).toEqual(['-D', '-p', 'udp', '--dport', '30053']);
  });
});

describe('large clusters', () => {
  it(`drop per-endpoint comments above ${LARGE_CLUSTER_ENDPOINTS_THRESHOLD} endpoints, as kube-proxy does`, () => {
    const svc = makeService('default', 'big', (s) => {
      s.spec.clusterIP = '10.96.1.1';
      s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP' }];
    });
    const eps = Array.from({ length: LARGE_CLUSTER_ENDPOINTS_THRESHOLD + 1 }, (_, i) => ({ addresses: [`10.244.${i >> 8}.${i & 255}`] }));
    const endpoints = endpointsFromSlices('default', 'big', [makeSlice('default', 'big', 1, eps, [tcpPort('http', 8080)])], 'node-1');
    const ports = [...serviceToServicePorts(svc).values()];
    const rendered = renderIptables({ services: ports, endpoints: (k) => endpoints.get(k)?.endpoints ?? [], existingNatChains: [] });
    expect(rendered.payload).not.toContain('default/big:http ->');
    expect(rendered.payload).toContain('"default/big:http cluster IP"');
    const sep = rendered.payload.split('\n').find((l) => l.startsWith('-A KUBE-SEP-') && l.includes('DNAT'))!;
    expect(sep).toMatch(/^-A KUBE-SEP-[A-Z2-7]{16} -m tcp -p tcp -j DNAT --to-destination 10\.244\.\d+\.\d+:8080$/);
    // 1/1001, 1/1000, ... the cascade still sums to a uniform choice.
    expect(rendered.payload).toContain('--probability 0.0009990010');
  });
});
