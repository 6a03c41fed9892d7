// kube-proxy's real rule layouts (fixtures/kube-proxy, written in its own format) followed packet
// by packet over every statistic branch: each endpoint reachable with probability 1/n, and
// masquerade exactly where kube-proxy asks for it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIpv4, parseIpv4, SeededRng } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { Netfilter } from './engine.js';
import { explore, type TraceOutcome } from './explore.js';
import { makeContext, makePacket, newState } from './testing/packets.js';
import { WhatIfConntrack } from './what-if.js';

const NODE_IP = '172.18.0.2';
const local = [parseIpv4(NODE_IP)];

function trace(fixture: string, src: string, dst: string, dport: number, protocol = 6) {
  const nf = new Netfilter();
  nf.restore(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'kube-proxy', fixture), 'utf8'));
  const result = explore(
    nf.ruleSet,
    { src: parseIpv4(src), dst: parseIpv4(dst), protocol, srcPort: 40000, dstPort: dport },
    { localAddresses: local },
  );
  expect(result.truncated).toBe(false);
  const total = result.outcomes.reduce((a, o) => a + o.probability, 0);
  expect(total).toBeCloseTo(1, 6);
  return result.outcomes;
}

const summary = (outcomes: TraceOutcome[]) =>
  outcomes.map((o) => ({
    p: Number(o.probability.toFixed(6)),
    verdict: o.verdict,
    to: o.dnat ? `${o.dnat.address}:${o.dnat.port}` : undefined,
    masquerade: o.masquerade,
    disposition: o.disposition,
  }));

describe('kube-proxy rule sets, every statistic branch', () => {
  it('ClusterIP with three endpoints: each 1/3, no masquerade from a pod', () => {
    expect(summary(trace('clusterip.rules', '10.244.1.7', '10.96.0.10', 80))).toEqual([
      { p: 0.333333, verdict: 'accept', to: '10.244.1.2:8080', masquerade: false, disposition: 'sent' },
      { p: 0.333333, verdict: 'accept', to: '10.244.2.3:8080', masquerade: false, disposition: 'sent' },
      { p: 0.333333, verdict: 'accept', to: '10.244.3.4:8080', masquerade: false, disposition: 'sent' },
    ]);
  });

  it('ClusterIP from outside the cluster CIDR (the node itself): masqueraded', () => {
    const outcomes = trace('clusterip.rules', NODE_IP, '10.96.0.10', 80);
    expect(outcomes.map((o) => [o.masquerade, o.snat?.address, o.hook])).toEqual([
      [true, NODE_IP, 'POSTROUTING'],
      [true, NODE_IP, 'POSTROUTING'],
      [true, NODE_IP, 'POSTROUTING'],
    ]);
    // The packet entered at OUTPUT (local source) and KUBE-MARK-MASQ set the mark that KUBE-POSTROUTING cleared.
    expect(outcomes[0]?.events[0]).toMatchObject({ hook: 'OUTPUT', table: 'raw', kind: 'policy' });
    expect(outcomes[0]?.events.some((e) => e.chain === 'KUBE-MARK-MASQ')).toBe(true);
  });

  it('hairpin: a pod reaching itself through its Service is masqueraded (KUBE-SEP -s ep -j KUBE-MARK-MASQ)', () => {
    const outcomes = trace('clusterip.rules', '10.244.1.2', '10.96.0.10', 80);
    expect(summary(outcomes).map((o) => [o.to, o.masquerade])).toEqual([
      ['10.244.1.2:8080', true],
      ['10.244.2.3:8080', false],
      ['10.244.3.4:8080', false],
    ]);
  });

  it('NodePort from outside: 1/2 each endpoint, always masqueraded (externalTrafficPolicy Cluster)', () => {
    expect(summary(trace('nodeport.rules', '198.51.100.7', NODE_IP, 30080))).toEqual([
      { p: 0.5, verdict: 'accept', to: '10.244.1.5:80', masquerade: true, disposition: 'sent' },
      { p: 0.5, verdict: 'accept', to: '10.244.2.6:80', masquerade: true, disposition: 'sent' },
    ]);
    // The ClusterIP of the same Service from a pod is not masqueraded.
    expect(summary(trace('nodeport.rules', '10.244.1.9', '10.96.0.20', 80)).map((o) => o.masquerade)).toEqual([false, false]);
  });

  it('LoadBalancer with source ranges: an allowed source reaches the endpoint, others are dropped by KUBE-PROXY-FIREWALL', () => {
    expect(summary(trace('loadbalancer.rules', '203.0.113.5', '192.0.2.10', 443))).toEqual([
      { p: 1, verdict: 'accept', to: '10.244.2.7:8443', masquerade: true, disposition: 'sent' },
    ]);
    const denied = trace('loadbalancer.rules', '198.51.100.7', '192.0.2.10', 443);
    expect(summary(denied)).toEqual([{ p: 1, verdict: 'drop', to: undefined, masquerade: false, disposition: 'stopped' }]);
    expect(denied[0]?.events.at(-1)).toMatchObject({ table: 'filter', chain: 'KUBE-PROXY-FIREWALL', kind: 'rule', target: 'DROP' });
    // The NodePort of the same Service is not behind the source ranges.
    expect(summary(trace('loadbalancer.rules', '198.51.100.7', NODE_IP, 30443))[0]?.to).toBe('10.244.2.7:8443');
  });

  it('externalTrafficPolicy Local: external clients reach only the local endpoint, unmasqueraded; pods get every endpoint', () => {
    expect(summary(trace('local-policy.rules', '198.51.100.7', NODE_IP, 30090))).toEqual([
      { p: 1, verdict: 'accept', to: '10.244.1.8:80', masquerade: false, disposition: 'sent' },
    ]);
    expect(summary(trace('local-policy.rules', '10.244.1.9', NODE_IP, 30090)).map((o) => [o.p, o.to])).toEqual([
      [0.5, '10.244.1.8:80'],
      [0.5, '10.244.2.9:80'],
    ]);
    // No local endpoint: the filter table drops it (KUBE-EXTERNAL-SERVICES), nothing is DNATed.
    const none = trace('local-policy.rules', '198.51.100.7', NODE_IP, 30091);
    expect(summary(none)).toEqual([{ p: 1, verdict: 'drop', to: undefined, masquerade: false, disposition: 'stopped' }]);
    expect(none[0]?.events.at(-1)).toMatchObject({ chain: 'KUBE-EXTERNAL-SERVICES', target: 'DROP', hook: 'INPUT' });
  });

  it('no endpoints: REJECT (icmp-port-unreachable) for the ClusterIP and the NodePort', () => {
    const cluster = trace('no-endpoints.rules', '10.244.1.9', '10.96.0.50', 80);
    expect(cluster.map((o) => [o.verdict, o.rejectWith, o.hook])).toEqual([['reject', 'icmp-port-unreachable', 'FORWARD']]);
    const nodePort = trace('no-endpoints.rules', '198.51.100.7', NODE_IP, 30050);
    expect(nodePort.map((o) => [o.verdict, o.rejectWith, o.hook])).toEqual([['reject', 'icmp-port-unreachable', 'INPUT']]);
  });

  it('session affinity: a first packet is spread 1/2 each and records the client (recent --set)', () => {
    const outcomes = trace('affinity.rules', '10.244.1.9', '10.96.0.60', 80);
    expect(summary(outcomes).map((o) => [o.p, o.to])).toEqual([
      [0.5, '10.244.1.10:80'],
      [0.5, '10.244.2.11:80'],
    ]);
    expect(outcomes[0]?.events.some((e) => e.rule?.includes('--rcheck'))).toBe(false);
    expect(outcomes[0]?.events.some((e) => e.rule?.includes('-m recent --set'))).toBe(true);
  });

  it('a client seen before sticks to its endpoint for every later connection (recent --rcheck), others spread', () => {
    const tracker = new WhatIfConntrack();
    const nf = new Netfilter({ conntrack: tracker, nat: tracker, rng: new SeededRng(42) });
    nf.restore(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'kube-proxy', 'affinity.rules'), 'utf8'));
    const connect = (client: string, srcPort: number) => {
      const packet = makePacket({ src: client, dst: '10.96.0.60', sport: srcPort, dport: 80 });
      nf.run('PREROUTING', packet, makeContext('PREROUTING', { inInterface: 'cni0' }), newState());
      return formatIpv4(packet.buf.readUInt32BE(16));
    };
    for (const client of ['10.244.1.9', '10.244.1.20', '10.244.3.3']) {
      const picks = new Set(Array.from({ length: 20 }, (_, i) => connect(client, 40000 + i)));
      expect(picks.size, client).toBe(1);
    }
    const firstPicks = new Set(Array.from({ length: 40 }, (_, i) => connect(`10.244.4.${i + 1}`, 50000)));
    expect(firstPicks).toEqual(new Set(['10.244.1.10', '10.244.2.11']));
  });

  it('DNS over UDP and TCP on the same ClusterIP go to their own chains', () => {
    expect(summary(trace('dns.rules', '10.244.1.9', '10.96.0.10', 53, 17)).map((o) => o.to)).toEqual(['10.244.1.3:53', '10.244.2.4:53']);
    expect(summary(trace('dns.rules', '10.244.1.9', '10.96.0.10', 53, 6)).map((o) => o.to)).toEqual(['10.244.1.3:53', '10.244.2.4:53']);
  });
});

describe('explore()', () => {
  it("leaves the caller's counters alone", () => {
    const nf = new Netfilter();
    nf.restore(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'kube-proxy', 'clusterip.rules'), 'utf8'));
    const before = nf.save({ counters: true });
    explore(
      nf.ruleSet,
      { src: parseIpv4('10.244.1.7'), dst: parseIpv4('10.96.0.10'), protocol: 6, srcPort: 1234, dstPort: 80 },
      { localAddresses: local },
    );
    expect(nf.save({ counters: true })).toBe(before);
  });
});
