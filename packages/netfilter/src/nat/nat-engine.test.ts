import { formatIpv4, icmpv4, ipv4, SeededRng, udp } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../wire/src/testing/fake-clock.ts';
import type { NatRange } from '../conntrack/contract.ts';
import { ConntrackError } from '../conntrack/errors.ts';
import { listText } from '../conntrack/listing.ts';
import { Conntrack } from '../conntrack/tracker.ts';
import type { HookPacket } from '../hook.ts';
import {
  context,
  decodeChecked,
  forward,
  type HandRules,
  icmpEcho,
  icmpError,
  ip,
  newState,
  sctpPacket,
  TCP,
  tcpPacket,
  udpPacket,
} from '../testing/conntrack-packets.ts';
import { checkNatRange, Nat, natRangeProblem } from './nat-engine.ts';

const CLIENT = '10.244.1.2';
const VIP = '10.96.0.10';
const EP1 = '10.244.2.3';
const EP2 = '10.244.2.4';
const NODE = '172.18.0.2';

function setup(options: { max?: number } = {}) {
  const clock = new FakeClock();
  const ct = new Conntrack({ clock, gcIntervalMs: 0, ...options });
  const nat = new Nat(ct, { rng: new SeededRng(7) });
  return { clock, ct, nat };
}

function endpoints(p: HookPacket) {
  const d = decodeChecked(p);
  const l4 = d.ip.payload;
  const ports = d.ip.protocol === 6 || d.ip.protocol === 17 || d.ip.protocol === 132 ? `:${l4.readUInt16BE(0)}>:${l4.readUInt16BE(2)}` : '';
  return { flow: `${formatIpv4(d.ip.src)}>${formatIpv4(d.ip.dst)}${ports}`, ok: d.checksumsOk };
}

const single = (addr: string, port?: number): NatRange =>
  port === undefined
    ? { minAddress: ip(addr), maxAddress: ip(addr) }
    : { minAddress: ip(addr), maxAddress: ip(addr), minPort: port, maxPort: port };

describe('DNAT (a Service VIP to an endpoint)', () => {
  it('rewrites the connection to the endpoint and un-NATs replies so the client sees the Service IP:port', () => {
    const { ct, nat } = setup();
    const rules: HandRules = { dnat: (p) => (decodeChecked(p).ip.dst === ip(VIP) ? single(EP1, 8080) : undefined) };
    const syn = tcpPacket({ src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP.SYN, seq: 100 });
    const r1 = forward(ct, nat, syn, rules, 'cni0', 'cni0');
    expect(r1.verdict.kind).toBe('accept');
    expect(endpoints(syn)).toEqual({ flow: `${CLIENT}>${EP1}:40000>:8080`, ok: true });
    expect(ct.info(r1.state)).toMatchObject({ state: 'NEW', dnat: true, snat: false });

    const synack = tcpPacket({ src: EP1, dst: CLIENT, sport: 8080, dport: 40000, flags: TCP.SYN | TCP.ACK, seq: 900, ack: 101 });
    forward(ct, nat, synack, rules, 'cni0', 'cni0');
    expect(endpoints(synack)).toEqual({ flow: `${VIP}>${CLIENT}:80>:40000`, ok: true });

    const ack = tcpPacket({ src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP.ACK, seq: 101, ack: 901, data: Buffer.from('hi') });
    forward(ct, nat, ack, rules, 'cni0', 'cni0');
    expect(endpoints(ack)).toEqual({ flow: `${CLIENT}>${EP1}:40000>:8080`, ok: true });
    expect(listText(ct)).toEqual([
      `tcp      6 300 ESTABLISHED src=${CLIENT} dst=${VIP} sport=40000 dport=80 src=${EP1} dst=${CLIENT} sport=8080 dport=40000 [ASSURED] mark=0 use=1`,
    ]);
  });

  it('a connection survives a restore that removes its rule: the binding lives in the entry', () => {
    const { ct, nat } = setup();
    let target: string | undefined = EP1;
    const rules: HandRules = { dnat: () => (target ? single(target, 8080) : undefined) };
    forward(ct, nat, udpPacket(CLIENT, 5000, VIP, 53), rules, 'eth0', 'eth1');
    target = undefined; // the rule set no longer has the DNAT rule
    const later = udpPacket(CLIENT, 5000, VIP, 53);
    forward(ct, nat, later, rules, 'eth0', 'eth1');
    expect(endpoints(later).flow).toBe(`${CLIENT}>${EP1}:5000>:8080`);
    target = EP2; // or sends new connections elsewhere
    const other = udpPacket(CLIENT, 5001, VIP, 53);
    forward(ct, nat, other, rules, 'eth0', 'eth1');
    expect(endpoints(other).flow).toBe(`${CLIENT}>${EP2}:5001>:8080`);
    const still = udpPacket(CLIENT, 5000, VIP, 53);
    forward(ct, nat, still, rules, 'eth0', 'eth1');
    expect(endpoints(still).flow).toBe(`${CLIENT}>${EP1}:5000>:8080`);
  });

  it('the nat table is consulted for the first packet only, once per manip type', () => {
    const { ct, nat } = setup();
    let lookups = 0;
    const rules: HandRules = {
      dnat: () => {
        lookups++;
        return single(EP1, 80);
      },
    };
    forward(ct, nat, udpPacket(CLIENT, 5000, VIP, 53), rules, 'a', 'b');
    forward(ct, nat, udpPacket(CLIENT, 5000, VIP, 53), rules, 'a', 'b');
    forward(ct, nat, udpPacket(EP1, 80, CLIENT, 5000), rules, 'b', 'a');
    expect(lookups).toBe(1);
    const s = newState();
    ct.track('PREROUTING', udpPacket(CLIENT, 5000, VIP, 53), context('PREROUTING', 'a'), s);
    expect(nat.needsLookup('PREROUTING', s)).toBe(false);
    expect(nat.needsLookup('FORWARD', s)).toBe(false);
  });

  it('spreads a --to-destination a-b range by a hash of the addresses, the same client always to the same endpoint', () => {
    const { ct, nat } = setup();
    const range: NatRange = { minAddress: ip('10.244.2.1'), maxAddress: ip('10.244.2.8'), minPort: 8080, maxPort: 8080 };
    const seen = new Map<string, string>();
    for (let i = 1; i <= 40; i++) {
      const client = `10.244.1.${i}`;
      for (const sport of [1000, 2000]) {
        const p = udpPacket(client, sport, VIP, 53);
        forward(ct, nat, p, { dnat: () => range }, 'a', 'b');
        const dst = formatIpv4(decodeChecked(p).ip.dst);
        expect(dst).toMatch(/^10\.244\.2\.[1-8]$/);
        if (seen.has(client)) expect(dst).toBe(seen.get(client));
        seen.set(client, dst);
      }
    }
    expect(new Set(seen.values()).size).toBeGreaterThan(3);
  });
});

describe('SNAT and MASQUERADE', () => {
  it('SNAT rewrites the source and reverses it on replies, UDP checksums kept right', () => {
    const { ct, nat } = setup();
    const rules: HandRules = { snat: () => single(NODE) };
    const out = udpPacket(CLIENT, 6000, '192.0.2.50', 53);
    forward(ct, nat, out, rules, 'cni0', 'eth0');
    expect(endpoints(out)).toEqual({ flow: `${NODE}>192.0.2.50:6000>:53`, ok: true });
    const back = udpPacket('192.0.2.50', 53, NODE, 6000);
    forward(ct, nat, back, rules, 'eth0', 'cni0');
    expect(endpoints(back)).toEqual({ flow: `192.0.2.50>${CLIENT}:53>:6000`, ok: true });
  });

  it('two clients behind one MASQUERADE with the same source port get distinct reply tuples', () => {
    const { ct, nat } = setup();
    const addrs = { interfaces: { eth0: NODE } };
    const rules: HandRules = { masquerade: () => ({}) };
    const a = tcpPacket({ src: '10.244.1.2', dst: '192.0.2.80', sport: 33333, dport: 80, flags: TCP.SYN, seq: 1 });
    const b = tcpPacket({ src: '10.244.1.3', dst: '192.0.2.80', sport: 33333, dport: 80, flags: TCP.SYN, seq: 1 });
    forward(ct, nat, a, rules, 'cni0', 'eth0', addrs);
    forward(ct, nat, b, rules, 'cni0', 'eth0', addrs);
    const fa = endpoints(a);
    const fb = endpoints(b);
    expect(fa).toEqual({ flow: `${NODE}>192.0.2.80:33333>:80`, ok: true });
    expect(fb.ok).toBe(true);
    const portB = decodeChecked(b).ip.payload.readUInt16BE(0);
    expect(portB).not.toBe(33333);
    expect(portB).toBeGreaterThanOrEqual(1024);
    const [ea, eb] = ct.entries();
    expect(ea?.reply.dstPort).toBe(33333);
    expect(eb?.reply.dstPort).toBe(portB);
    // Each reply goes back to its own client.
    const ra = tcpPacket({ src: '192.0.2.80', dst: NODE, sport: 80, dport: 33333, flags: TCP.SYN | TCP.ACK, seq: 50, ack: 2 });
    const rb = tcpPacket({ src: '192.0.2.80', dst: NODE, sport: 80, dport: portB, flags: TCP.SYN | TCP.ACK, seq: 50, ack: 2 });
    forward(ct, nat, ra, rules, 'eth0', 'cni0', addrs);
    forward(ct, nat, rb, rules, 'eth0', 'cni0', addrs);
    expect(endpoints(ra)).toEqual({ flow: '192.0.2.80>10.244.1.2:80>:33333', ok: true });
    expect(endpoints(rb)).toEqual({ flow: '192.0.2.80>10.244.1.3:80>:33333', ok: true });
  });

  it('a source already mapped keeps its mapping for new connections to other servers (find_appropriate_src)', () => {
    const { ct, nat } = setup();
    const addrs = { interfaces: { eth0: NODE } };
    const rules: HandRules = { masquerade: () => ({}) };
    forward(ct, nat, udpPacket('10.244.1.2', 5000, '192.0.2.9', 53), rules, 'cni0', 'eth0', addrs);
    const clash = udpPacket('10.244.1.3', 5000, '192.0.2.9', 53);
    forward(ct, nat, clash, rules, 'cni0', 'eth0', addrs);
    const mapped = decodeChecked(clash).ip.payload.readUInt16BE(0);
    expect(mapped).not.toBe(5000);
    const elsewhere = udpPacket('10.244.1.3', 5000, '192.0.2.10', 53);
    forward(ct, nat, elsewhere, rules, 'cni0', 'eth0', addrs);
    expect(decodeChecked(elsewhere).ip.payload.readUInt16BE(0)).toBe(mapped);
    // The first client keeps its own port to the new server too.
    const first = udpPacket('10.244.1.2', 5000, '192.0.2.10', 54);
    forward(ct, nat, first, rules, 'cni0', 'eth0', addrs);
    expect(decodeChecked(first).ip.payload.readUInt16BE(0)).toBe(5000);
  });

  it('a null binding also reallocates a clashing source port (nf_nat_alloc_null_binding)', () => {
    const { ct, nat } = setup();
    // Client A was SNATed to the node's address and port 7000; the node itself then uses 7000 to the same server.
    forward(ct, nat, udpPacket(CLIENT, 7000, '192.0.2.9', 53), { snat: () => single(NODE) }, 'cni0', 'eth0');
    const own = udpPacket(NODE, 7000, '192.0.2.9', 53);
    forward(ct, nat, own, {}, 'lo', 'eth0');
    const port = decodeChecked(own).ip.payload.readUInt16BE(0);
    expect(port).not.toBe(7000);
    expect(endpoints(own).ok).toBe(true);
  });

  it('--random-fully picks seeded random ports even without a clash; --to-source ports stay in the range', () => {
    const { ct, nat } = setup();
    const ports: number[] = [];
    for (let i = 0; i < 5; i++) {
      const p = udpPacket(CLIENT, 9000 + i, '192.0.2.9', 53);
      forward(ct, nat, p, { masquerade: () => ({ randomFully: true }) }, 'cni0', 'eth0', { interfaces: { eth0: NODE } });
      ports.push(decodeChecked(p).ip.payload.readUInt16BE(0));
    }
    expect(ports.some((p, i) => p !== 9000 + i)).toBe(true);
    for (const p of ports) expect(p).toBeGreaterThanOrEqual(1024);
    const again = setup();
    const replay: number[] = [];
    for (let i = 0; i < 5; i++) {
      const p = udpPacket(CLIENT, 9000 + i, '192.0.2.9', 53);
      forward(again.ct, again.nat, p, { masquerade: () => ({ randomFully: true }) }, 'cni0', 'eth0', { interfaces: { eth0: NODE } });
      replay.push(decodeChecked(p).ip.payload.readUInt16BE(0));
    }
    expect(replay).toEqual(ports); // same seed, same ports
    const ranged = udpPacket(CLIENT, 1234, '192.0.2.9', 53);
    forward(ct, nat, ranged, { snat: () => ({ ...single(NODE), minPort: 20000, maxPort: 20010 }) }, 'cni0', 'eth0');
    const rp = decodeChecked(ranged).ip.payload.readUInt16BE(0);
    expect(rp).toBeGreaterThanOrEqual(20000);
    expect(rp).toBeLessThanOrEqual(20010);
  });

  it('MASQUERADE drops when the out interface has no address, and its entries go when the address does', () => {
    const { ct, nat } = setup();
    const p = udpPacket(CLIENT, 1, '192.0.2.9', 53);
    const r = forward(ct, nat, p, { masquerade: () => ({}) }, 'cni0', 'eth9', { interfaces: {} });
    expect(r.verdict).toMatchObject({ kind: 'drop' });
    expect(ct.entries()).toHaveLength(0);
    forward(ct, nat, udpPacket(CLIENT, 2, '192.0.2.9', 53), { masquerade: () => ({}) }, 'cni0', 'eth0', { interfaces: { eth0: NODE } });
    forward(ct, nat, udpPacket(CLIENT, 3, '192.0.2.9', 53), { snat: () => single(NODE) }, 'cni0', 'eth0');
    expect(ct.flushMasquerade('eth1')).toBe(0);
    expect(ct.flushMasquerade('eth0', ip(NODE))).toBe(1);
    expect(ct.entries().map((e) => e.original.srcPort)).toEqual([3]);
  });

  it('a masqueraded connection routed out another interface is killed and its packet dropped (nf_nat_oif_changed)', () => {
    const { ct, nat } = setup();
    const addrs = { interfaces: { eth0: NODE, eth1: '172.19.0.2' } };
    const rules: HandRules = { masquerade: () => ({}) };
    forward(ct, nat, udpPacket(CLIENT, 7000, '192.0.2.9', 53), rules, 'cni0', 'eth0', addrs);
    const moved = forward(ct, nat, udpPacket(CLIENT, 7000, '192.0.2.9', 53), rules, 'cni0', 'eth1', addrs);
    expect(moved.verdict).toEqual({ kind: 'drop', reason: 'masquerade: out interface changed from eth0 to eth1' });
    expect(ct.entries()).toHaveLength(0);
    const fresh = udpPacket(CLIENT, 7000, '192.0.2.9', 53);
    forward(ct, nat, fresh, rules, 'cni0', 'eth1', addrs);
    expect(endpoints(fresh).flow).toBe('172.19.0.2>192.0.2.9:7000>:53');
  });

  it('hairpin: a pod reaching itself through its Service is DNATed and masqueraded, and the reply is un-NATed both ways', () => {
    const { ct, nat } = setup();
    const addrs = { interfaces: { cni0: '10.244.1.1' } };
    const rules: HandRules = { dnat: () => single(CLIENT, 8080), masquerade: () => ({}) };
    const p = tcpPacket({ src: CLIENT, dst: VIP, sport: 45000, dport: 80, flags: TCP.SYN, seq: 1 });
    forward(ct, nat, p, rules, 'cni0', 'cni0', addrs);
    expect(endpoints(p)).toEqual({ flow: `10.244.1.1>${CLIENT}:45000>:8080`, ok: true });
    const reply = tcpPacket({ src: CLIENT, dst: '10.244.1.1', sport: 8080, dport: 45000, flags: TCP.SYN | TCP.ACK, seq: 9, ack: 2 });
    forward(ct, nat, reply, rules, 'cni0', 'cni0', addrs);
    expect(endpoints(reply)).toEqual({ flow: `${VIP}>${CLIENT}:80>:45000`, ok: true });
  });
});

describe('NAT of other protocols and of ICMP errors', () => {
  it('ICMP echo: the id is reallocated on a clash and restored on the reply', () => {
    const { ct, nat } = setup();
    const rules: HandRules = { snat: () => single(NODE) };
    const a = icmpEcho('10.244.1.2', '192.0.2.1', 55);
    const b = icmpEcho('10.244.1.3', '192.0.2.1', 55);
    forward(ct, nat, a, rules, 'cni0', 'eth0');
    forward(ct, nat, b, rules, 'cni0', 'eth0');
    const idA = (icmpv4.decode(decodeChecked(a).ip.payload) as { identifier: number }).identifier;
    const idB = (icmpv4.decode(decodeChecked(b).ip.payload) as { identifier: number }).identifier;
    expect(idA).toBe(55);
    expect(idB).not.toBe(55);
    expect(endpoints(b).ok).toBe(true);
    const back = icmpEcho('192.0.2.1', NODE, idB, true);
    forward(ct, nat, back, rules, 'eth0', 'cni0');
    const d = decodeChecked(back);
    expect(formatIpv4(d.ip.dst)).toBe('10.244.1.3');
    expect((icmpv4.decode(d.ip.payload) as { identifier: number }).identifier).toBe(55);
    expect(d.checksumsOk).toBe(true);
  });

  it('SCTP: the CRC32c is recomputed when a port changes', () => {
    const { ct, nat } = setup();
    const p = sctpPacket(CLIENT, 5000, VIP, 80, 1);
    forward(ct, nat, p, { dnat: () => single(EP1, 9090) }, 'a', 'b');
    expect(endpoints(p)).toEqual({ flow: `${CLIENT}>${EP1}:5000>:9090`, ok: true });
  });

  it('an ICMP error about a DNATed connection is RELATED and its quoted header is translated back (nf_nat_icmp_reply_translation)', () => {
    const { ct, nat } = setup();
    const rules: HandRules = { dnat: () => single(EP1, 8080) };
    const req = udpPacket(CLIENT, 5353, VIP, 53);
    forward(ct, nat, req, rules, 'eth0', 'eth1');
    // The endpoint answers with port unreachable, quoting the packet it got (to EP1:8080).
    const err = icmpError(EP1, CLIENT, req, 3);
    const r = forward(ct, nat, err, rules, 'eth1', 'eth0');
    expect(ct.info(r.state)).toMatchObject({ state: 'RELATED', direction: 'reply' });
    const d = decodeChecked(err);
    expect(d.checksumsOk).toBe(true);
    expect(formatIpv4(d.ip.src)).toBe(VIP);
    expect(formatIpv4(d.ip.dst)).toBe(CLIENT);
    const icmp = icmpv4.decode(d.ip.payload);
    if (icmp.kind !== 'destination-unreachable') throw new Error(`expected an unreachable, got ${icmp.kind}`);
    // The quote is the header and 8 bytes of the datagram (RFC 792), too short for ipv4.decode.
    const q = icmp.quote;
    expect(formatIpv4(q.readUInt32BE(12))).toBe(CLIENT);
    expect(formatIpv4(q.readUInt32BE(16))).toBe(VIP);
    expect(ipv4.checksumValid(q)).toBe(true);
    const quotedUdp = q.subarray(20);
    expect(quotedUdp.readUInt16BE(0)).toBe(5353);
    expect(quotedUdp.readUInt16BE(2)).toBe(53);
    // The client sees exactly the packet it sent quoted: the UDP checksum is the one it computed.
    const sent = udpPacket(CLIENT, 5353, VIP, 53);
    expect(quotedUdp.readUInt16BE(6)).toBe(udp.decode(decodeChecked(sent).ip.payload).checksum);
  });

  it('a REJECT of a DNATed packet: the ICMP error the router sends relates to the unconfirmed entry and quotes the Service (nf_ct_attach)', () => {
    const { ct, nat } = setup();
    const req = udpPacket(CLIENT, 5300, VIP, 53);
    const state = newState();
    const pre = context('PREROUTING', 'eth0');
    ct.track('PREROUTING', req, pre, state);
    nat.setup('DST', single(EP1, 5353), req, pre, state);
    nat.apply('PREROUTING', req, pre, state);
    // filter FORWARD rejects it: the packet dies unconfirmed, and the stack answers from the router.
    const err = icmpError('10.0.0.1', CLIENT, req, 3);
    const es = newState();
    const out = context('OUTPUT', undefined, 'eth0');
    expect(ct.track('OUTPUT', err, out, es)).toBeUndefined();
    expect(ct.info(es)).toMatchObject({ state: 'RELATED', direction: 'reply', dnat: true });
    nat.apply('OUTPUT', err, out, es);
    nat.apply('POSTROUTING', err, context('POSTROUTING', undefined, 'eth0'), es);
    expect(ct.confirm(es)).toBeUndefined();
    const d = decodeChecked(err);
    expect(d.checksumsOk).toBe(true);
    expect(formatIpv4(d.ip.src)).toBe(VIP);
    const icmp = icmpv4.decode(d.ip.payload);
    if (icmp.kind !== 'destination-unreachable') throw new Error('expected an unreachable');
    expect(formatIpv4(icmp.quote.readUInt32BE(16))).toBe(VIP);
    expect(icmp.quote.readUInt16BE(22)).toBe(53);
    expect(ct.entries()).toHaveLength(0);
  });

  it('a TCP reset answering a rejected DNATed SYN comes from the Service address (the RST is attached to its entry)', () => {
    const { ct, nat } = setup();
    const syn = tcpPacket({ src: CLIENT, dst: VIP, sport: 41000, dport: 80, flags: TCP.SYN, seq: 10 });
    const state = newState();
    const pre = context('PREROUTING', 'eth0');
    ct.track('PREROUTING', syn, pre, state);
    nat.setup('DST', single(EP1, 8080), syn, pre, state);
    nat.apply('PREROUTING', syn, pre, state);
    // REJECT --reject-with tcp-reset in FORWARD: the router answers for the endpoint.
    const rst = tcpPacket({ src: EP1, dst: CLIENT, sport: 8080, dport: 41000, flags: TCP.RST | TCP.ACK, seq: 0, ack: 11 });
    const rs = newState();
    const out = context('OUTPUT', undefined, 'eth0');
    ct.track('OUTPUT', rst, out, rs);
    expect(ct.info(rs)).toMatchObject({ state: 'RELATED', direction: 'reply' });
    nat.apply('OUTPUT', rst, out, rs);
    nat.apply('POSTROUTING', rst, context('POSTROUTING', undefined, 'eth0'), rs);
    expect(endpoints(rst)).toEqual({ flow: `${VIP}>${CLIENT}:80>:41000`, ok: true });
    expect(ct.confirm(rs)).toBeUndefined();
    expect(ct.entries()).toHaveLength(0);
  });

  it('an ICMP error about a masqueraded TCP connection reaches the inside client with its own addresses quoted', () => {
    const { ct, nat } = setup();
    const rules: HandRules = { snat: () => single(NODE) };
    const syn = tcpPacket({ src: CLIENT, dst: '192.0.2.80', sport: 41000, dport: 443, flags: TCP.SYN, seq: 77 });
    forward(ct, nat, syn, rules, 'cni0', 'eth0');
    const err = icmpError('198.51.100.1', NODE, syn, 0, 'time-exceeded');
    forward(ct, nat, err, rules, 'eth0', 'cni0');
    const d = decodeChecked(err);
    expect(d.checksumsOk).toBe(true);
    expect(formatIpv4(d.ip.dst)).toBe(CLIENT);
    expect(formatIpv4(d.ip.src)).toBe('198.51.100.1');
    const icmp = icmpv4.decode(d.ip.payload);
    if (icmp.kind !== 'time-exceeded') throw new Error('expected time exceeded');
    const q = icmp.quote;
    expect(formatIpv4(q.readUInt32BE(12))).toBe(CLIENT);
    expect(ipv4.checksumValid(q)).toBe(true);
    expect(q.readUInt16BE(20)).toBe(41000);
  });
});

describe('NAT ranges', () => {
  it('says what is wrong with a range', () => {
    expect(natRangeProblem({ minAddress: ip('10.0.0.2'), maxAddress: ip('10.0.0.1') })).toMatch(/above the last/);
    expect(natRangeProblem({ minAddress: 1, maxAddress: 1, minPort: 9, maxPort: 3 })).toMatch(/first port/);
    expect(natRangeProblem({ minAddress: 1, maxAddress: 1, minPort: 9 })).toMatch(/both ends/);
    expect(natRangeProblem({ minAddress: 1, maxAddress: 1, minPort: 1, maxPort: 2 }, 1)).toMatch(/-p tcp, udp or sctp/);
    expect(natRangeProblem({ minAddress: 1, maxAddress: 1, minPort: 1, maxPort: 2 }, 6)).toBeUndefined();
    expect(() => checkNatRange({ minAddress: 2, maxAddress: 1 }, 'line 3')).toThrow(ConntrackError);
    expect(() => checkNatRange({ minAddress: 2, maxAddress: 1 }, 'line 3')).toThrow(/^line 3: bad NAT range/);
  });
});
