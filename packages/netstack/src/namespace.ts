// A network namespace (DESIGN §2): its interfaces and their IPv4 addresses, its routing table,
// neighbour cache, socket table, netfilter hooks and ip_forward switch, the IPv4 layer and the
// transports registered with it (ICMP is built in, UDP is registered here, TCP by its own module).
import { acceptAllHooks, type NetfilterHooks, type PacketState } from '@podnet/netfilter/hook';
import {
  arp,
  type Cidr,
  type Clock,
  cidrContains,
  formatIpv4,
  type Ipv4Address,
  isMulticastMac,
  MAC_BROADCAST,
  type MacAddress,
  onesComplementSum,
  packetPool,
  parseCidr,
  parseIpv4,
  prefixMask,
  type Rng,
  readIpv4,
  readMac,
  SeededRng,
  systemClock,
  writeMac,
} from '@podnet/wire';
import { InterfaceCounters, type InterfaceCountersSnapshot } from './counters.js';
import { configError } from './errors.js';
import type { FaultOptions } from './faults.js';
import { arpFrame, arpRequest, ETHERTYPE_ARP } from './ipv4/arp.js';
import type { PingOptions, PingResult } from './ipv4/icmp.js';
import { Ipv4Layer } from './ipv4/ipv4-layer.js';
import { BridgeLink, type BridgeNetfilter } from './links/bridge.js';
import { ETHERNET_HEADER, type Link } from './links/link.js';
import { LoopbackLink } from './links/loopback.js';
import { type NeighbourHost, type NeighbourOptions, NeighbourTable } from './neighbours.js';
import { type RouteSpec, RouteTable } from './routes.js';
import { SocketRegistry } from './sockets.js';
import type { TcpOptions } from './tcp/config.js';
import { TcpLayer } from './tcp/layer.js';
import type { TransportProtocol } from './transport.js';
import { UdpLayer } from './udp.js';

const ETHERTYPE_IPV4 = 0x0800;
/** The state bridged frames carry when no hooks are installed (nothing reads it). */
const NO_HOOK_STATE: PacketState = Object.freeze({ mark: 0, trace: false }) as PacketState;

export interface NamespaceOptions {
  name: string;
  clock?: Clock;
  /** Seeded by default from the name, so runs repeat; pass cryptoRng for production ISNs and ports. */
  rng?: Rng;
  hooks?: NetfilterHooks;
  /** net.ipv4.ip_forward; off by default, as in Linux. */
  ipForward?: boolean;
  neighbour?: NeighbourOptions;
  /** TCP tunables (timers, buffers, backlog); Linux's defaults otherwise. */
  tcp?: TcpOptions;
}

export interface InterfaceAddress {
  address: Ipv4Address;
  prefix: number;
}

function seedOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

export class Namespace implements NeighbourHost, BridgeNetfilter {
  readonly name: string;
  readonly clock: Clock;
  readonly rng: Rng;
  hooks: NetfilterHooks;
  ipForward: boolean;
  readonly routes = new RouteTable();
  readonly neighbours: NeighbourTable;
  readonly sockets: SocketRegistry;
  readonly ip: Ipv4Layer;
  readonly udp: UdpLayer;
  readonly loopback: LoopbackLink;
  /** Drops of the IP layer that belong to no single interface (and totals by reason). */
  readonly ipCounters = new InterfaceCounters();
  /** The namespace's TCP (tcp/): node:net-like createServer/connect over the emulated stack. */
  readonly tcp: TcpLayer;
  readonly #links = new Map<string, Link>();
  readonly #addresses = new Map<string, InterfaceAddress[]>();
  readonly #local = new Set<Ipv4Address>();
  readonly #transports = new Map<number, TransportProtocol>();
  #closed = false;

  constructor(options: NamespaceOptions) {
    if (!options.name) throw configError('a namespace needs a name');
    this.name = options.name;
    this.clock = options.clock ?? systemClock;
    this.rng = options.rng ?? new SeededRng(seedOf(options.name));
    this.hooks = options.hooks ?? acceptAllHooks;
    this.ipForward = options.ipForward ?? false;
    this.neighbours = new NeighbourTable(this, options.neighbour);
    this.sockets = new SocketRegistry(this.rng);
    this.ip = new Ipv4Layer(this);
    this.loopback = new LoopbackLink();
    this.addLink(this.loopback);
    this.addAddress('lo', '127.0.0.1/8');
    this.udp = new UdpLayer(this.ip, this.sockets);
    this.registerTransport(this.udp);
    this.tcp = new TcpLayer(this.ip, options.tcp);
    this.registerTransport(this.tcp);
  }

  // ---- transports -----------------------------------------------------------------------------

  /** Registers the handler of an IPv4 protocol (UDP here; TCP by the TCP module). One per protocol. */
  registerTransport(t: TransportProtocol): void {
    if (t.protocol === 1) throw configError(`namespace ${this.name}: ICMP (protocol 1) is built into the IPv4 layer`);
    if (this.#transports.has(t.protocol)) throw configError(`namespace ${this.name}: protocol ${t.protocol} already has a transport`);
    this.#transports.set(t.protocol, t);
  }

  transport(protocol: number): TransportProtocol | undefined {
    return this.#transports.get(protocol);
  }

  // ---- links ----------------------------------------------------------------------------------

  /** Moves a link into this namespace (`ip link set X netns N`): its frames now come here. */
  addLink<L extends Link>(link: L): L {
    if (this.#links.has(link.name)) throw configError(`namespace ${this.name}: an interface named ${link.name} exists already`);
    this.#links.set(link.name, link);
    this.#addresses.set(link.name, []);
    link.setReceiver((frame, l, physIn) => this.receiveFrame(l, frame, physIn));
    if (link instanceof BridgeLink) {
      link.netfilter = this;
      link.clock = this.clock;
    }
    return link;
  }

  /** Removes a link and everything that refers to it (addresses, routes, neighbours). */
  async removeLink(name: string): Promise<void> {
    const link = this.#requireLink(name);
    for (const a of this.addresses(name)) this.removeAddress(name, `${formatIpv4(a.address)}/${a.prefix}`);
    this.routes.deleteByDevice(name);
    this.neighbours.flushDevice(name);
    for (const l of this.#links.values()) if (l instanceof BridgeLink && l.ports.includes(link)) l.removePort(link);
    this.#links.delete(name);
    this.#addresses.delete(name);
    link.setReceiver(undefined);
    await link.close();
  }

  link(name: string): Link | undefined {
    return this.#links.get(name);
  }

  links(): Link[] {
    return [...this.#links.values()];
  }

  #requireLink(name: string): Link {
    const l = this.#links.get(name);
    if (l === undefined) {
      throw configError(`namespace ${this.name}: no interface named "${name}" (have: ${[...this.#links.keys()].join(', ')})`);
    }
    return l;
  }

  setLinkUp(name: string, up: boolean): void {
    this.#requireLink(name).up = up;
  }

  setFaults(name: string, options: FaultOptions | undefined): void {
    this.#requireLink(name).setFaults(options, { clock: this.clock, rng: this.rng });
  }

  // ---- addresses ------------------------------------------------------------------------------

  /** `ip addr add 10.244.1.1/24 dev cni0`: assigns the address and adds the connected route. */
  addAddress(dev: string, cidrText: string): InterfaceAddress {
    this.#requireLink(dev);
    let address: Ipv4Address;
    let prefix: number;
    try {
      const slash = cidrText.indexOf('/');
      if (slash < 0) throw new Error('missing "/prefix"');
      address = parseIpv4(cidrText.slice(0, slash));
      prefix = parseCidr(cidrText).prefix;
    } catch (error) {
      throw configError(
        `namespace ${this.name}: address "${cidrText}" for ${dev} is not ADDRESS/PREFIX like 10.244.1.2/24 (${(error as Error).message})`,
      );
    }
    if (this.#local.has(address)) throw configError(`namespace ${this.name}: ${formatIpv4(address)} is already assigned`);
    const entry = { address, prefix };
    (this.#addresses.get(dev) as InterfaceAddress[]).push(entry);
    this.#local.add(address);
    const subnet: Cidr = { network: (address & prefixMask(prefix)) >>> 0, prefix };
    // fib_add_ifaddr: a prefix route for the subnet, none for a /32 (flannel.1's 10.244.N.0/32).
    if (
      dev !== 'lo' &&
      prefix < 32 &&
      !this.routes.list().some((r) => r.proto === 'kernel' && r.dev === dev && r.dst.network === subnet.network && r.dst.prefix === prefix)
    ) {
      this.routes.addConnected(subnet, dev, address);
    }
    return entry;
  }

  removeAddress(dev: string, cidrText: string): void {
    const list = this.#addresses.get(dev);
    const address = parseIpv4(cidrText.split('/')[0] as string);
    const i = list?.findIndex((a) => a.address === address) ?? -1;
    if (list === undefined || i < 0) throw configError(`namespace ${this.name}: ${cidrText} is not assigned to ${dev}`);
    const [removed] = list.splice(i, 1);
    this.#local.delete(address);
    if (removed) {
      const network = (removed.address & prefixMask(removed.prefix)) >>> 0;
      this.routes.deleteByDevice(dev, (r) => r.proto === 'kernel' && r.dst.network === network && r.dst.prefix === removed.prefix);
    }
  }

  addresses(dev: string): InterfaceAddress[] {
    return [...(this.#addresses.get(dev) ?? [])];
  }

  /** Whether the address is ours (assigned to an interface, or anywhere in 127/8 as on lo). */
  isLocalAddress(address: Ipv4Address): boolean {
    return this.#local.has(address >>> 0) || address >>> 24 === 127;
  }

  /** The primary (first) address of an interface. */
  interfaceAddress(name: string): Ipv4Address | undefined {
    return this.#addresses.get(name)?.[0]?.address;
  }

  /** inet_select_addr: an address of dev on target's subnet, else dev's first, else any of ours but loopback. */
  selectAddress(dev: string, target: Ipv4Address): Ipv4Address | undefined {
    const list = this.#addresses.get(dev) ?? [];
    for (const a of list)
      if (cidrContains({ network: (a.address & prefixMask(a.prefix)) >>> 0, prefix: a.prefix }, target)) return a.address;
    if (list[0]) return list[0].address;
    for (const [name, l] of this.#addresses) if (name !== 'lo' && l[0]) return l[0].address;
    return undefined;
  }

  /** Whether ip is the directed broadcast of a subnet on dev. */
  isBroadcastOn(dev: string, ip: Ipv4Address): boolean {
    const list = this.#addresses.get(dev);
    if (list === undefined) return false;
    // Asked for every routed frame (input and output): the broadcast is computed in place
    // (address | host bits, as cidrBroadcast does) rather than through a Cidr object per address.
    for (const a of list) {
      if (a.prefix < 31 && (a.address | ~prefixMask(a.prefix)) >>> 0 === ip) return true;
    }
    return false;
  }

  // ---- routes and neighbours --------------------------------------------------------------------

  /** `ip route add ...`. */
  addRoute(spec: RouteSpec) {
    return this.routes.add(spec, (dev) => this.#links.has(dev));
  }

  /** `ip neigh replace IP lladdr MAC dev DEV nud permanent`. */
  addNeighbour(dev: string, ip: string | Ipv4Address, mac: MacAddress, options: { permanent?: boolean } = {}): void {
    this.#requireLink(dev);
    this.neighbours.add(dev, typeof ip === 'string' ? parseIpv4(ip) : ip, mac, options);
  }

  // ---- NeighbourHost ----------------------------------------------------------------------------

  sendArpRequest(dev: string, target: Ipv4Address, to?: MacAddress): void {
    const link = this.#links.get(dev);
    if (link === undefined) return;
    const src = this.selectAddress(dev, target) ?? 0;
    link.transmit(arpRequest(link.mac, src, target, to));
  }

  transmitResolved(dev: string, frame: Buffer, mac: MacAddress): void {
    const link = this.#links.get(dev);
    if (link === undefined) {
      packetPool.release(frame);
      return;
    }
    writeMac(frame, 0, mac);
    link.transmit(frame);
  }

  resolutionFailed(dev: string, _ip: Ipv4Address, frames: Buffer[]): void {
    for (const frame of frames) {
      this.dropIp('neigh-failed', dev);
      // arp_error_report → ipv4_link_failure: host unreachable to the packet's sender.
      try {
        this.ip.icmp.sendErrorAbout(frame, ETHERNET_HEADER, 3, 1, {});
      } finally {
        packetPool.release(frame);
      }
    }
  }

  queueOverflow(dev: string, frame: Buffer): void {
    this.dropIp('neigh-queue-full', dev);
    packetPool.release(frame);
  }

  // ---- receive ----------------------------------------------------------------------------------

  /** A frame arrived on one of our links (or on our bridge, from port physIn). Never throws. */
  receiveFrame(link: Link, frame: Buffer, physIn?: string): void {
    try {
      if (link.usesArp) {
        const dst = readMac(frame, 0);
        // PACKET_OTHERHOST: not for us, and we are not a bridge port.
        if (dst !== link.mac && dst !== MAC_BROADCAST && !isMulticastMac(dst)) {
          link.counters.drop('other-host');
          packetPool.release(frame);
          return;
        }
      }
      const etherType = frame.readUInt16BE(12);
      if (etherType === ETHERTYPE_IPV4) {
        this.ip.receive(link, frame, physIn);
        return;
      }
      if (etherType === ETHERTYPE_ARP) {
        this.#receiveArp(link, frame);
      } else {
        link.counters.drop(etherType === 0x8100 || etherType === 0x88a8 ? 'vlan-unsupported' : 'unknown-ethertype');
      }
      packetPool.release(frame);
    } catch {
      link.counters.drop('rx-error');
    }
  }

  #receiveArp(link: Link, frame: Buffer): void {
    let a: arp.ArpRepr;
    try {
      a = arp.decode(frame, ETHERNET_HEADER);
    } catch {
      link.counters.drop('arp-malformed');
      return;
    }
    if (a.htype !== arp.HTYPE_ETHERNET || a.ptype !== arp.PTYPE_IPV4) {
      link.counters.drop('arp-unsupported');
      return;
    }
    if (isMulticastMac(a.senderMac) || a.senderIp === 0) {
      // A probe (RFC 5227, sender 0.0.0.0) teaches us nothing; answer it only if it is for us.
      if (a.operation !== arp.ArpOperation.Request || !this.#local.has(a.targetIp)) return;
    } else if (this.#local.has(a.senderIp)) {
      link.counters.drop('arp-address-conflict');
      return;
    } else {
      this.neighbours.learn(link.name, a.senderIp, a.senderMac, a.operation === arp.ArpOperation.Reply ? 'reply' : 'request');
    }
    // arp_ignore=0: answer for any local address, whichever interface it is on.
    if (a.operation === arp.ArpOperation.Request && this.#local.has(a.targetIp) && a.targetIp >>> 24 !== 127) {
      link.transmit(arpFrame(arp.ArpOperation.Reply, link.mac, a.targetIp, a.senderMac, a.senderIp, a.senderMac));
    }
  }

  // ---- BridgeNetfilter (br_netfilter) -------------------------------------------------------------

  prerouting(bridge: BridgeLink, frame: Buffer, inPort: Link): object | undefined {
    if (this.hooks === acceptAllHooks) return NO_HOOK_STATE;
    // br_validate_ipv4: the header must be sound (version, IHL, total length, checksum), as in
    // ip_rcv; a bad one is dropped, not bridged.
    const header = frame.subarray(ETHERNET_HEADER);
    const h = ((header[0] as number) & 0x0f) * 4;
    const total = header.length >= 20 ? header.readUInt16BE(2) : 0;
    if (
      header.length < 20 ||
      (header[0] as number) >>> 4 !== 4 ||
      h < 20 ||
      h > total ||
      total > header.length ||
      onesComplementSum(header, 0, h) !== 0xffff
    ) {
      this.dropIp('ip-header', bridge.name);
      packetPool.release(frame);
      return undefined;
    }
    const state: PacketState = { mark: 0, trace: false };
    if (this.hooks.needsDefrag && (frame.readUInt16BE(ETHERNET_HEADER + 6) & 0x3fff) !== 0) {
      // br_netfilter defragments for conntrack too. The whole datagram is then routed (not
      // bridged) by this namespace, which fragments it again for the outgoing port's MTU.
      const whole = this.ip.defragment(frame.subarray(0, ETHERNET_HEADER + total));
      if (whole === undefined) return undefined;
      if (!this.ip.runHook('PREROUTING', whole, state, { in: bridge.name, physIn: inPort.name, bridged: true })) return undefined;
      this.ip.routeInput(whole, bridge, state, inPort.name);
      return undefined;
    }
    const dstBefore = readIpv4(frame, ETHERNET_HEADER + 16);
    if (!this.ip.runHook('PREROUTING', frame, state, { in: bridge.name, physIn: inPort.name, bridged: true })) return undefined;
    const dstAfter = readIpv4(frame, ETHERNET_HEADER + 16);
    if (dstAfter !== dstBefore) {
      // br_nf_pre_routing_finish: DNAT changed the destination, so the packet is routed by this
      // namespace instead of bridged (PREROUTING has run; routing and FORWARD follow).
      this.ip.routeInput(frame.subarray(0, ETHERNET_HEADER + total), bridge, state, inPort.name);
      return undefined;
    }
    return state;
  }

  forward(bridge: BridgeLink, frame: Buffer, inPort: Link, outPort: Link, state: object): boolean {
    const s = state as PacketState;
    if (
      !this.ip.runHook('FORWARD', frame, s, {
        in: bridge.name,
        out: bridge.name,
        physIn: inPort.name,
        physOut: outPort.name,
        bridged: true,
      })
    )
      return false;
    return this.ip.runHook('POSTROUTING', frame, s, { out: bridge.name, physOut: outPort.name, bridged: true });
  }

  // ---- ICMP echo ----------------------------------------------------------------------------------

  ping(dst: string | Ipv4Address, options?: PingOptions): Promise<PingResult> {
    return this.ip.icmp.ping(typeof dst === 'string' ? parseIpv4(dst) : dst, options);
  }

  // ---- observability ------------------------------------------------------------------------------

  dropIp(reason: string, dev?: string): void {
    this.ipCounters.drop(reason);
    if (dev !== undefined) this.#links.get(dev)?.counters.drop(reason);
  }

  /** Counters of every interface, plus `ip` for the IP layer's drops. */
  counters(): Record<string, InterfaceCountersSnapshot> {
    const out: Record<string, InterfaceCountersSnapshot> = {};
    for (const [name, l] of this.#links) out[name] = l.counters.snapshot();
    out.ip = this.ipCounters.snapshot();
    return out;
  }

  /** `ip addr` / `ip route` / `ip neigh` in one text, for debugging and `podnet` commands. */
  describe(): string {
    const lines = [`namespace ${this.name} (ip_forward=${this.ipForward ? 1 : 0})`];
    for (const l of this.#links.values()) {
      const addrs = (this.#addresses.get(l.name) ?? []).map((a) => `${formatIpv4(a.address)}/${a.prefix}`);
      lines.push(`  ${l.name}: ${l.kind} mtu ${l.mtu} ${l.up ? 'UP' : 'DOWN'} ${addrs.join(' ')}`);
    }
    for (const r of this.routes.show()) lines.push(`  route ${r}`);
    for (const n of this.neighbours.show()) lines.push(`  neigh ${n}`);
    return lines.join('\n');
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes every link (and its real sockets) and stops every timer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.tcp.close();
    this.ip.close();
    this.neighbours.close();
    await Promise.all([...this.#links.values()].map((l) => l.close()));
  }
}
