// Two emulated nodes in one process, each a host namespace with cni0, pods and a flannel.1 VXLAN
// device whose real UDP socket binds the node's transport address (127.0.1.N, a free port),
// programmed for each other the flannel way (flannel.ts). Pods get MTU 1450 unless told otherwise.
import type { NetfilterHooks } from '@podnet/netfilter';
import { type Clock, macFromIpv4, parseIpv4 } from '@podnet/wire';
import { addVxlanRemoteNode } from '../flannel.js';
import { VxlanLink } from '../links/vxlan.js';
import { addPod, type BridgeTopology, type Pod, podsOnBridge } from './topology.js';

export interface VxlanNode extends BridgeTopology {
  index: number;
  nodeIp: string;
  vxlan: VxlanLink;
}

export interface TwoNodesOptions {
  clock?: Clock;
  hooks?: [NetfilterHooks | undefined, NetfilterHooks | undefined];
  podMtu?: number;
  podsPerNode?: number;
}

/** Node N: podCIDR 10.244.N.0/24, node IP 172.18.0.(N+1), flannel.1 10.244.N.0/32, transport 127.0.1.N. */
export async function vxlanNode(
  index: number,
  options: { clock?: Clock; hooks?: NetfilterHooks; podMtu?: number; pods?: number } = {},
): Promise<VxlanNode> {
  const t = podsOnBridge(0, {
    subnet: `10.244.${index}`,
    seed: index,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.hooks ? { hooks: options.hooks } : {}),
  });
  const nodeIp = `172.18.0.${index + 1}`;
  const vxlan = t.host.addLink(
    new VxlanLink({
      mac: macFromIpv4(parseIpv4(`10.244.${index}.0`)) + 0x10000000000,
      nodeIp: parseIpv4(nodeIp),
      localAddress: `127.0.1.${index}`,
      port: 0,
    }),
  );
  await vxlan.open();
  t.host.addAddress('flannel.1', `10.244.${index}.0/32`);
  for (let i = 0; i < (options.pods ?? 1); i++) {
    addPod(t, `pod-${index}-${i}`, `10.244.${index}.${i + 2}`, {
      mtu: options.podMtu ?? 1450,
      ...(options.clock ? { clock: options.clock } : {}),
    });
  }
  return Object.assign(t, { index, nodeIp, vxlan });
}

/** Tells `node` about `remote` as flannel would, from the remote's Node object. */
export function meshVxlan(node: VxlanNode, remote: VxlanNode): void {
  addVxlanRemoteNode(node.host, node.vxlan, {
    podCidr: `10.244.${remote.index}.0/24`,
    vtepMac: remote.vxlan.mac,
    nodeIp: parseIpv4(remote.nodeIp),
    transport: { address: remote.vxlan.localAddress, port: remote.vxlan.localPort },
  });
}

export async function twoNodesOverVxlan(
  options: TwoNodesOptions = {},
): Promise<{ n1: VxlanNode; n2: VxlanNode; a: Pod; b: Pod; close(): Promise<void> }> {
  const common = {
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.podMtu ? { podMtu: options.podMtu } : {}),
    pods: options.podsPerNode ?? 1,
  };
  const h1 = options.hooks?.[0];
  const h2 = options.hooks?.[1];
  const n1 = await vxlanNode(1, { ...common, ...(h1 ? { hooks: h1 } : {}) });
  const n2 = await vxlanNode(2, { ...common, ...(h2 ? { hooks: h2 } : {}) });
  meshVxlan(n1, n2);
  meshVxlan(n2, n1);
  return {
    n1,
    n2,
    a: n1.pods[0] as Pod,
    b: n2.pods[0] as Pod,
    close: async () => {
      await Promise.all([n1.close(), n2.close()]);
    },
  };
}
