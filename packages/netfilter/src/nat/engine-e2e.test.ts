// End to end through the rule engine (Netfilter): iptables-restore rules, conntrack and NAT
// together, hook by hook as a router namespace runs them.
import { formatIpv4, SeededRng } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../wire/src/testing/fake-clock.ts';
import { listText } from '../conntrack/listing.ts';
import { Conntrack } from '../conntrack/tracker.ts';
import { Netfilter } from '../engine.ts';
import type { HookPacket, PacketState, Verdict } from '../hook.ts';
import { context, decodeChecked, TCP, tcpPacket, udpPacket } from '../testing/conntrack-packets.ts';
import { Nat } from './nat-engine.ts';

const addrs = { local: ['172.18.0.2', '10.244.1.1'], interfaces: { eth0: '172.18.0.2', cni0: '10.244.1.1' } };

function router(rules: string) {
  const clock = new FakeClock();
  const conntrack = new Conntrack({ clock, gcIntervalMs: 0 });
  const nat = new Nat(conntrack, { rng: new SeededRng(3) });
  const nf = new Netfilter({ clock, conntrack, nat, rng: new SeededRng(3) });
  nf.restore(rules);
  /** Forwards one packet from inIf to outIf through PREROUTING, FORWARD and POSTROUTING. */
  const forward = (p: HookPacket, inIf: string, outIf: string): Verdict => {
    const state: PacketState = { mark: 0, trace: false };
    for (const [hook, c] of [
      ['PREROUTING', context('PREROUTING', inIf, undefined, addrs)],
      ['FORWARD', context('FORWARD', inIf, outIf, addrs)],
      ['POSTROUTING', context('POSTROUTING', undefined, outIf, addrs)],
    ] as const) {
      const v = nf.run(hook, p, c, state);
      if (v.kind !== 'accept') return v;
    }
    return { kind: 'accept' };
  };
  return { clock, conntrack, nat, nf, forward };
}

const table = (name: string, lines: string[], chains: string[]) =>
  [`*${name}`, ...chains.map((c) => `:${c} ACCEPT [0:0]`), ...lines, 'COMMIT'].join('\n');
const NAT_CHAINS = ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'];
const dst = (p: HookPacket) => formatIpv4(decodeChecked(p).ip.dst);

describe('conntrack and NAT through the rule engine', () => {
  it('a DNATed connection keeps its endpoint after a restore removes the rule; new connections see the new rules', () => {
    const dnat = (ep: string) =>
      `${table('nat', [`-A PREROUTING -d 10.96.0.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination ${ep}:53`], NAT_CHAINS)}\n`;
    const r = router(dnat('10.244.2.3'));
    const first = udpPacket('10.244.1.2', 4000, '10.96.0.10', 53);
    expect(r.forward(first, 'cni0', 'eth0').kind).toBe('accept');
    expect(dst(first)).toBe('10.244.2.3');
    r.nf.restore(`${table('nat', [], NAT_CHAINS)}\n`);
    const again = udpPacket('10.244.1.2', 4000, '10.96.0.10', 53);
    r.forward(again, 'cni0', 'eth0');
    expect(dst(again)).toBe('10.244.2.3');
    const fresh = udpPacket('10.244.1.2', 4001, '10.96.0.10', 53);
    r.forward(fresh, 'cni0', 'eth0');
    expect(dst(fresh)).toBe('10.96.0.10');
    r.nf.restore(dnat('10.244.2.4'));
    const moved = udpPacket('10.244.1.2', 4002, '10.96.0.10', 53);
    r.forward(moved, 'cni0', 'eth0');
    expect(dst(moved)).toBe('10.244.2.4');
    const old = udpPacket('10.244.1.2', 4000, '10.96.0.10', 53);
    r.forward(old, 'cni0', 'eth0');
    expect(dst(old)).toBe('10.244.2.3');
  });

  it('KUBE-FORWARD-style rules: INVALID dropped, RELATED,ESTABLISHED accepted, NEW refused by policy', () => {
    const rules = `${[
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD DROP [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      '-A FORWARD -m conntrack --ctstate INVALID -j DROP',
      '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A FORWARD -s 10.244.0.0/16 -m conntrack --ctstate NEW -j ACCEPT',
      'COMMIT',
    ].join('\n')}\n`;
    const r = router(rules);
    const syn = tcpPacket({ src: '10.244.1.2', dst: '192.0.2.80', sport: 40000, dport: 80, flags: TCP.SYN, seq: 1 });
    expect(r.forward(syn, 'cni0', 'eth0').kind).toBe('accept');
    const synack = tcpPacket({ src: '192.0.2.80', dst: '10.244.1.2', sport: 80, dport: 40000, flags: TCP.SYN | TCP.ACK, seq: 7, ack: 2 });
    expect(r.forward(synack, 'eth0', 'cni0').kind).toBe('accept'); // ESTABLISHED
    const stray = tcpPacket({ src: '192.0.2.80', dst: '10.244.1.2', sport: 80, dport: 40001, flags: TCP.SYN | TCP.ACK, seq: 7, ack: 2 });
    expect(r.forward(stray, 'eth0', 'cni0')).toMatchObject({ kind: 'drop' }); // INVALID: a SYN-ACK opens nothing
    const inbound = tcpPacket({ src: '192.0.2.80', dst: '10.244.1.2', sport: 5555, dport: 22, flags: TCP.SYN, seq: 1 });
    expect(r.forward(inbound, 'eth0', 'cni0')).toMatchObject({ kind: 'drop' }); // NEW from outside: policy
    expect(r.conntrack.counters.invalid).toBe(1);
    expect(listText(r.conntrack)).toHaveLength(1); // the dropped NEW packet left no entry
  });

  it('MASQUERADE from the engine records the interface, so its entries go with the address', () => {
    const r = router(`${table('nat', ['-A POSTROUTING -s 10.244.0.0/16 -o eth0 -j MASQUERADE'], NAT_CHAINS)}\n`);
    const p = udpPacket('10.244.1.2', 4000, '192.0.2.9', 53);
    r.forward(p, 'cni0', 'eth0');
    expect(formatIpv4(decodeChecked(p).ip.src)).toBe('172.18.0.2');
    expect(r.conntrack.flushMasquerade('eth0', 0xac120002)).toBe(1);
    expect(r.conntrack.entries()).toHaveLength(0);
  });
});
