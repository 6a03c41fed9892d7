// The node's host network namespace (DESIGN §2, §4): the uplink `eth0` (real UDP on the transport
// address, the node IP assigned), the `cni0` bridge with the podCIDR's first address as the pods'
// gateway, netfilter (the rule engine with conntrack and NAT, installed as the namespace's hooks;
// ip_forward=1), and `ext0`, the link to the emulated outside world where real NodePort clients
// appear (nodeports/relay.ts).
//
// ext0 is podnet's own: a real node receives external clients on its uplink, but podnet's uplink
// wire only joins nodes, so external clients arrive on a veth whose far end is a small namespace
// ("external") holding their addresses. The host's default route points there, so replies and
// pod traffic to the outside leave by ext0 (and are masqueraded by FLANNEL-POSTRTG on the way).
import { Conntrack, Nat, Netfilter } from '@podnet/netfilter';
import { BridgeLink, Namespace, UPLINK_UDP_PORT, UplinkLink, VethLink } from '@podnet/netstack';
import {
  type Cidr,
  type Clock,
  formatCidr,
  formatIpv4,
  type Ipv4Address,
  macFromIpv4,
  parseIpv4,
  SeededRng,
  systemClock,
} from '@podnet/wire';
import { TracingHooks } from './tracing-hooks.js';

/** TEST-NET-3 (RFC 5737): where loopback clients appear from (DESIGN §4). */
export const EXTERNAL_CLIENT_ADDRESS = '203.0.113.1';
/** The host's end of ext0. */
export const EXTERNAL_GATEWAY_ADDRESS = '203.0.113.254';
export const EXTERNAL_PREFIX = 24;

export interface HostNetworkOptions {
  node: string;
  nodeIp: string;
  /** Prefix of the node network on eth0 (process mode: 172.18.0.0/24). */
  nodePrefix?: number;
  transportAddress: string;
  /** UDP port of the eth0 wire (4790; 0 for any free one). */
  uplinkPort?: number;
  clock?: Clock;
  seed?: number;
}

export class HostNetwork {
  readonly ns: Namespace;
  readonly external: Namespace;
  readonly netfilter: Netfilter;
  readonly conntrack: Conntrack;
  readonly tracing: TracingHooks;
  readonly eth0: UplinkLink;
  readonly nodeIp: Ipv4Address;
  readonly clock: Clock;
  #cni0: BridgeLink | undefined;
  #podCidr: Cidr | undefined;

  private constructor(options: HostNetworkOptions, eth0: UplinkLink) {
    this.clock = options.clock ?? systemClock;
    const seed = options.seed ?? hashName(options.node);
    this.conntrack = new Conntrack({ clock: this.clock });
    const nat = new Nat(this.conntrack, { rng: new SeededRng(seed ^ 0x5a5a) });
    this.netfilter = new Netfilter({ clock: this.clock, conntrack: this.conntrack, nat, rng: new SeededRng(seed) });
    this.tracing = new TracingHooks(this.netfilter, this.clock);
    this.ns = new Namespace({ name: `host-${options.node}`, clock: this.clock, hooks: this.tracing, ipForward: true });
    this.nodeIp = parseIpv4(options.nodeIp);
    this.eth0 = eth0;
    this.ns.addLink(eth0);
    this.ns.addAddress('eth0', `${options.nodeIp}/${options.nodePrefix ?? 24}`);
    this.external = new Namespace({ name: `external-${options.node}`, clock: this.clock });
    const [ext0, outside] = VethLink.pair(
      { name: 'ext0', mac: macFromIpv4(parseIpv4(EXTERNAL_GATEWAY_ADDRESS)) },
      { name: 'eth0', mac: macFromIpv4(parseIpv4(EXTERNAL_CLIENT_ADDRESS)) },
    );
    this.ns.addLink(ext0);
    this.ns.addAddress('ext0', `${EXTERNAL_GATEWAY_ADDRESS}/${EXTERNAL_PREFIX}`);
    this.ns.addRoute({ dst: 'default', via: EXTERNAL_CLIENT_ADDRESS, dev: 'ext0' });
    this.external.addLink(outside);
    this.external.addAddress('eth0', `${EXTERNAL_CLIENT_ADDRESS}/${EXTERNAL_PREFIX}`);
    this.external.addRoute({ dst: 'default', via: EXTERNAL_GATEWAY_ADDRESS, dev: 'eth0' });
  }

  static async create(options: HostNetworkOptions): Promise<HostNetwork> {
    const nodeIp = parseIpv4(options.nodeIp);
    const eth0 = new UplinkLink({
      name: 'eth0',
      mac: macFromIpv4(nodeIp),
      nodeIp,
      localAddress: options.transportAddress,
      port: options.uplinkPort ?? UPLINK_UDP_PORT,
    });
    await eth0.open();
    return new HostNetwork(options, eth0);
  }

  get cni0(): BridgeLink | undefined {
    return this.#cni0;
  }

  get podCidr(): Cidr | undefined {
    return this.#podCidr;
  }

  /** Creates cni0 with the podCIDR's first address (10.244.N.1/24), as the bridge plugin does with isGateway. */
  configurePodCidr(podCidr: Cidr, mtu: number): BridgeLink {
    if (this.#cni0) return this.#cni0;
    const gateway = (podCidr.network + 1) >>> 0;
    const bridge = new BridgeLink({ name: 'cni0', mac: macFromIpv4(gateway), mtu, clock: this.clock });
    this.ns.addLink(bridge);
    this.ns.addAddress('cni0', `${formatIpv4(gateway)}/${podCidr.prefix}`);
    this.#cni0 = bridge;
    this.#podCidr = podCidr;
    return bridge;
  }

  /**
   * Makes a real external client's address appear in the outside namespace (routable clients keep
   * their own source address; loopback ones use EXTERNAL_CLIENT_ADDRESS).
   */
  ensureExternalAddress(address: string): void {
    const ip = parseIpv4(address);
    if (this.external.isLocalAddress(ip)) return;
    this.external.addAddress('eth0', `${address}/32`);
    // Replies must go back the way the client came in, through ext0. A routable client can sit inside
    // the node's own eth0 subnet (under compose, docker-proxy connects from the network's gateway,
    // 172.30.0.1), where the connected route would send the replies out eth0 to a host that is not a
    // node; a host route is more specific than the connected one (longest prefix match).
    if (address !== EXTERNAL_CLIENT_ADDRESS) this.ns.addRoute({ dst: `${address}/32`, via: EXTERNAL_CLIENT_ADDRESS, dev: 'ext0' });
  }

  describe(): string {
    return `${this.ns.name} eth0 ${formatIpv4(this.nodeIp)} podCIDR ${this.#podCidr ? formatCidr(this.#podCidr) : '(none yet)'}`;
  }

  async close(): Promise<void> {
    this.conntrack.close?.();
    await this.ns.close();
    await this.external.close();
  }
}

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}
