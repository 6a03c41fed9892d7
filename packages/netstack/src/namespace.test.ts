// Acceptance 1: two pods on one node's bridge (veth pairs into cni0 in the host namespace):
// ping both ways, a UDP exchange, and UDP to a closed port answered by ICMP port unreachable,
// which a connected socket reports as ECONNREFUSED.
import { formatIpv4, parseIpv4 } from '@podnet/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { VethLink } from './links/veth.js';
import { Namespace } from './namespace.js';
import { type BridgeTopology, twoPodsOnBridge } from './testing/topology.js';
import { waitFor } from './testing/wait.js';
import type { RemoteInfo } from './udp.js';

let topo:
  | (BridgeTopology & {
      a: { ns: import('./namespace.js').Namespace; ip: string };
      b: { ns: import('./namespace.js').Namespace; ip: string };
    })
  | undefined;
afterEach(async () => {
  await topo?.close();
  topo = undefined;
});

describe('two pods on a bridge', () => {
  it('ping both ways, and to the gateway', async () => {
    topo = twoPodsOnBridge();
    const { a, b, host } = topo;
    const ab = await a.ns.ping(b.ip, { timeoutMs: 5000 });
    expect(ab).toMatchObject({ from: b.ip, ttl: 64, bytes: 64 });
    expect(ab.rttMs).toBeGreaterThanOrEqual(0);
    const ba = await b.ns.ping(a.ip, { timeoutMs: 5000 });
    expect(ba.from).toBe(a.ip);
    expect((await a.ns.ping(topo.gateway, { timeoutMs: 5000 })).from).toBe('10.244.1.1');
    // ARP did its job on both sides, and the bridge learned both pods.
    expect(a.ns.neighbours.show()).toContain('10.244.1.3 dev eth0 lladdr 0a:58:0a:f4:01:03 REACHABLE');
    expect(
      topo.bridge.fdb
        .entries(host.clock.now())
        .map((e) => e.port.name)
        .sort(),
    ).toEqual([topo.pods[0]?.hostVeth.name, topo.pods[1]?.hostVeth.name].sort());
    const c = a.ns.counters();
    expect(c.eth0?.txPackets).toBeGreaterThan(0);
    expect(c.eth0?.rxPackets).toBeGreaterThan(0);
  });

  it('a UDP exchange', async () => {
    topo = twoPodsOnBridge();
    const { a, b } = topo;
    const server = b.ns.udp.createSocket();
    server.on('message', (msg: Buffer, rinfo: RemoteInfo) =>
      server.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address),
    );
    await new Promise<void>((resolve) => server.bind(5353, resolve));
    const client = a.ns.udp.createSocket();
    const got: Array<{ msg: string; rinfo: RemoteInfo }> = [];
    client.on('message', (msg: Buffer, rinfo: RemoteInfo) => got.push({ msg: msg.toString(), rinfo }));
    client.send('hello', 5353, b.ip);
    await waitFor('the echo', () => got.length === 1);
    expect(got[0]?.msg).toBe('echo:hello');
    expect(got[0]?.rinfo).toEqual({ address: b.ip, family: 'IPv4', port: 5353, size: 10 });
    expect(client.address()).toMatchObject({ address: '0.0.0.0', family: 'IPv4' });
    expect(client.address().port).toBeGreaterThanOrEqual(32768);
    // A second bind of a port in use fails, as in one pod sharing a port space.
    const again = b.ns.udp.createSocket();
    const error = await new Promise<Error>((resolve) => {
      again.on('error', resolve);
      again.bind(5353);
    });
    expect(error).toMatchObject({ code: 'EADDRINUSE' });
  });

  it('UDP to a closed port: ICMP port unreachable, ECONNREFUSED on a connected socket', async () => {
    topo = twoPodsOnBridge();
    const { a, b } = topo;
    const client = a.ns.udp.createSocket();
    const errors: Error[] = [];
    client.on('error', (e) => errors.push(e));
    await new Promise<void>((resolve) => client.connect(9999, b.ip, resolve));
    client.send('anyone?');
    await waitFor('the ICMP error', () => errors.length === 1);
    expect(errors[0]).toMatchObject({ code: 'ECONNREFUSED', syscall: 'recvmsg' });
    expect(b.ns.ipCounters.dropped('no-socket')).toBe(1);
  });
});

describe('namespace configuration', () => {
  it('refuses bad configuration with clear errors and changes nothing', async () => {
    const ns = new Namespace({ name: 'cfg' });
    const [x] = VethLink.pair({ name: 'eth0', mac: 0x0a5800000001 }, { name: 'peer0', mac: 0x0a5800000002 });
    ns.addLink(x);
    expect(() => ns.addLink(x)).toThrow(/eth0 exists already/);
    expect(() => ns.addAddress('eth9', '10.0.0.1/24')).toThrow(/no interface named "eth9"/);
    expect(() => ns.addAddress('eth0', '10.0.0.1')).toThrow(/ADDRESS\/PREFIX/);
    expect(() => ns.addAddress('eth0', '10.0.0.300/24')).toThrow(/ADDRESS\/PREFIX/);
    ns.addAddress('eth0', '10.0.0.1/24');
    expect(() => ns.addAddress('eth0', '10.0.0.1/24')).toThrow(/already assigned/);
    expect(() => ns.addRoute({ dst: '10.1.0.0/16', via: '10.9.9.9', dev: 'eth0' })).toThrow(/not on a connected subnet/);
    expect(() => VethLink.pair({ name: 'a-name-much-too-long', mac: 1 }, { name: 'b', mac: 2 })).toThrow(/not valid/);
    expect(() => VethLink.pair({ name: 'a', mac: 2 ** 49 }, { name: 'b', mac: 2 })).toThrow(/48-bit/);
    expect(() => VethLink.pair({ name: 'a', mac: 1, mtu: 20 }, { name: 'b', mac: 2 })).toThrow(/MTU 20/);
    expect(() => ns.registerTransport({ protocol: 17, receive: () => true, icmpError: () => {} })).toThrow(/already has a transport/);
    expect(ns.addresses('eth0')).toEqual([{ address: 0x0a000001, prefix: 24 }]);
    expect(ns.routes.show()).toEqual(['10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1']);
    await ns.close();
  });

  it('source address selection: the route preferred source, else the interface address on the next hop subnet', async () => {
    const ns = new Namespace({ name: 'src' });
    const [x] = VethLink.pair({ name: 'eth0', mac: 0x0a5800000001 }, { name: 'peer0', mac: 0x0a5800000002 });
    ns.addLink(x);
    ns.addAddress('eth0', '172.18.0.2/16');
    ns.addAddress('eth0', '192.168.5.2/24');
    ns.addRoute({ dst: 'default', via: '192.168.5.1', dev: 'eth0' });
    ns.addRoute({ dst: '10.96.0.0/12', via: '172.18.0.1', dev: 'eth0', src: '172.18.0.2' });
    const src = (d: string) => formatIpv4(ns.ip.sourceFor(parseIpv4(d)) ?? 0);
    expect(src('8.8.8.8')).toBe('192.168.5.2');
    expect(src('10.96.0.1')).toBe('172.18.0.2');
    expect(src('127.0.0.1')).toBe('127.0.0.1');
    expect(ns.ip.pathMtu(parseIpv4('8.8.8.8'))).toBe(1500);
    expect(ns.describe()).toContain('eth0: veth mtu 1500 UP 172.18.0.2/16 192.168.5.2/24');
    await ns.close();
  });
});
