// host-gw routing over node uplinks (`eth0`): one Ethernet frame per real UDP datagram between
// node transport addresses; ARP broadcasts reach every peer; routes `10.244.N.0/24 via <node IP>`.
import { macFromIpv4, parseIpv4 } from '@podnet/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interopRequired } from '../../../../test/support/interop.ts';
import { addPod, type BridgeTopology, podsOnBridge } from '../testing/topology.js';
import { UplinkLink } from './uplink.js';

describe('uplink (host-gw)', () => {
  const nodes: Array<BridgeTopology & { uplink: UplinkLink }> = [];
  beforeAll(async () => {
    for (const n of [1, 2]) {
      const t = podsOnBridge(0, { subnet: `10.244.${n}`, seed: n });
      addPod(t, `pod-${n}`, `10.244.${n}.2`);
      const nodeIp = `172.18.0.${n + 1}`;
      const uplink = t.host.addLink(
        new UplinkLink({ mac: macFromIpv4(parseIpv4(nodeIp)), nodeIp: parseIpv4(nodeIp), localAddress: `127.0.1.${n}`, port: 0 }),
      );
      await uplink.open();
      t.host.addAddress('eth0', `${nodeIp}/16`);
      nodes.push(Object.assign(t, { uplink }));
    }
    for (const [a, b] of [
      [0, 1],
      [1, 0],
    ] as const) {
      const me = nodes[a] as (typeof nodes)[0];
      const other = nodes[b] as (typeof nodes)[0];
      me.uplink.setPeer(other.uplink.nodeIp, { address: other.uplink.localAddress, port: other.uplink.localPort });
      me.host.addRoute({ dst: `10.244.${b + 1}.0/24`, via: `172.18.0.${b + 2}`, dev: 'eth0' });
    }
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('pod to pod across nodes, ARP resolved over the uplink, no encapsulation', async () => {
    const [n1, n2] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const r = await n1.pods[0]?.ns.ping('10.244.2.2', { timeoutMs: 5000 });
    expect(r).toMatchObject({ from: '10.244.2.2', ttl: 62 });
    expect(n1.host.neighbours.get('eth0', parseIpv4('172.18.0.3'))?.mac).toBe(n2.uplink.mac);
    // One datagram per frame: what left n1's eth0 arrived on n2's, ARP included.
    expect(n2.uplink.counters.rxPackets).toBe(n1.uplink.counters.txPackets);
  });

  it('TCP pod to pod: super-frames leave eth0 in UDP GSO runs to the one peer, arrive as UDP GRO messages, byte-exact', async () => {
    const [n1, n2] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const body = Buffer.alloc(1 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >>> 10)) & 0xff;
    const chunks: Buffer[] = [];
    const done = new Promise<void>((resolve) => {
      const server = n2.pods[0]?.ns.tcp.createServer((socket) => {
        socket.on('data', (d: Buffer) => chunks.push(d));
        socket.on('end', () => {
          socket.end();
          server?.close();
          resolve();
        });
      });
      server?.listen(8080);
    });
    n1.pods[0]?.ns.tcp.connect({ host: '10.244.2.2', port: 8080 }).end(body);
    await done;
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
    const sent = n1.uplink.udpOffloadCounters;
    const got = n2.uplink.udpOffloadCounters;
    // Without the addon (and not required here) the frames went one datagram each: still exact.
    if (sent === undefined && !interopRequired) return;
    expect(n1.uplink.udpSegmentationOff).toBeUndefined();
    expect(sent?.gsoSends).toBeGreaterThan(0);
    expect(sent?.gsoDatagrams).toBeGreaterThan(body.length / 1500 / 2);
    expect(got?.groMessages).toBeGreaterThan(0);
  });
});
