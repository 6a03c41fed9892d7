// One emulated node's cni-agent side, for the `kernel` benchmark group's pod-to-pod path: built
// from the cni-agent's own pieces, in the order its agent configures a node
// (packages/cni-agent/src/agent.ts #configure), so a bench segment crosses the code a cluster's does:
//   HostNetwork (eth0 uplink, netfilter with conntrack and NAT as the namespace's hooks, ip_forward=1)
//   → configurePodCidr (cni0 bridge, 10.244.N.1/24) → backend.setup (vxlan: flannel.1 10.244.N.0/32)
//   → ensureMasquerade (flannel's FLANNEL-POSTRTG) → a kube-proxy rule set of SERVICES Services
//   restored with --noflush as kube-proxy does (bench/lib/kube-proxy-rules.js)
//   → the control socket (ControlServer with the agent's `cni` and `attach` methods), on which the
//   node-agent side (pod-peer.mjs, through node-agent's own Sandbox and CniAgentPlugin) calls CNI ADD:
//   host-local IPAM gives the first pod 10.244.N.2 and its host veth becomes a port of cni0.
// It runs in a process of its own (cni-node.mjs), as a cluster's cni-agent does; the pod namespace
// lives in the node-agent's process and reaches cni0 over the unix-socket veth (DESIGN §2).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniEndpoint, ControlServer, ensureMasquerade, HostGwBackend, HostNetwork, VxlanBackend } from '@podnet/cni-agent';
import { parseCidr, parseIpv4 } from '@podnet/wire';
import { renderKubeProxyRules, syntheticServices } from './kube-proxy-rules.js';

export const CLUSTER_CIDR = '10.244.0.0/16';
/** kube-proxy rule set size in each node's netfilter (each Service: 10 endpoints, every 10th a NodePort). */
export const SERVICES = 100;

/** The pod address CNI ADD gives the first pod of node `n` (host-local: .0 network, .1 gateway). */
export const podAddress = (n) => `10.244.${n}.2`;

/**
 * @param {{index: number, backend: 'vxlan'|'host-gw', transport: string}} o
 * @returns {Promise<{host: HostNetwork, underlay: object, controlSocket: string, vtepMac: number|undefined,
 *   ports: {vxlanPort: number, uplinkPort: number},
 *   peer(remote: {index: number, vxlanPort: number, uplinkPort: number, vtepMac?: number}): void, close(): Promise<void>}>}
 */
export async function createNodeHost({ index, backend: backendName, transport }) {
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
  // The two control methods a node-agent's CNI plugin calls, as CniAgent#handlers serves them.
  const controlSocket = join(dataDir, 'control.sock');
  const control = await ControlServer.listen(controlSocket, {
    cni: (body) => endpoint.handle(body),
    attach: (body) => endpoint.attach(body.containerId, body.ifname ?? 'eth0'),
  });
  return {
    host,
    underlay: backendName === 'vxlan' ? backend.device : host.eth0,
    controlSocket,
    vtepMac: backendName === 'vxlan' ? backend.device.mac : undefined,
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
    async close() {
      await control.close();
      await endpoint.close();
      await host.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
