// The node network (process mode 172.18.0.0/24, compose 172.30.0.0/24) is one L2 segment joining
// every node's eth0, whatever flannel's backend: on a real cluster a pod's packet to another node's
// IP (its IP:NodePort, say) is routed out eth0 by the connected /24 route and MASQUERADEd by
// flannel's POSTROUTING rule, whether the backend is vxlan or host-gw. podnet's eth0 wire only
// reaches the nodes it has a peer transport for, so every remote node gets one here, for every
// backend (host-gw also uses these peers as the next hops of its podCIDR routes).
import { ANNOTATIONS, type RemoteNode } from '../backends/backend.js';
import type { HostNetwork } from './host-network.js';

/** Points eth0's wire at the remote node; returns 1 when it had to (re)set the peer, else 0. */
export function ensureNodeNetworkPeer(host: HostNetwork, remote: RemoteNode): number {
  const peer = host.eth0.peers.get(remote.nodeIp);
  if (peer && peer.address === remote.transportAddress && peer.port === remote.uplinkPort) return 0;
  host.eth0.setPeer(remote.nodeIp, { address: remote.transportAddress, port: remote.uplinkPort });
  return 1;
}

/** Forgets the remote node on eth0 (its peer and its learned neighbour entry). */
export function removeNodeNetworkPeer(host: HostNetwork, remote: RemoteNode): void {
  host.ns.neighbours.delete('eth0', remote.nodeIp);
  host.eth0.peers.delete(remote.nodeIp);
}

/** The annotation that tells the other nodes where this node's eth0 wire listens. */
export function nodeNetworkAnnotations(host: HostNetwork): Record<string, string> {
  return { [ANNOTATIONS.uplinkPort]: String(host.eth0.localPort) };
}
