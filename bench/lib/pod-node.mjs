// One emulated node with the real pod path, for the `kernel` benchmark group (pod-peer.mjs, path
// 'pod'): built from the cni-agent's own pieces, in the order its agent configures a node
// (packages/cni-agent/src/agent.ts #configure), so a bench segment crosses the code a cluster's does:
//   HostNetwork (eth0 uplink, netfilter with conntrack and NAT as the namespace's hooks, ip_forward=1)
//   → configurePodCidr (cni0 bridge, 10.244.N.1/24) → backend.setup (vxlan: flannel.1 10.244.N.0/32)
//   → ensureMasquerade (flannel's FLANNEL-POSTRTG) → a kube-proxy rule set of SERVICES Services
//   restored with --noflush as kube-proxy does (bench/lib/kube-proxy-rules.js)
//   → CNI ADD on the CniEndpoint (host-local IPAM: the first pod is 10.244.N.2; its host veth
//   vethXXXXXXXX a port of cni0) → the pod namespace's eth0 connected to that veth's unix socket and
//   addressed/routed from the ADD result, as node-agent's Sandbox#attach does.
// Not in it: the pod in a process of its own. Here the pod namespace lives in the node's process,
// so its eth0 and the host veth are the two ends of a real unix socket inside one process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniEndpoint, ensureMasquerade, HostGwBackend, HostNetwork, VxlanBackend } from '@podnet/cni-agent';
import { Namespace, UnixSocketVeth } from '@podnet/netstack';
import { sandboxNetworkOf } from '@podnet/node-agent';
import { parseCidr, parseIpv4, parseMac } from '@podnet/wire';
import { renderKubeProxyRules, syntheticServices } from './kube-proxy-rules.js';

export const CLUSTER_CIDR = '10.244.0.0/16';
/** kube-proxy rule set size in each node's netfilter (each Service: 10 endpoints, every 10th a NodePort). */
export const SERVICES = 100;

const CNI_CONFIG = JSON.stringify({
  cniVersion: '1.0.0',
  name: 'podnet',
  plugins: [{ type: 'podnet', bridge: 'cni0', isGateway: true, ipMasq: true, ipam: { type: 'host-local' } }],
});

/** The pod address CNI ADD gives the first pod of node `n` (host-local: .0 network, .1 gateway). */
export const podAddress = (n) => `10.244.${n}.2`;

/**
 * @param {{index: number, backend: 'vxlan'|'host-gw', transport: string}} o
 * @returns {Promise<{pod: Namespace, host: HostNetwork, underlay: object, ports: {vxlanPort: number, uplinkPort: number},
 *   peer(remote: {index: number, vxlanPort: number, uplinkPort: number}): void, close(): Promise<void>}>}
 */
export async function createPodPathNode({ index, backend: backendName, transport }) {
  if (backendName !== 'vxlan' && backendName !== 'host-gw') throw new Error(`pod-node: backend "${backendName}" is not vxlan or host-gw`);
  const node = `bench-node-${index}`;
  const transportAddress = `${transport}.${index}`;
  const dataDir = mkdtempSync(join(tmpdir(), `podnet-bench-${process.pid}-n${index}-`));
  const host = await HostNetwork.create({ node, nodeIp: `172.18.0.${index + 1}`, transportAddress, uplinkPort: 0 });
  const backend = backendName === 'vxlan' ? new VxlanBackend({ node, transportAddress, port: 0 }) : new HostGwBackend();
  const podCidr = parseCidr(`10.244.${index}.0/24`, { strict: true });
  await backend.open(host);
  host.configurePodCidr(podCidr, backend.mtu);
  await backend.setup(host, podCidr);
  ensureMasquerade(host.netfilter, CLUSTER_CIDR, `10.244.${index}.0/24`);
  host.netfilter.restore(renderKubeProxyRules({ services: syntheticServices(SERVICES, 10), clusterCIDR: CLUSTER_CIDR }), {
    noflush: true,
  });
  const endpoint = new CniEndpoint({ dataDir, host, mtu: backend.mtu, podCidr: () => podCidr });
  const containerId = `bench-pod-${index}`;
  const netns = `cni-bench-${process.pid}-${index}`;
  const answer = await endpoint.handle({ command: 'ADD', containerId, netns, ifname: 'eth0', config: CNI_CONFIG });
  if (answer.cniError) throw new Error(`CNI ADD on node-${index}: ${answer.cniError.msg} ${answer.cniError.details ?? ''}`);
  const attach = endpoint.attach(containerId, 'eth0');
  const net = sandboxNetworkOf(JSON.parse(answer.result), { socketPath: attach.socketPath, mac: attach.containerMac, mtu: attach.mtu });
  const pod = new Namespace({ name: netns });
  pod.addLink(await UnixSocketVeth.connect({ name: 'eth0', mac: parseMac(net.mac), mtu: net.mtu, path: net.socketPath }));
  pod.addAddress('eth0', net.address);
  for (const r of net.routes) pod.addRoute({ dst: r.dst === '0.0.0.0/0' ? 'default' : r.dst, ...(r.gw ? { via: r.gw } : {}), dev: 'eth0' });
  if (net.address !== `${podAddress(index)}/24`) throw new Error(`node-${index}: the pod got ${net.address}, not ${podAddress(index)}/24`);
  const underlay = backendName === 'vxlan' ? backend.device : host.eth0;
  return {
    pod,
    host,
    underlay,
    ports: { vxlanPort: backendName === 'vxlan' ? backend.device.localPort : 0, uplinkPort: host.eth0.localPort },
    /** The other node, as the agent's Node watch would hand it to the backend (remoteNodeOf). */
    peer(remote) {
      const o = remote.index;
      backend.ensureRemote({
        name: `bench-node-${o}`,
        podCidr: parseCidr(`10.244.${o}.0/24`, { strict: true }),
        nodeIp: parseIpv4(`172.18.0.${o + 1}`),
        transportAddress: `${transport}.${o}`,
        vxlanPort: remote.vxlanPort,
        uplinkPort: remote.uplinkPort,
        ...(backendName === 'vxlan' ? { vtepMac: remote.vtepMac } : {}),
      });
    },
    vtepMac: backendName === 'vxlan' ? backend.device.mac : undefined,
    async close() {
      await pod.close();
      await endpoint.close();
      await host.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
