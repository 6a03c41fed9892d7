// One interface per pluggable concern, chosen by name (DESIGN §6.4): the CNI backend programs the
// host namespace for the other nodes, learning about them only from Node objects and their
// annotations, as flannel does (flannel pkg/backend/{vxlan,hostgw}).
import type { Cidr, Ipv4Address } from '@podnet/wire';
import type { HostNetwork } from '../host/host-network.js';

/** What a backend needs to know about another node (from its Node object). */
export interface RemoteNode {
  name: string;
  podCidr: Cidr;
  nodeIp: Ipv4Address;
  /** The node's real transport address (annotation podnet.dev/transport-address). */
  transportAddress: string;
  /** Its VXLAN UDP port (podnet.dev/vxlan-port; 4789 when absent). */
  vxlanPort: number;
  /** Its eth0 wire UDP port (podnet.dev/uplink-port; 4790 when absent). */
  uplinkPort: number;
  /** flannel.alpha.coreos.com/backend-data VtepMAC (vxlan only). */
  vtepMac?: number;
}

export interface Backend {
  readonly name: BackendName;
  /** The pod MTU this backend leaves room for (vxlan 1450, host-gw 1500). */
  readonly mtu: number;
  /** Opens the backend's devices and real sockets at start (flannel.1 for vxlan), so a taken port fails the start. */
  open(host: HostNetwork): Promise<void>;
  /** Finishes the devices once the podCIDR is known (flannel.1's address). */
  setup(host: HostNetwork, podCidr: Cidr): Promise<void>;
  /** Annotations this node publishes on its Node object. */
  annotations(): Record<string, string>;
  /** Programs routes/neighbours/FDB for a remote node; idempotent, and restores anything deleted by hand. */
  ensureRemote(remote: RemoteNode): number;
  /** Removes what ensureRemote programmed. */
  removeRemote(remote: RemoteNode): void;
  /** Whether a remote node's Node object carries what this backend needs (e.g. the VTEP MAC). */
  missing(remote: RemoteNode): string | undefined;
  close(): Promise<void>;
}

export type BackendName = 'vxlan' | 'host-gw';
export const BACKEND_NAMES: readonly BackendName[] = ['vxlan', 'host-gw'];

export const ANNOTATIONS = {
  transportAddress: 'podnet.dev/transport-address',
  vxlanPort: 'podnet.dev/vxlan-port',
  uplinkPort: 'podnet.dev/uplink-port',
  backendType: 'flannel.alpha.coreos.com/backend-type',
  backendData: 'flannel.alpha.coreos.com/backend-data',
  publicIp: 'flannel.alpha.coreos.com/public-ip',
} as const;
