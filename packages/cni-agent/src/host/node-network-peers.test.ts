import { parseCidr, parseIpv4 } from '@podnet/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RemoteNode } from '../backends/backend.js';
import { HostNetwork } from './host-network.js';
import { ensureNodeNetworkPeer, nodeNetworkAnnotations, removeNodeNetworkPeer } from './node-network-peers.js';

let host: HostNetwork;
const remote: RemoteNode = {
  name: 'node-2',
  podCidr: parseCidr('10.244.2.0/24'),
  nodeIp: parseIpv4('172.18.0.3'),
  transportAddress: '127.0.0.2',
  vxlanPort: 4789,
  uplinkPort: 4790,
};

beforeAll(async () => {
  host = await HostNetwork.create({ node: `nn-peers-${process.pid}`, nodeIp: '172.18.0.2', transportAddress: '127.0.0.1', uplinkPort: 0 });
});
afterAll(async () => {
  await host.close();
});

describe('node network peers (eth0 joins every node, whatever the backend)', () => {
  it('sets the peer once, is idempotent, and restores a changed transport', () => {
    expect(host.eth0.peers.get(remote.nodeIp)).toBeUndefined();
    expect(ensureNodeNetworkPeer(host, remote)).toBe(1);
    expect(host.eth0.peers.get(remote.nodeIp)).toEqual({ address: '127.0.0.2', port: 4790 });
    expect(ensureNodeNetworkPeer(host, remote)).toBe(0);
    expect(ensureNodeNetworkPeer(host, { ...remote, uplinkPort: 4791 })).toBe(1);
    expect(host.eth0.peers.get(remote.nodeIp)).toEqual({ address: '127.0.0.2', port: 4791 });
  });

  it('forgets the peer and its neighbour entry on removal', () => {
    host.ns.addNeighbour('eth0', '172.18.0.3', 0x02_00_ac_12_00_03);
    removeNodeNetworkPeer(host, remote);
    expect(host.eth0.peers.get(remote.nodeIp)).toBeUndefined();
    expect(host.ns.neighbours.get('eth0', remote.nodeIp)).toBeUndefined();
  });

  it('publishes the port the eth0 wire really listens on', () => {
    const port = host.eth0.localPort;
    expect(port).toBeGreaterThan(0);
    expect(nodeNetworkAnnotations(host)).toEqual({ 'podnet.dev/uplink-port': String(port) });
  });
});
