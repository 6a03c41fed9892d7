// The rule engine with the real connection tracking and NAT (conntrack/, nat/) on kube-proxy's rule
// layout: a pod connects to a ClusterIP, the first packet traverses the nat table and is DNATed,
// the reply is translated back, and later packets are ESTABLISHED, skip the nat table and are
// accepted by KUBE-FORWARD's conntrack rule. A node-sourced connection is masqueraded.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIpv4, SeededRng } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../wire/src/testing/fake-clock.js';
import { Conntrack } from './conntrack/tracker.js';
import { Netfilter } from './engine.js';
import type { HookName, HookPacket, PacketState } from './hook.js';
import { Nat } from './nat/nat-engine.js';
import { context, TCP, tcpPacket } from './testing/conntrack-packets.js';
import type { TraceEvent } from './trace.js';

const rules = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'kube-proxy', 'clusterip.rules'), 'utf8');
const addrs = { local: ['172.18.0.2'], interfaces: { eth0: '172.18.0.2', 'flannel.1': '10.244.1.0', cni0: '10.244.1.1' } };

function node() {
  const clock = new FakeClock(0);
  const conntrack = new Conntrack({ clock, gcIntervalMs: 0 });
  const nat = new Nat(conntrack, { rng: new SeededRng(3) });
  const events: TraceEvent[] = [];
  const nf = new Netfilter({ conntrack, nat, clock, rng: new SeededRng(5), trace: (e) => events.push(e) });
  nf.restore(rules);
  const pass = (packet: HookPacket, path: Array<[HookName, string | undefined, string | undefined]>) => {
    const state: PacketState = { mark: 0, trace: true };
    for (const [hook, inIf, outIf] of path) {
      const v = nf.run(hook, packet, context(hook, inIf, outIf, addrs), state);
      if (v.kind !== 'accept') return { verdict: v, state };
    }
    return { verdict: { kind: 'accept' as const }, state };
  };
  return { nf, conntrack, events, pass };
}

const forwardPath = (inIf: string, outIf: string): Array<[HookName, string | undefined, string | undefined]> => [
  ['PREROUTING', inIf, undefined],
  ['FORWARD', inIf, outIf],
  ['POSTROUTING', undefined, outIf],
];
const addr = (p: HookPacket, at: number) => formatIpv4(p.buf.readUInt32BE(p.l3Offset + at));
const port = (p: HookPacket, at: number) => p.buf.readUInt16BE(p.l3Offset + 20 + at);

describe('rule engine with the real conntrack and NAT', () => {
  it('DNATs the first packet once, translates replies, and keeps ESTABLISHED packets out of the nat table', () => {
    const { conntrack, events, pass } = node();
    const syn = tcpPacket({ src: '10.244.1.7', sport: 40000, dst: '10.96.0.10', dport: 80, flags: TCP.SYN, seq: 100 });
    const first = pass(syn, forwardPath('cni0', 'flannel.1'));
    expect(first.verdict.kind).toBe('accept');
    const endpoint = addr(syn, 16);
    expect(['10.244.1.2', '10.244.2.3', '10.244.3.4']).toContain(endpoint);
    expect(port(syn, 2)).toBe(8080);
    expect(addr(syn, 12)).toBe('10.244.1.7'); // a pod source is not masqueraded
    const natEvents = events.filter((e) => e.table === 'nat').length;
    expect(natEvents).toBeGreaterThan(3);

    const synAck = tcpPacket({ src: endpoint, sport: 8080, dst: '10.244.1.7', dport: 40000, flags: TCP.SYN | TCP.ACK, seq: 500, ack: 101 });
    expect(pass(synAck, forwardPath('flannel.1', 'cni0')).verdict.kind).toBe('accept');
    expect(addr(synAck, 12)).toBe('10.96.0.10');
    expect(port(synAck, 0)).toBe(80);

    const ack = tcpPacket({ src: '10.244.1.7', sport: 40000, dst: '10.96.0.10', dport: 80, flags: TCP.ACK, seq: 101, ack: 501 });
    const third = pass(ack, forwardPath('cni0', 'flannel.1'));
    expect(third.verdict.kind).toBe('accept');
    expect(addr(ack, 16)).toBe(endpoint);
    expect(conntrack.info(third.state)?.state).toBe('ESTABLISHED');
    // No nat rule was consulted for the reply or the ACK; filter accepted them in KUBE-FORWARD.
    expect(events.filter((e) => e.table === 'nat').length).toBe(natEvents);
    expect(events.at(-1)).toMatchObject({ hook: 'POSTROUTING', table: 'mangle', kind: 'policy' });
    const forwardAccepts = events.filter((e) => e.chain === 'KUBE-FORWARD' && e.target === 'ACCEPT');
    expect(forwardAccepts.map((e) => e.ruleNumber)).toEqual([3, 3]);
  });

  it('masquerades a node-sourced connection to a ClusterIP through the NAT engine, and un-NATs the reply', () => {
    const { pass } = node();
    const syn = tcpPacket({ src: '172.18.0.2', sport: 45000, dst: '10.96.0.10', dport: 80, flags: TCP.SYN, seq: 1 });
    const out = pass(syn, [
      ['OUTPUT', undefined, 'flannel.1'],
      ['POSTROUTING', undefined, 'flannel.1'],
    ]);
    expect(out.verdict.kind).toBe('accept');
    expect(addr(syn, 12)).toBe('10.244.1.0'); // flannel.1's address
    expect(out.state.mark & 0x4000).toBe(0); // KUBE-POSTROUTING cleared the masquerade mark
    const endpoint = addr(syn, 16);
    const reply = tcpPacket({
      src: endpoint,
      sport: 8080,
      dst: '10.244.1.0',
      dport: port(syn, 0),
      flags: TCP.SYN | TCP.ACK,
      seq: 9,
      ack: 2,
    });
    expect(
      pass(reply, [
        ['PREROUTING', 'flannel.1', undefined],
        ['INPUT', 'flannel.1', undefined],
      ]).verdict.kind,
    ).toBe('accept');
    expect(addr(reply, 12)).toBe('10.96.0.10');
    expect(addr(reply, 16)).toBe('172.18.0.2');
    expect(port(reply, 2)).toBe(45000);
  });
});
