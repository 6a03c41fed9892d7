// A node's uplink `eth0` for host-gw routing: its wire is real UDP datagrams between node
// transport addresses, one Ethernet frame per datagram (UDP 4790 by default, DESIGN §4). The wire
// behaves like one switch joining every node: broadcasts (ARP requests) go to every peer, and
// unicast frames go to the peer their destination MAC was learned from (or to every peer while unknown).
import type dgram from 'node:dgram';
import { type Ipv4Address, isMulticastMac, MAC_BROADCAST, type MacAddress, readMac } from '@podnet/wire';
import { gsoSizeOf, segmentTcp } from '../offload/gso.js';
import { ETHERNET_HEADER, type FrameSink } from './link.js';
import { segmentReporter } from './tunnel-gso.js';
import type { TunnelObserver } from './tunnel-observer.js';
import { UdpTunnelLink } from './udp-tunnel-link.js';
import { bindUdp, PeerMap, type TransportAddress, UnderlayTaps, UnsentFrames } from './udp-wire.js';

export const UPLINK_UDP_PORT = 4790;

export interface UplinkOptions {
  name?: string;
  mac: MacAddress;
  mtu?: number;
  nodeIp: Ipv4Address;
  localAddress: string;
  port?: number;
}

export class UplinkLink extends UdpTunnelLink {
  readonly kind = 'uplink' as const;
  readonly nodeIp: Ipv4Address;
  readonly localAddress: string;
  readonly peers = new PeerMap();
  /** Where each remote MAC was last seen from (a switch's learning table). */
  readonly #macs = new Map<MacAddress, TransportAddress>();
  /** Per-frame accounting for host-gw's tunnel metrics (no encapsulation: overhead 0); none by default. */
  tunnelObserver: TunnelObserver | undefined;
  readonly #requestedPort: number;
  readonly #underlay = new UnderlayTaps();
  #socket: dgram.Socket | undefined;
  readonly #unsent = new UnsentFrames();
  #port = 0;

  constructor(options: UplinkOptions) {
    super({ name: options.name ?? 'eth0', mac: options.mac, mtu: options.mtu ?? 1500 });
    this.nodeIp = options.nodeIp;
    this.localAddress = options.localAddress;
    this.#requestedPort = options.port ?? UPLINK_UDP_PORT;
  }

  async open(): Promise<this> {
    if (this.#socket) return this;
    const socket = await bindUdp(`uplink ${this.name}`, this.localAddress, this.#requestedPort);
    this.#socket = socket;
    this.#port = socket.address().port;
    // A frame is the whole datagram: no tunnel header in front of it.
    socket.on(
      'message',
      this.attachOffload(socket, Buffer.alloc(0), this.#unsent, (msg, rinfo) => this.#onDatagram(msg, rinfo)),
    );
    // A send that failed after waiting in the socket's queue (or an ICMP-induced error): counted.
    socket.on('error', () => {
      this.counters.drop('socket-error');
      this.tunnelObserver?.dropped('send_error', undefined, 'tx');
    });
    return this;
  }

  get localPort(): number {
    return this.#port;
  }

  setPeer(nodeIp: Ipv4Address, transport: TransportAddress): void {
    this.peers.set(nodeIp, transport);
  }

  tapUnderlay(sink: FrameSink): () => void {
    return this.#underlay.add(sink);
  }

  protected wireSend(frame: Buffer): void {
    const socket = this.#socket;
    if (socket === undefined) {
      this.dropReceived(frame, 'not-open');
      return;
    }
    const dst = readMac(frame, 0);
    const known = dst === MAC_BROADCAST || isMulticastMac(dst) ? undefined : this.#macs.get(dst);
    const targets = known ? [known] : this.peers.all();
    const observer = this.tunnelObserver;
    if (targets.length === 0) {
      observer?.dropped('unknown_peer', undefined, 'tx');
      this.dropReceived(frame, 'no-peer-transport');
      return;
    }
    const gsoSize = gsoSizeOf(frame);
    if (gsoSize > 0) {
      this.#sendSuperFrame(frame, gsoSize, targets);
      return;
    }
    const start = observer?.now() ?? 0;
    const innerBytes = frame.length;
    for (const t of targets) {
      const peerIp = this.peers.nodeOf(t.address);
      this.#underlay.write(this.nodeIp, peerIp ?? 0, this.#port, t.port, [frame]);
      const encapMs = observer ? observer.now() - start : 0;
      // Without a completion callback (UnsentFrames says why); counted once the kernel took (or
      // queued) the datagram, so the tunnel counters match a capture.
      socket.send(frame, t.port, t.address);
      if (observer && peerIp !== undefined) observer.sent(peerIp, innerBytes, encapMs);
    }
    this.#unsent.sent(socket, frame);
  }

  /** A TCP super-frame to one known peer: its datagrams in runs through UDP GSO; flooded or without the offload, one by one. */
  #sendSuperFrame(frame: Buffer, gsoSize: number, targets: readonly TransportAddress[]): void {
    const offload = this.offload;
    const target = targets[0] as TransportAddress;
    if (offload === undefined || !offload.sendsSuperFrames || targets.length !== 1) {
      segmentTcp(frame, gsoSize, (segment) => this.wireSend(segment));
      return;
    }
    const peerIp = this.peers.nodeOf(target.address);
    const tap = this.#underlay.active
      ? (datagram: Buffer) => this.#underlay.write(this.nodeIp, peerIp ?? 0, this.#port, target.port, [datagram])
      : undefined;
    const onSent = segmentReporter(this.tunnelObserver, peerIp, tap);
    offload.send(frame, gsoSize, target.address, target.port, onSent, (whole) => this.wireSend(whole));
  }

  #onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      if (this.#underlay.active) this.#underlay.write(this.peers.nodeOf(rinfo.address) ?? 0, this.nodeIp, rinfo.port, this.#port, [msg]);
      if (msg.length >= 12) {
        const src = readMac(msg, 6);
        if (!isMulticastMac(src) && src !== 0) this.#macs.set(src, { address: rinfo.address, port: rinfo.port });
      }
      const observer = this.tunnelObserver;
      if (observer) {
        const peer = this.peers.nodeOf(rinfo.address);
        if (msg.length < ETHERNET_HEADER) observer.dropped('malformed', peer, 'rx');
        else if (msg.length > this.mtu + ETHERNET_HEADER + 4) observer.dropped('mtu', peer, 'rx');
        else observer.received(peer, msg.length, 0);
      }
      this.receiveBatched(msg);
    } catch {
      this.counters.drop('rx-error');
    }
  }

  override async close(): Promise<void> {
    await super.close();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.#unsent.releaseAll();
  }
}
