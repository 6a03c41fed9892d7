// flannel's host-gw backend (pkg/backend/hostgw): no encapsulation; every other node's podCIDR is
// routed `via <its node IP> dev eth0`, so the frame leaves eth0 addressed to that node's MAC
// (resolved by ARP over the uplink, which floods broadcasts to every node) and podnet's uplink
// wire carries it to the node's transport address. The pod MTU stays 1500.
import { type Cidr, formatCidr, formatIpv4 } from '@podnet/wire';
import type { HostNetwork } from '../host/host-network.js';
import { ANNOTATIONS, type Backend, type RemoteNode } from './backend.js';

export const HOST_GW_MTU = 1500;

export class HostGwBackend implements Backend {
  readonly name = 'host-gw' as const;
  readonly mtu = HOST_GW_MTU;
  #host: HostNetwork | undefined;

  async open(host: HostNetwork): Promise<void> {
    this.#host = host;
  }

  async setup(host: HostNetwork, _podCidr: Cidr): Promise<void> {
    this.#host = host;
  }

  annotations(): Record<string, string> {
    const host = this.#host;
    if (!host) return {};
    return {
      [ANNOTATIONS.backendType]: 'host-gw',
      [ANNOTATIONS.backendData]: 'null',
      [ANNOTATIONS.publicIp]: formatIpv4(host.nodeIp),
      [ANNOTATIONS.uplinkPort]: String(host.eth0.localPort),
    };
  }

  missing(): string | undefined {
    return undefined;
  }

  ensureRemote(remote: RemoteNode): number {
    const host = this.#host;
    if (!host) return 0;
    let restored = 0;
    const peer = host.eth0.peers.get(remote.nodeIp);
    if (!peer || peer.address !== remote.transportAddress || peer.port !== remote.uplinkPort) {
      host.eth0.setPeer(remote.nodeIp, { address: remote.transportAddress, port: remote.uplinkPort });
      restored++;
    }
    const route = host.ns.routes
      .list()
      .find((r) => r.dst.network === remote.podCidr.network && r.dst.prefix === remote.podCidr.prefix && r.proto === 'static');
    if (route?.dev !== 'eth0' || route.via !== remote.nodeIp) {
      if (route) host.ns.routes.delete(remote.podCidr, { dev: route.dev });
      host.ns.addRoute({ dst: formatCidr(remote.podCidr), via: remote.nodeIp, dev: 'eth0' });
      restored++;
    }
    return restored;
  }

  removeRemote(remote: RemoteNode): void {
    const host = this.#host;
    if (!host) return;
    host.ns.routes.delete(remote.podCidr, { dev: 'eth0' });
    host.ns.neighbours.delete('eth0', remote.nodeIp);
    host.eth0.peers.delete(remote.nodeIp);
  }

  async close(): Promise<void> {}
}
