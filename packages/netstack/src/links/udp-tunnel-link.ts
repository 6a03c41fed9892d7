// What the two links whose wire is a real UDP socket (vxlan, uplink) share about that socket's
// offloads (tunnel-gso.ts): attaching them when the socket is bound, and what the link then says
// about itself — it carries super-frames whole (ethtool tso on), why not when it does not, and the
// offload counters. Both deliver datagram by datagram, so their receives go through GRO.
import type dgram from 'node:dgram';
import { LinkBase } from './link.js';
import { type DatagramHandler, TunnelUdpOffload, type UdpOffloadCounters } from './tunnel-gso.js';
import type { UnsentFrames } from './udp-wire.js';

export abstract class UdpTunnelLink extends LinkBase {
  /** UDP GSO and GRO on the socket, when this process and kernel have them. */
  protected offload: TunnelUdpOffload | undefined;
  #offloadOff = 'the link is not open';

  /**
   * Attaches the offloads to the bound `socket` (datagrams start with `header`); returns the
   * 'message' listener to install: `onDatagram` itself, or one that first cuts UDP GRO messages.
   */
  protected attachOffload(socket: dgram.Socket, header: Buffer, unsent: UnsentFrames, onDatagram: DatagramHandler): DatagramHandler {
    const offload = TunnelUdpOffload.attach(socket, header, unsent);
    if (!(offload instanceof TunnelUdpOffload)) {
      this.#offloadOff = offload.reason;
      return onDatagram;
    }
    this.offload = offload;
    return (msg, rinfo) => offload.forEachDatagram(msg, rinfo, onDatagram);
  }

  /** Its socket delivers datagram by datagram: receives go through GRO (receiveBatched). */
  protected override get receivesBatches(): boolean {
    return true;
  }

  /** With UDP GSO the socket takes a TCP super-frame whole: the kernel cuts the datagrams (tunnel-gso.ts). */
  protected override get wireCarriesGso(): boolean {
    return this.offload?.sendsSuperFrames === true;
  }

  /** Why super-frames are cut in software before this link (no UDP GSO), or undefined while the socket takes them whole. */
  get udpSegmentationOff(): string | undefined {
    return this.offload === undefined ? this.#offloadOff : this.offload.disabledBecause;
  }

  /** What UDP GSO and GRO did on this link's socket; undefined without them. */
  get udpOffloadCounters(): Readonly<UdpOffloadCounters> | undefined {
    return this.offload?.counters;
  }
}
