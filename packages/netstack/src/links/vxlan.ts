// A VXLAN device (RFC 7348; drivers/net/vxlan in Linux), `flannel.1`: inner Ethernet frames
// travel as the payload of real UDP datagrams — exactly the 8-byte VXLAN header (flags I, VNI)
// and the frame, byte-compatible with a Linux vxlan device. Like flannel's device it does not
// learn (`nolearning`): the backend adds one static FDB entry per remote node (VTEP MAC → node IP),
// a permanent neighbour and an onlink route (flannel.ts), and the peer map turns the node IP into
// that node's transport address.
import type dgram from 'node:dgram';
import { formatIpv4, type Ipv4Address, MAC_ZERO, type MacAddress, readMac, vxlan } from '@podnet/wire';
import { configError } from '../errors.js';
import { gsoSizeOf, segmentTcp } from '../offload/gso.js';
import { expandIntoHeadroom } from './headroom.js';
import { ETHERNET_HEADER, type FrameSink } from './link.js';
import { segmentReporter } from './tunnel-gso.js';
import type { TunnelObserver } from './tunnel-observer.js';
import { UdpTunnelLink } from './udp-tunnel-link.js';
import { bindUdp, PeerMap, type TransportAddress, UnderlayTaps, UnsentFrames } from './udp-wire.js';

export interface VxlanOptions {
  name?: string;
  mac: MacAddress;
  /** 1450 by default: 1500 minus the 50 bytes of outer Ethernet, IPv4, UDP and VXLAN headers. */
  mtu?: number;
  vni?: number;
  /** The emulated node IP (flannel's public-ip): the outer source in captures, the key in peers' FDBs. */
  nodeIp: Ipv4Address;
  /** Where the real UDP socket binds (the node's transport address). */
  localAddress: string;
  /** UDP port to bind; 4789 (IANA) by default, 0 for any free port (tests). */
  port?: number;
}

export class VxlanLink extends UdpTunnelLink {
  readonly kind = 'vxlan' as const;
  readonly vni: number;
  readonly nodeIp: Ipv4Address;
  readonly localAddress: string;
  readonly peers = new PeerMap();
  /** Static FDB: inner destination MAC → remote node IP (`bridge fdb append MAC dev flannel.1 dst IP`). */
  readonly fdb = new Map<MacAddress, Ipv4Address>();
  /** Per-frame tunnel accounting for /metrics (the cni-agent's observability); none by default. */
  tunnelObserver: TunnelObserver | undefined;
  readonly #requestedPort: number;
  readonly #header: Buffer;
  readonly #underlay = new UnderlayTaps();
  #socket: dgram.Socket | undefined;
  #port = 0;
  readonly #unsent = new UnsentFrames();

  constructor(options: VxlanOptions) {
    super({ name: options.name ?? 'flannel.1', mac: options.mac, mtu: options.mtu ?? 1450 });
    const vni = options.vni ?? 1;
    if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw configError(`vxlan ${this.name}: VNI ${vni} is not a 24-bit number`);
    this.vni = vni;
    this.nodeIp = options.nodeIp;
    this.localAddress = options.localAddress;
    this.#requestedPort = options.port ?? vxlan.UDP_PORT;
    this.#header = vxlan.encode({ flags: vxlan.FLAG_I, reserved1: 0, vni, reserved2: 0, payload: Buffer.alloc(0) });
  }

  /** Binds the real UDP socket; resolves once datagrams can flow. */
  async open(): Promise<this> {
    if (this.#socket) return this;
    const socket = await bindUdp(`vxlan ${this.name}`, this.localAddress, this.#requestedPort);
    this.#socket = socket;
    this.#port = socket.address().port;
    socket.on(
      'message',
      this.attachOffload(socket, this.#header, this.#unsent, (msg, rinfo) => this.#onDatagram(msg, rinfo)),
    );
    // Errors after bind (a send that failed after waiting in the socket's queue, or an
    // ICMP-induced ECONNREFUSED on some kernels) are counted, never thrown.
    socket.on('error', () => {
      this.counters.drop('socket-error');
      this.tunnelObserver?.dropped('send_error', undefined, 'tx');
    });
    return this;
  }

  /** The bound UDP port (after open()). */
  get localPort(): number {
    return this.#port;
  }

  setPeer(nodeIp: Ipv4Address, transport: TransportAddress): void {
    this.peers.set(nodeIp, transport);
  }

  /** Adds a static FDB entry: frames for `mac` go to the node `nodeIp`. MAC 00:00:00:00:00:00 is the default (flood) entry. */
  addFdb(mac: MacAddress, nodeIp: Ipv4Address): void {
    this.fdb.set(mac, nodeIp);
  }

  deleteFdb(mac: MacAddress): void {
    this.fdb.delete(mac);
  }

  /** Captures the real datagrams as a node's underlay would show them (outer headers synthesized). */
  tapUnderlay(sink: FrameSink): () => void {
    return this.#underlay.add(sink);
  }

  protected wireSend(frame: Buffer): void {
    const socket = this.#socket;
    if (socket === undefined) {
      this.dropReceived(frame, 'not-open');
      return;
    }
    const observer = this.tunnelObserver;
    const start = observer?.now() ?? 0;
    const dst = readMac(frame, 0);
    const nodeIp = this.fdb.get(dst) ?? this.fdb.get(MAC_ZERO);
    if (nodeIp === undefined) {
      observer?.dropped('no_fdb_entry', undefined, 'tx');
      this.dropReceived(frame, 'no-fdb-entry');
      return;
    }
    const peer = this.peers.get(nodeIp);
    if (peer === undefined) {
      observer?.dropped('unknown_peer', nodeIp, 'tx');
      this.dropReceived(frame, 'no-peer-transport');
      return;
    }
    const gsoSize = gsoSizeOf(frame);
    if (gsoSize > 0) {
      this.#sendSuperFrame(frame, gsoSize, nodeIp, peer);
      return;
    }
    // The parts list is built only for a capture: no array per frame when nobody taps the underlay.
    if (this.#underlay.active) this.#underlay.write(this.nodeIp, nodeIp, this.#port, peer.port, [this.#header, frame]);
    const innerBytes = frame.length;
    const encapMs = observer ? observer.now() - start : 0;
    // A locally built frame has room for the header in front of it (headroom.ts): one buffer, in place.
    const datagram = expandIntoHeadroom(frame, vxlan.HEADER_LENGTH);
    if (datagram !== undefined) this.#header.copy(datagram, 0);
    // Without a completion callback (UnsentFrames says why); counted once the kernel took (or
    // queued) the datagram, so the tunnel counters match a capture.
    socket.send(datagram ?? [this.#header, frame], peer.port, peer.address);
    observer?.sent(nodeIp, innerBytes, encapMs);
    this.#unsent.sent(socket, frame);
  }

  /** A TCP super-frame: its datagrams in runs through UDP GSO, or (offload gone) one by one. */
  #sendSuperFrame(frame: Buffer, gsoSize: number, nodeIp: Ipv4Address, peer: TransportAddress): void {
    const offload = this.offload;
    if (offload === undefined || !offload.sendsSuperFrames) {
      segmentTcp(frame, gsoSize, (segment) => this.wireSend(segment));
      return;
    }
    const tap = this.#underlay.active
      ? (datagram: Buffer) => this.#underlay.write(this.nodeIp, nodeIp, this.#port, peer.port, [datagram])
      : undefined;
    const onSent = segmentReporter(this.tunnelObserver, nodeIp, tap);
    offload.send(frame, gsoSize, peer.address, peer.port, onSent, (whole) => this.wireSend(whole));
  }

  #onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      const observer = this.tunnelObserver;
      const start = observer?.now() ?? 0;
      if (this.#underlay.active) {
        const from = this.peers.nodeOf(rinfo.address) ?? 0;
        this.#underlay.write(from, this.nodeIp, rinfo.port, this.#port, [msg]);
      }
      // RFC 7348 §5: the I flag must be set; a receiver discards frames for a VNI it does not serve.
      if (msg.length < vxlan.HEADER_LENGTH) {
        observer?.dropped('malformed', this.peers.nodeOf(rinfo.address), 'rx');
        this.#dropDatagram('vxlan-truncated', msg.length);
        return;
      }
      if (((msg[0] as number) & vxlan.FLAG_I) === 0) {
        observer?.dropped('malformed', this.peers.nodeOf(rinfo.address), 'rx');
        this.#dropDatagram('vxlan-no-i-flag', msg.length);
        return;
      }
      // The 24-bit VNI read byte by byte (readUIntBE(offset, 3) dispatches on the width per call).
      const vni =
        ((msg[vxlan.VNI_OFFSET] as number) << 16) | ((msg[vxlan.VNI_OFFSET + 1] as number) << 8) | (msg[vxlan.VNI_OFFSET + 2] as number);
      if (vni !== this.vni) {
        observer?.dropped('bad_vni', this.peers.nodeOf(rinfo.address), 'rx');
        this.#dropDatagram('vxlan-wrong-vni', msg.length);
        return;
      }
      const inner = msg.subarray(vxlan.HEADER_LENGTH);
      if (observer) {
        const peer = this.peers.nodeOf(rinfo.address);
        if (inner.length > this.mtu + ETHERNET_HEADER + 4) observer.dropped('mtu', peer, 'rx');
        else observer.received(peer, inner.length, observer.now() - start);
      }
      this.receiveBatched(inner);
    } catch {
      this.counters.drop('rx-error');
    }
  }

  #dropDatagram(reason: string, bytes: number): void {
    this.counters.rx(bytes);
    this.counters.drop(reason);
  }

  override async close(): Promise<void> {
    await super.close();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.#unsent.releaseAll();
  }

  describe(): string {
    return `${this.name} vxlan id ${this.vni} local ${formatIpv4(this.nodeIp)} (${this.localAddress}:${this.#port})`;
  }
}
