// Acceptance 1: two pods on one node's bridge (veth pairs into cni0 in the host namespace):
// ping both ways, a UDP exchange, and UDP to a closed port answered by ICMP port unreachable,
// which a connected socket reports as ECONNREFUSED.
import { afterEach, describe, expect, it } from 'vitest';
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
