// host-gw routing over node uplinks (`eth0`): one Ethernet frame per real UDP datagram between
// node transport addresses; ARP broadcasts reach every peer; routes `10.244.N.0/24 via <node IP>`.
import { macFromIpv4, parseIpv4 } from '@podnet/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
