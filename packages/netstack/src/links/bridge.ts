// A learning bridge (net/bridge/): `cni0`. Ports are links (the host ends of pod veths); the
// bridge itself is an interface of its namespace, with its own MAC and IP (the pods' gateway).
// A frame from a port is learned, then delivered to the bridge's own stack (dst = bridge MAC, or
// broadcast/multicast), forwarded to the port the FDB names, or flooded to every other port.
//
// IPv4 frames bridged between two ports also traverse PREROUTING, FORWARD and POSTROUTING
// (br_netfilter with net.bridge.bridge-nf-call-iptables=1, which Kubernetes requires); the
// namespace supplies those calls through BridgeNetfilter.
import { type Clock, ethernet, isMulticastMac, MAC_BROADCAST, type MacAddress, packetPool, readMac, systemClock } from '@podnet/wire';
import { configError } from '../errors.js';
import { gsoSizeOf, setGsoSize } from '../offload/index.js';
import { Fdb } from './fdb.js';
import { ETHERNET_HEADER, type Link, LinkBase } from './link.js';

const ETHERTYPE_IPV4 = 0x0800;

/** The namespace's side of br_netfilter. */
export interface BridgeNetfilter {
  /**
   * PREROUTING for an IPv4 frame being bridged. Returns the per-packet state to carry on, or
   * undefined when the frame was consumed (dropped, rejected, or re-routed by the IP layer because
   * NAT changed its destination, as br_nf_pre_routing_finish does).
   */
  prerouting(bridge: BridgeLink, frame: Buffer, inPort: Link): object | undefined;
  /** FORWARD then POSTROUTING for one copy leaving by outPort; true when accepted. */
  forward(bridge: BridgeLink, frame: Buffer, inPort: Link, outPort: Link, state: object): boolean;
}

export interface BridgeOptions {
  name?: string;
  mac: MacAddress;
  mtu?: number;
  clock?: Clock;
  ageingMs?: number;
}

export class BridgeLink extends LinkBase {
  readonly kind = 'bridge' as const;
  readonly fdb: Fdb<Link>;
  readonly #ports = new Set<Link>();
  clock: Clock;
  netfilter: BridgeNetfilter | undefined;

  constructor(options: BridgeOptions) {
    super({ name: options.name ?? 'cni0', mac: options.mac, mtu: options.mtu ?? 1500 });
    this.clock = options.clock ?? systemClock;
    this.fdb = new Fdb<Link>(options.ageingMs);
  }

  /** The bridge hands a frame to its ports as it is; each port segments a super-frame if its wire must. */
  protected override get wireCarriesGso(): boolean {
    return true;
  }

  get ports(): readonly Link[] {
    return [...this.#ports];
  }

  /** `ip link set <port> master cni0`: frames the port receives now go to the bridge. */
  addPort(port: Link): void {
    if (port === this) throw configError(`bridge ${this.name}: cannot be a port of itself`);
    if (this.#ports.has(port)) throw configError(`bridge ${this.name}: ${port.name} is already a port`);
    this.#ports.add(port);
    port.setReceiver((frame) => this.#fromPort(frame, port));
  }

  removePort(port: Link): void {
    if (!this.#ports.delete(port)) return;
    port.setReceiver(undefined);
    this.fdb.flushPort(port);
  }

  #fromPort(frame: Buffer, port: Link): void {
    if (!this.up) {
      this.#drop(frame, 'link-down');
      return;
    }
    const dst = readMac(frame, ethernet.DST_OFFSET);
    const src = readMac(frame, ethernet.SRC_OFFSET);
    // br_handle_frame: a multicast or zero source is invalid (is_valid_ether_addr).
    if (isMulticastMac(src) || src === 0) {
      this.#drop(frame, 'bad-source-mac');
      return;
    }
    const now = this.clock.now();
    if (src !== this.mac) this.fdb.learn(src, port, now);
    if (dst === this.mac) {
      this.receive(frame, port.name);
      return;
    }
    if (dst === MAC_BROADCAST || isMulticastMac(dst)) {
      this.#bridge(frame, port, undefined, true);
      return;
    }
    const out = this.fdb.lookup(dst, now);
    if (out === port) {
      this.#drop(frame, 'same-port');
      return;
    }
    this.#bridge(frame, port, out, false);
  }

  /** Forwards (out known) or floods (out undefined) a frame from inPort; `local` also hands it to our own stack. */
  #bridge(frame: Buffer, inPort: Link, out: Link | undefined, local: boolean): void {
    const isIpv4 = frame.length >= ETHERNET_HEADER + 20 && frame.readUInt16BE(ethernet.TYPE_OFFSET) === ETHERTYPE_IPV4;
    let state: object | undefined;
    if (isIpv4 && this.netfilter && !local) {
      state = this.netfilter.prerouting(this, frame, inPort);
      if (state === undefined) return; // consumed (and released) by the namespace
    }
    const targets = out !== undefined ? [out] : [...this.#ports].filter((p) => p !== inPort);
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i] as Link;
      const last = i === targets.length - 1 && !local;
      const copy = last ? frame : copyFrame(frame);
      if (state !== undefined && this.netfilter && !this.netfilter.forward(this, copy, inPort, target, state)) continue;
      target.transmit(copy);
    }
    if (local) this.receive(frame, inPort.name);
    else if (targets.length === 0) this.#drop(frame, 'no-port');
  }

  #drop(frame: Buffer, reason: string): void {
    this.counters.drop(reason);
    packetPool.release(frame);
  }

  /** Frames from the bridge's own stack: to the port that has the destination, or flooded. */
  protected wireSend(frame: Buffer): void {
    const dst = readMac(frame, ethernet.DST_OFFSET);
    const out = dst === MAC_BROADCAST || isMulticastMac(dst) ? undefined : this.fdb.lookup(dst, this.clock.now());
    if (out !== undefined) {
      out.transmit(frame);
      return;
    }
    const ports = [...this.#ports];
    if (ports.length === 0) {
      this.#drop(frame, 'no-port');
      return;
    }
    for (let i = 0; i < ports.length; i++) (ports[i] as Link).transmit(i === ports.length - 1 ? frame : copyFrame(frame));
  }
}

function copyFrame(frame: Buffer): Buffer {
  const c = packetPool.alloc(frame.length);
  frame.copy(c);
  // skb_clone keeps skb_shinfo: a flooded super-frame stays one.
  const gsoSize = gsoSizeOf(frame);
  if (gsoSize > 0) setGsoSize(c, gsoSize);
  return c;
}
