// An in-process CNI for a node without a cni-agent (tests, `--cni local`): a host namespace with
// the cni0 bridge (gateway .1 of the podCIDR) and host-local IPAM (lowest free address from .2,
// one per container id: ADD is idempotent, DEL releases). Each pod's veth is a real unix-socket
// link, exactly as with the cni-agent: the host end listens, the pod's eth0 connects.
import { join } from 'node:path';
import { BridgeLink, Namespace, UnixSocketVeth } from '@podnet/netstack';
import { formatIpv4, formatMac, macFromIpv4, parseCidr, parseIpv4 } from '@podnet/wire';
import { NodeAgentError, NodeAgentErrorCodes } from '../errors.js';
import type { CniCallArgs, CniPlugin, CniResult, SandboxNetwork } from './types.js';

export interface LocalBridgeCniOptions {
  podCidr: string;
  socketDir: string;
  mtu?: number;
}

interface Allocation {
  ip: number;
  veth: UnixSocketVeth;
  result: SandboxNetwork;
}

export class LocalBridgeCni implements CniPlugin {
  readonly name = 'local-bridge';
  readonly host: Namespace;
  readonly bridge: BridgeLink;
  readonly gateway: string;
  readonly #network: number;
  readonly #prefix: number;
  readonly #opts: LocalBridgeCniOptions;
  readonly #allocations = new Map<string, Allocation>();
  #nextVeth = 0;

  constructor(opts: LocalBridgeCniOptions) {
    this.#opts = opts;
    const cidr = parseCidr(opts.podCidr);
    this.#network = cidr.network;
    this.#prefix = cidr.prefix;
    this.gateway = formatIpv4(cidr.network + 1);
    this.host = new Namespace({ name: `host-${opts.podCidr}`, ipForward: true });
    this.bridge = this.host.addLink(new BridgeLink({ name: 'cni0', mac: macFromIpv4(parseIpv4(this.gateway)), mtu: opts.mtu ?? 1500 }));
    this.host.addAddress('cni0', `${this.gateway}/${this.#prefix}`);
  }

  #allocate(): number {
    const used = new Set([...this.#allocations.values()].map((a) => a.ip));
    const size = 2 ** (32 - this.#prefix);
    for (let i = 2; i < size - 1; i++) if (!used.has(this.#network + i)) return this.#network + i;
    throw new NodeAgentError(NodeAgentErrorCodes.CNI, `host-local IPAM: no free address left in ${this.#opts.podCidr}`);
  }

  async add(a: CniCallArgs): Promise<SandboxNetwork> {
    const existing = this.#allocations.get(a.containerId);
    if (existing) return existing.result;
    const ip = this.#allocate();
    const address = `${formatIpv4(ip)}/${this.#prefix}`;
    const mtu = this.#opts.mtu ?? 1500;
    const socketPath = join(this.#opts.socketDir, `veth-${a.containerId.slice(0, 12)}.sock`);
    const hostName = `veth${(this.#nextVeth++).toString(16).padStart(8, '0')}`;
    const veth = await UnixSocketVeth.listen({ name: hostName, mac: 0x0e0000000000 + ip, mtu, path: socketPath });
    this.host.addLink(veth);
    this.bridge.addPort(veth);
    const mac = formatMac(macFromIpv4(ip));
    const result: CniResult = {
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'cni0', mac: formatMac(this.bridge.mac) },
        { name: hostName, mac: formatMac(veth.mac) },
        { name: a.ifname, mac, sandbox: a.netns, mtu, socketPath },
      ],
      ips: [{ address, gateway: this.gateway, interface: 2 }],
      routes: [{ dst: '0.0.0.0/0', gw: this.gateway }],
    };
    const net: SandboxNetwork = {
      address,
      gateway: this.gateway,
      routes: [{ dst: '0.0.0.0/0', gw: this.gateway }],
      mtu,
      mac,
      socketPath,
      result,
    };
    this.#allocations.set(a.containerId, { ip, veth, result: net });
    return net;
  }

  async del(a: CniCallArgs): Promise<void> {
    const alloc = this.#allocations.get(a.containerId);
    if (!alloc) return;
    this.#allocations.delete(a.containerId);
    this.bridge.removePort(alloc.veth);
    await this.host.removeLink(alloc.veth.name);
  }

  async check(a: CniCallArgs, _prev: CniResult): Promise<void> {
    if (!this.#allocations.has(a.containerId))
      throw new NodeAgentError(NodeAgentErrorCodes.CNI, `CNI CHECK: container ${a.containerId} is unknown (error 3)`);
  }

  async close(): Promise<void> {
    await this.host.close();
  }
}
