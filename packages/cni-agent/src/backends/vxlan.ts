// flannel's vxlan backend (pkg/backend/vxlan/vxlan.go, vxlan_network.go): the VTEP `flannel.1`
// (VNI 1, UDP 4789, MTU 1450 = 1500 - 50 bytes of outer headers) carries the podCIDR's network
// address as a /32, and for every other node: the route `<podCIDR> via <podCIDR network address>
// dev flannel.1 onlink`, a permanent neighbour `<network address> lladdr <VTEP MAC>`, the FDB
// entry `<VTEP MAC> dst <node IP>` and (podnet) the node IP → transport address peer mapping.
import { createHash } from 'node:crypto';
import { VxlanLink } from '@podnet/netstack';
import { type Cidr, formatCidr, formatIpv4, formatMac, type MacAddress } from '@podnet/wire';
import type { HostNetwork } from '../host/host-network.js';
import { ANNOTATIONS, type Backend, type RemoteNode } from './backend.js';

export const VXLAN_MTU = 1450;
export const VXLAN_VNI = 1;
export const VXLAN_PORT = 4789;

export interface VxlanBackendOptions {
  node: string;
  transportAddress: string;
  /** 4789 by default; 0 for any free port (tests), published in podnet.dev/vxlan-port. */
  port?: number;
}

/** A stable, locally administered unicast VTEP MAC per node (flannel lets the kernel pick one; a stable one survives restarts). */
export function vtepMacFor(node: string): MacAddress {
  const h = createHash('sha256').update(`podnet-vtep:${node}`).digest();
  const first = ((h[0] as number) & 0xfc) | 0x02;
  return first * 2 ** 40 + h.readUIntBE(1, 5);
}

export class VxlanBackend implements Backend {
  readonly name = 'vxlan' as const;
  readonly mtu = VXLAN_MTU;
  readonly #options: VxlanBackendOptions;
  #host: HostNetwork | undefined;
  #dev: VxlanLink | undefined;

  constructor(options: VxlanBackendOptions) {
    this.#options = options;
  }

  get device(): VxlanLink | undefined {
    return this.#dev;
  }

  async open(host: HostNetwork): Promise<void> {
    if (this.#dev) return;
    const dev = new VxlanLink({
      name: 'flannel.1',
      mac: vtepMacFor(this.#options.node),
      mtu: VXLAN_MTU,
      vni: VXLAN_VNI,
      nodeIp: host.nodeIp,
      localAddress: this.#options.transportAddress,
      port: this.#options.port ?? VXLAN_PORT,
    });
    await dev.open();
    host.ns.addLink(dev);
    this.#host = host;
    this.#dev = dev;
  }

  async setup(host: HostNetwork, podCidr: Cidr): Promise<void> {
    await this.open(host);
    const address = formatIpv4(podCidr.network);
    // flannel assigns the subnet's network address as a /32 to flannel.1 (vxlan_network.go: "ip addr add 10.244.N.0/32").
    if (!host.ns.addresses('flannel.1').some((a) => formatIpv4(a.address) === address)) host.ns.addAddress('flannel.1', `${address}/32`);
  }

  annotations(): Record<string, string> {
    const dev = this.#dev;
    if (!dev || !this.#host?.podCidr) return {};
    return {
      [ANNOTATIONS.backendType]: 'vxlan',
      [ANNOTATIONS.backendData]: JSON.stringify({ VNI: VXLAN_VNI, VtepMAC: formatMac(dev.mac) }),
      [ANNOTATIONS.publicIp]: formatIpv4(this.#host.nodeIp),
      [ANNOTATIONS.vxlanPort]: String(dev.localPort),
    };
  }

  missing(remote: RemoteNode): string | undefined {
    return remote.vtepMac === undefined ? `annotation ${ANNOTATIONS.backendData} with a VtepMAC` : undefined;
  }

  ensureRemote(remote: RemoteNode): number {
    const host = this.#host;
    const dev = this.#dev;
    if (!host || !dev || remote.vtepMac === undefined) return 0;
    let restored = 0;
    const ns = host.ns;
    const gateway = remote.podCidr.network;
    const peer = dev.peers.get(remote.nodeIp);
    if (!peer || peer.address !== remote.transportAddress || peer.port !== remote.vxlanPort) {
      dev.setPeer(remote.nodeIp, { address: remote.transportAddress, port: remote.vxlanPort });
      restored++;
    }
    if (dev.fdb.get(remote.vtepMac) !== remote.nodeIp) {
      dev.addFdb(remote.vtepMac, remote.nodeIp);
      restored++;
    }
    const neigh = ns.neighbours.get('flannel.1', gateway);
    if (!neigh || neigh.mac !== remote.vtepMac || neigh.state !== 'permanent') {
      ns.addNeighbour('flannel.1', gateway, remote.vtepMac, { permanent: true });
      restored++;
    }
    const route = ns.routes
      .list()
      .find((r) => r.dst.network === remote.podCidr.network && r.dst.prefix === remote.podCidr.prefix && r.proto === 'static');
    if (route?.dev !== 'flannel.1' || route.via !== gateway) {
      if (route) ns.routes.delete(remote.podCidr, { dev: route.dev });
      ns.addRoute({ dst: formatCidr(remote.podCidr), via: gateway, dev: 'flannel.1', onlink: true });
      restored++;
    }
    return restored;
  }

  removeRemote(remote: RemoteNode): void {
    const host = this.#host;
    const dev = this.#dev;
    if (!host || !dev) return;
    host.ns.routes.delete(remote.podCidr, { dev: 'flannel.1' });
    host.ns.neighbours.delete('flannel.1', remote.podCidr.network);
    if (remote.vtepMac !== undefined && dev.fdb.get(remote.vtepMac) === remote.nodeIp) dev.deleteFdb(remote.vtepMac);
    dev.peers.delete(remote.nodeIp);
  }

  async close(): Promise<void> {}
}
