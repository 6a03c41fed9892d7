// Replies and established connections (Calico/kube-router behaviour, and what the API implies:
// policies decide connections, not packets): the conntrack RELATED,ESTABLISHED rule comes first in
// PODNET-POLICY, so a reply passes an isolated pod's default deny, and a policy added later does
// not cut a connection already established — only new connections are refused. Real packets
// through the real conntrack of both nodes.
import { describe, expect, it } from 'vitest';
import { TCP, tcpPacket, udpPacket } from '../../packages/netfilter/src/testing/conntrack-packets.ts';
import { Cluster } from './model.ts';

describe('NetworkPolicy and conntrack', () => {
  it('a deny-all policy added later does not cut an established TCP connection, but refuses new ones', () => {
    const c = new Cluster();
    const [client, server] = ['x/b', 'x/a'];
    expect(c.nodeOf(client)).not.toBe(c.nodeOf(server));
    const cs = { src: c.ip(client), dst: c.ip(server), sport: 41000, dport: 80 };
    const sc = { src: c.ip(server), dst: c.ip(client), sport: 80, dport: 41000 };
    expect(c.send(client, server, () => tcpPacket({ ...cs, flags: TCP.SYN, seq: 1000 }))).toBe(true);
    expect(c.send(server, client, () => tcpPacket({ ...sc, flags: TCP.SYN | TCP.ACK, seq: 5000, ack: 1001 }))).toBe(true);
    expect(c.send(client, server, () => tcpPacket({ ...cs, flags: TCP.ACK, seq: 1001, ack: 5001 }))).toBe(true);

    c.apply({ metadata: { namespace: 'x', name: 'deny-all' }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } });

    const data = Buffer.from('GET / HTTP/1.1\r\n\r\n');
    expect(c.send(client, server, () => tcpPacket({ ...cs, flags: TCP.ACK | TCP.PSH, seq: 1001, ack: 5001, data }))).toBe(true);
    expect(c.send(server, client, () => tcpPacket({ ...sc, flags: TCP.ACK, seq: 5001, ack: 1001 + data.length }))).toBe(true);
    // A new connection between the same pods is refused (DROP: the SYN just disappears).
    expect(c.probe(client, server, 80, 'TCP')).toBe(false);
    expect(c.send(client, server, () => tcpPacket({ ...cs, sport: 41001, flags: TCP.SYN, seq: 9000 }))).toBe(false);
  });

  it('replies of an allowed connection pass an isolated pod’s default deny (TCP and UDP)', () => {
    const c = new Cluster();
    c.apply({ metadata: { namespace: 'x', name: 'deny-ingress' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } });
    // x/a may still connect out (no egress policy); the answers come back in although nothing allows ingress to x/a.
    const out = { src: c.ip('x/a'), dst: c.ip('y/b'), sport: 42000, dport: 80 };
    const back = { src: c.ip('y/b'), dst: c.ip('x/a'), sport: 80, dport: 42000 };
    expect(c.send('x/a', 'y/b', () => tcpPacket({ ...out, flags: TCP.SYN, seq: 100 }))).toBe(true);
    expect(c.send('y/b', 'x/a', () => tcpPacket({ ...back, flags: TCP.SYN | TCP.ACK, seq: 700, ack: 101 }))).toBe(true);
    expect(c.send('x/a', 'y/b', () => udpPacket(c.ip('x/a'), 42001, c.ip('y/b'), 81))).toBe(true);
    expect(c.send('y/b', 'x/a', () => udpPacket(c.ip('y/b'), 81, c.ip('x/a'), 42001))).toBe(true);
    // A datagram y/b starts itself is NEW and denied.
    expect(c.send('y/b', 'x/a', () => udpPacket(c.ip('y/b'), 81, c.ip('x/a'), 42002))).toBe(false);
  });
});
