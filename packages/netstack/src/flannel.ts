// Programming a VXLAN device for a remote node the way flannel's vxlan backend does
// (flannel pkg/backend/vxlan/vxlan_network.go, handleSubnetEvents): per remote node one route
// `10.244.N.0/24 via 10.244.N.0 dev flannel.1 onlink`, one permanent neighbour
// `10.244.N.0 lladdr <VTEP MAC>`, and one FDB entry `<VTEP MAC> dst <node IP>`; podnet adds the
// node IP → transport address mapping a real datagram needs (DESIGN §4).
import { formatCidr, type Ipv4Address, type MacAddress, parseCidr } from '@podnet/wire';
import { configError } from './errors.js';
import type { TransportAddress } from './links/udp-wire.js';
import type { VxlanLink } from './links/vxlan.js';
import type { Namespace } from './namespace.js';

export interface RemoteVxlanNode {
  /** The remote node's podCIDR, e.g. '10.244.2.0/24'. */
  podCidr: string;
  /** The remote VTEP's MAC (flannel's `flannel.alpha.coreos.com/backend-data` VtepMAC). */
  vtepMac: MacAddress;
  /** The remote node's emulated IP (flannel's public-ip). */
  nodeIp: Ipv4Address;
  /** Where the remote node's VXLAN socket listens. */
  transport: TransportAddress;
}

export function addVxlanRemoteNode(ns: Namespace, dev: VxlanLink, remote: RemoteVxlanNode): void {
  let cidr: ReturnType<typeof parseCidr>;
  try {
    cidr = parseCidr(remote.podCidr, { strict: true });
  } catch (error) {
    throw configError(`vxlan remote node: podCIDR "${remote.podCidr}" is not a network CIDR (${(error as Error).message})`);
  }
  if (ns.link(dev.name) !== dev) throw configError(`vxlan remote node: ${dev.name} is not an interface of namespace ${ns.name}`);
  // The gateway is the remote subnet's network address, which flannel assigns to the remote flannel.1.
  const gateway = cidr.network;
  dev.setPeer(remote.nodeIp, remote.transport);
  dev.addFdb(remote.vtepMac, remote.nodeIp);
  ns.addNeighbour(dev.name, gateway, remote.vtepMac, { permanent: true });
  ns.addRoute({ dst: formatCidr(cidr), via: gateway, dev: dev.name, onlink: true });
}

export function removeVxlanRemoteNode(
  ns: Namespace,
  dev: VxlanLink,
  remote: Pick<RemoteVxlanNode, 'podCidr' | 'vtepMac' | 'nodeIp'>,
): void {
  const cidr = parseCidr(remote.podCidr, { strict: true });
  ns.routes.delete(cidr, { dev: dev.name });
  ns.neighbours.delete(dev.name, cidr.network);
  dev.deleteFdb(remote.vtepMac);
  dev.peers.delete(remote.nodeIp);
}
