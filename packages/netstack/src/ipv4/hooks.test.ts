// The five netfilter hooks are called where Linux calls them (ip_input.c, ip_forward.c,
// ip_output.c, br_netfilter), with the right interfaces, one PacketState per packet, and the
// verdicts acted on: drop, reject (ICMP error or TCP RST), accept after an in-place DNAT (re-route).
import { ACCEPT, type HookPacket, type Verdict } from '@podnet/netfilter';
import { parseIpv4, readIpv4, updateChecksum32, writeIpv4 } from '@podnet/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { type HookCall, RecordingHooks } from '../testing/recording-hooks.js';
import { twoPodsOnBridge } from '../testing/topology.js';
import { twoNodesOverVxlan } from '../testing/two-nodes.js';
import { settle, waitFor } from '../testing/wait.js';

const icmp = (c: HookCall) => c.protocol === 1;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

/** A DNAT stand-in: rewrites the destination in place with the RFC 1624 header checksum update. */
function rewriteDst(packet: HookPacket, to: number): void {
  const at = packet.l3Offset;
  const old = readIpv4(packet.buf, at + 16);
  writeIpv4(packet.buf, at + 16, to);
  packet.buf.writeUInt16BE(updateChecksum32(packet.buf.readUInt16BE(at + 10), old, to), at + 10);
}

describe('hook call points', () => {
  it('bridged pod-to-pod traffic: PREROUTING, FORWARD, POSTROUTING with physdev ports', async () => {
    const hooks = new RecordingHooks();
    const t = twoPodsOnBridge({ hooks });
    cleanup = t.close;
    await t.a.ns.ping(t.b.ip, { timeoutMs: 5000 });
    const va = t.a.hostVeth.name;
    const vb = t.b.hostVeth.name;
    expect(hooks.trace(icmp)).toEqual([
      `PREROUTING cni0> [${va}>] bridged 10.244.1.2>10.244.1.3`,
      `FORWARD cni0>cni0 [${va}>${vb}] bridged 10.244.1.2>10.244.1.3`,
      `POSTROUTING >cni0 [>${vb}] bridged 10.244.1.2>10.244.1.3`,
      `PREROUTING cni0> [${vb}>] bridged 10.244.1.3>10.244.1.2`,
      `FORWARD cni0>cni0 [${vb}>${va}] bridged 10.244.1.3>10.244.1.2`,
      `POSTROUTING >cni0 [>${va}] bridged 10.244.1.3>10.244.1.2`,
    ]);
    const request = hooks.calls.filter(icmp).slice(0, 3);
    expect(new Set(request.map((c) => c.state)).size).toBe(1);
  });

  it('to and from the host: PREROUTING, INPUT; OUTPUT, POSTROUTING; loopback through all four', async () => {
    const hooks = new RecordingHooks();
    const t = twoPodsOnBridge({ hooks });
    cleanup = t.close;
    await t.a.ns.ping(t.gateway, { timeoutMs: 5000 });
    const va = t.a.hostVeth.name;
    expect(hooks.trace(icmp)).toEqual([
      `PREROUTING cni0> [${va}>] 10.244.1.2>10.244.1.1`,
      `INPUT cni0> [${va}>] 10.244.1.2>10.244.1.1`,
      'OUTPUT >cni0 10.244.1.1>10.244.1.2',
      'POSTROUTING >cni0 10.244.1.1>10.244.1.2',
    ]);
    hooks.clear();
    await t.host.ping('10.244.1.1', { timeoutMs: 5000 });
    expect(hooks.trace(icmp)).toEqual([
      'OUTPUT >lo 10.244.1.1>10.244.1.1',
      'POSTROUTING >lo 10.244.1.1>10.244.1.1',
      'PREROUTING lo> 10.244.1.1>10.244.1.1',
      'INPUT lo> 10.244.1.1>10.244.1.1',
      'OUTPUT >lo 10.244.1.1>10.244.1.1',
      'POSTROUTING >lo 10.244.1.1>10.244.1.1',
      'PREROUTING lo> 10.244.1.1>10.244.1.1',
      'INPUT lo> 10.244.1.1>10.244.1.1',
    ]);
  });

  it('routed across nodes: FORWARD from cni0 to flannel.1, and the marks travel with the packet', async () => {
    const hooks = new RecordingHooks({
      decide: (call, _p, _c, state) => {
        if (call.hook === 'PREROUTING') state.mark = 0x4000;
        return ACCEPT;
      },
    });
    const t = await twoNodesOverVxlan({ hooks: [hooks, undefined] });
    cleanup = t.close;
    await t.a.ns.ping(t.b.ip, { timeoutMs: 5000 });
    const va = t.n1.pods[0]?.hostVeth.name;
    const trace = hooks.trace(icmp);
    expect(trace.slice(0, 3)).toEqual([
      `PREROUTING cni0> [${va}>] 10.244.1.2>10.244.2.2`,
      `FORWARD cni0>flannel.1 [${va}>] 10.244.1.2>10.244.2.2`,
      'POSTROUTING cni0>flannel.1 10.244.1.2>10.244.2.2',
    ]);
    expect(trace.slice(3)).toEqual([
      'PREROUTING flannel.1> 10.244.2.2>10.244.1.2',
      'FORWARD flannel.1>cni0 10.244.2.2>10.244.1.2',
      'POSTROUTING flannel.1>cni0 10.244.2.2>10.244.1.2',
    ]);
    expect(
      hooks.calls
        .filter(icmp)
        .slice(1, 3)
        .map((c) => c.mark),
    ).toEqual([0x4000, 0x4000]);
  });

  it('drop at FORWARD: the ping is lost and the drop counted', async () => {
    const hooks = new RecordingHooks({ decide: (c): Verdict => (c.hook === 'FORWARD' ? { kind: 'drop', reason: 'test' } : ACCEPT) });
    const t = twoPodsOnBridge({ hooks });
    cleanup = t.close;
    await expect(t.a.ns.ping(t.b.ip, { timeoutMs: 300 })).rejects.toMatchObject({ code: 'PODNET_ERR_PING_TIMEOUT' });
    expect(t.host.ipCounters.dropped('netfilter-drop:test')).toBe(1);
  });

  it('reject with icmp-port-unreachable at INPUT: ECONNREFUSED on the connected socket', async () => {
    const hooks = new RecordingHooks({
      decide: (c): Verdict => (c.hook === 'INPUT' && c.protocol === 17 ? { kind: 'reject', with: 'icmp-port-unreachable' } : ACCEPT),
    });
    const t = twoPodsOnBridge({ hooks });
    cleanup = t.close;
    const s = t.host.udp.createSocket();
    await new Promise<void>((resolve) => s.bind(53, resolve));
    const c = t.a.ns.udp.createSocket();
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    c.connect(53, t.gateway);
    await settle();
    c.send('q');
    await waitFor('the reject', () => errors.length > 0);
    expect(errors[0]).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('reject with tcp-reset: a RST built from the offending segment (RFC 9293 §3.10.7.1)', async () => {
    const hooks = new RecordingHooks({
      decide: (c, packet): Verdict => {
        if (c.hook !== 'FORWARD' || c.protocol !== 6) return ACCEPT;
        synSeq = packet.buf.readUInt32BE(packet.l3Offset + 20 + 4);
        return { kind: 'reject', with: 'tcp-reset' };
      },
    });
    let synSeq = -1;
    const t = twoPodsOnBridge({ hooks });
    cleanup = t.close;
    // Pod A records what reaches its INPUT hook, to see the RST's bytes.
    const segments: Buffer[] = [];
    t.a.ns.hooks = new RecordingHooks({
      decide: (c, packet): Verdict => {
        if (c.hook === 'INPUT' && c.protocol === 6) segments.push(Buffer.from(packet.buf.subarray(packet.l3Offset + 20, packet.end)));
        return ACCEPT;
      },
    });
    const errors: Error[] = [];
    const socket = t.a.ns.tcp.connect({ port: 80, host: t.b.ip });
    socket.on('error', (e: Error) => errors.push(e));
    await waitFor('the RST', () => segments.length === 1 && errors.length === 1);
    expect(errors[0]).toMatchObject({ code: 'ECONNREFUSED' });
    const rst = segments[0] as Buffer;
    const syn = hooks.calls.find((c) => c.protocol === 6 && c.hook === 'FORWARD');
    expect(syn?.src).toBe(t.a.ip);
    // The SYN carried no ACK: the RST has seq 0, ack = SYN's seq + 1, and RST|ACK.
    expect({ sport: rst.readUInt16BE(0), dport: rst.readUInt16BE(2), seq: rst.readUInt32BE(4), flags: rst[13] }).toEqual({
      sport: 80,
      dport: socket.localPort,
      seq: 0,
      flags: 0x14,
    });
    expect(rst.readUInt32BE(8)).toBe((synSeq + 1) >>> 0);
  });

  it('DNAT at PREROUTING: the stack re-reads the destination and re-routes', async () => {
    const service = parseIpv4('10.96.0.10');
    const hooks = new RecordingHooks({
      decide: (c, packet): Verdict => {
        if (c.hook === 'PREROUTING' && c.dst === '10.96.0.10') rewriteDst(packet, parseIpv4('10.244.1.3'));
        return ACCEPT;
      },
    });
    const t = twoPodsOnBridge({ hooks });
    cleanup = t.close;
    const reply = await t.a.ns.ping(service, { timeoutMs: 5000 });
    // No conntrack here to reverse the NAT, so the reply comes from the pod itself.
    expect(reply.from).toBe('10.244.1.3');
    expect(hooks.trace(icmp).slice(0, 3)).toEqual([
      `PREROUTING cni0> [${t.a.hostVeth.name}>] 10.244.1.2>10.96.0.10`,
      `FORWARD cni0>cni0 [${t.a.hostVeth.name}>] 10.244.1.2>10.244.1.3`,
      'POSTROUTING cni0>cni0 10.244.1.2>10.244.1.3',
    ]);
  });

  it('with needsDefrag, PREROUTING sees the whole datagram, and it is fragmented again on the way out', async () => {
    const hooks = new RecordingHooks({ needsDefrag: true });
    const t = await twoNodesOverVxlan({ hooks: [hooks, undefined], podMtu: 1500 });
    cleanup = t.close;
    const server = t.b.ns.udp.createSocket();
    const got: Buffer[] = [];
    server.on('message', (m: Buffer) => got.push(m));
    server.bind(9000);
    await settle();
    t.a.ns.udp.createSocket().send(Buffer.alloc(4000, 1), 9000, t.b.ip);
    await waitFor('delivery', () => got.length === 1);
    expect(got[0]?.length).toBe(4000);
    const udpCalls = hooks.calls.filter((c) => c.protocol === 17);
    expect(udpCalls.map((c) => c.hook)).toEqual(['PREROUTING', 'FORWARD', 'POSTROUTING']);
  });
});

describe('defragmentation for conntrack on the bridge', () => {
  it('bridged fragments are reassembled before PREROUTING, then routed and fragmented again', async () => {
    const hooks = new RecordingHooks({ needsDefrag: true });
    const t = twoPodsOnBridge({ hooks });
    cleanup = t.close;
    const server = t.b.ns.udp.createSocket();
    const got: Buffer[] = [];
    server.on('message', (m: Buffer) => got.push(m));
    server.bind(9000);
    await settle();
    t.a.ns.udp.createSocket().send(Buffer.alloc(3000, 2), 9000, t.b.ip);
    await waitFor('delivery', () => got.length === 1);
    expect(got[0]?.length).toBe(3000);
    expect(hooks.calls.filter((c) => c.protocol === 17).map((c) => `${c.hook}${c.bridged ? ' bridged' : ''}`)).toEqual([
      'PREROUTING bridged',
      'FORWARD',
      'POSTROUTING',
    ]);
  });
});
