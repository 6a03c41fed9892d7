// The UDP offloads of a tunnel link's real socket (vxlan, uplink), sending and receiving.
//
// Sending: a TCP super-frame goes out with UDP GSO: the software GSO of
// offload/gso.ts writes the segments side by side into one buffer, each behind the tunnel's
// header (VXLAN's 8 bytes, or none for the host-gw uplink), and udp-segmentation.ts hands each run
// of up to UDP_MAX_SEGMENTS datagrams to the kernel in one system call. This is the path of a
// Linux vxlan device over a NIC with tx-udp_tnl-segmentation (SKB_GSO_UDP_TUNNEL): one skb
// through the tunnel, MTU-sized datagrams on the wire.
//
// Nothing is lost or reordered on the way: a run the kernel will not take now (EAGAIN, a full
// socket buffer) goes datagram by datagram through dgram's queue, and so does everything after it
// while that queue is not empty. A run the kernel refuses outright (EINVAL: the route's MTU is
// smaller than a segment, as on a 1500-byte container eth0 with the uplink's 1514-byte frames)
// does too, and turns the offload off for the link.
//
// Receiving: UDP_GRO on the socket lets the kernel hand over a run of one flow's datagrams as one
// message; coalesced-datagrams.ts cuts it back into datagrams for the link.
import type dgram from 'node:dgram';
import { constants } from 'node:os';
import { type Ipv4Address, packetPool } from '@podnet/wire';
import { segmentTcp } from '../offload/gso.js';
import { forEachCoalescedDatagram } from './coalesced-datagrams.js';
import type { TunnelObserver } from './tunnel-observer.js';
import { UDP_MAX_PAYLOAD, UDP_MAX_SEGMENTS, UdpSegmentSocket } from './udp-segmentation.js';
import type { UnsentFrames } from './udp-wire.js';

const EAGAIN = constants.errno.EAGAIN;
const ENOBUFS = constants.errno.ENOBUFS;

/** What the offloads did on one link (as `ethtool -S` shows a NIC's offload counters). */
export interface UdpOffloadCounters {
  /** System calls that sent a run of datagrams with UDP GSO, and the datagrams in them. */
  gsoSends: number;
  gsoDatagrams: number;
  /** Datagrams of super-frames that went one by one through dgram after all (EAGAIN, or the offload turned off). */
  fallbackDatagrams: number;
  /** Received messages that held a run (UDP GRO), and the datagrams cut from them. */
  groMessages: number;
  groDatagrams: number;
}

/** Called for every datagram sent: its bytes (header + inner frame) and the inner frame alone; both only valid during the call. */
export type SegmentSent = (datagram: Buffer, inner: Buffer) => void;

/**
 * What a tunnel link reports per datagram of a run: the underlay capture (`tap`) and the tunnel
 * metrics for the peer node (`observer`, timing each datagram since the previous one); undefined
 * when neither listens, so the run costs no callback.
 */
export function segmentReporter(
  observer: TunnelObserver | undefined,
  peer: Ipv4Address | undefined,
  tap: ((datagram: Buffer) => void) | undefined,
): SegmentSent | undefined {
  if (observer === undefined && tap === undefined) return undefined;
  let last = observer?.now() ?? 0;
  return (datagram, inner) => {
    tap?.(datagram);
    if (observer !== undefined && peer !== undefined) {
      const now = observer.now();
      observer.sent(peer, inner.length, now - last);
      last = now;
    }
  };
}

/** Receives a link's datagrams: (datagram, sender). */
export type DatagramHandler = (datagram: Buffer, rinfo: dgram.RemoteInfo) => void;

/** The two calls of UdpSegmentSocket the offload uses. */
export type UdpRunSender = Pick<UdpSegmentSocket, 'send' | 'enableReceiveCoalescing'>;

export class TunnelUdpOffload {
  readonly #udp: UdpRunSender;
  /** UDP_GRO is set: a message may hold a run of datagrams. */
  readonly #coalescing: boolean;
  readonly #socket: dgram.Socket;
  readonly #header: Buffer;
  readonly #unsent: UnsentFrames;
  /** One run of datagrams being assembled; the kernel copies it during sendmsg, so it is reused. */
  readonly #run = Buffer.allocUnsafeSlow(UDP_MAX_PAYLOAD);
  #runBytes = 0;
  #runCount = 0;
  #segmentBytes = 0;
  /** A shorter datagram ends a run: the kernel cuts every segment but the last at #segmentBytes. */
  #runEnded = false;
  #address = '';
  #port = 0;
  #onSent: SegmentSent | undefined;
  // The message being cut: who sent it and who gets its pieces (no closure per message).
  #rinfo: dgram.RemoteInfo | undefined;
  #each: DatagramHandler | undefined;
  readonly #onPiece = (datagram: Buffer): void => this.#each?.(datagram, this.#rinfo as dgram.RemoteInfo);
  /** Why the offload was turned off on this link; undefined while it is on. */
  disabledBecause: string | undefined;
  readonly counters: UdpOffloadCounters = { gsoSends: 0, gsoDatagrams: 0, fallbackDatagrams: 0, groMessages: 0, groDatagrams: 0 };

  /**
   * The offloads for a link's bound `socket` whose datagrams start with `header` (VXLAN's, or
   * empty), or why it has none. `unsent` is the link's, so held frames are freed in one place.
   */
  static attach(socket: dgram.Socket, header: Buffer, unsent: UnsentFrames): TunnelUdpOffload | { reason: string } {
    const udp = UdpSegmentSocket.attach(socket);
    return udp instanceof UdpSegmentSocket ? new TunnelUdpOffload(udp, socket, header, unsent) : udp;
  }

  /** `udp` is the socket's UdpSegmentSocket (attach), or a stand-in in tests. */
  constructor(udp: UdpRunSender, socket: dgram.Socket, header: Buffer, unsent: UnsentFrames) {
    this.#udp = udp;
    this.#socket = socket;
    this.#header = header;
    this.#unsent = unsent;
    this.#coalescing = udp.enableReceiveCoalescing();
  }

  /** Whether super-frames go out whole (else the link cuts them in software first). */
  get sendsSuperFrames(): boolean {
    return this.disabledBecause === undefined;
  }

  /** `each(datagram, rinfo)` for every datagram of a received message (views into it; the message itself when it is one). */
  forEachDatagram(msg: Buffer, rinfo: dgram.RemoteInfo, each: DatagramHandler): void {
    if (!this.#coalescing) {
      each(msg, rinfo);
      return;
    }
    this.#rinfo = rinfo;
    this.#each = each;
    const n = forEachCoalescedDatagram(msg, this.#header.length, this.#onPiece);
    if (n > 1) {
      this.counters.groMessages++;
      this.counters.groDatagrams += n;
    }
  }

  /**
   * Sends the super-frame `frame` (gsoSize > 0) to address:port as its segments; frees the frame.
   * `whole` gets a frame that segmentTcp emits unchanged (not IPv4/TCP, malformed): the link sends it as usual.
   */
  send(frame: Buffer, gsoSize: number, address: string, port: number, onSent: SegmentSent | undefined, whole: (f: Buffer) => void): void {
    this.#address = address;
    this.#port = port;
    this.#onSent = onSent;
    const header = this.#header.length;
    segmentTcp(
      frame,
      gsoSize,
      (segment) => {
        if (segment.buffer !== this.#run.buffer) {
          whole(segment);
          return;
        }
        const at = this.#runBytes;
        this.#header.copy(this.#run, at);
        const datagramBytes = header + segment.length;
        if (this.#runCount === 0) this.#segmentBytes = datagramBytes;
        else if (datagramBytes < this.#segmentBytes) this.#runEnded = true;
        this.#runBytes = at + datagramBytes;
        this.#runCount++;
        this.#onSent?.(this.#run.subarray(at, at + datagramBytes), segment);
      },
      (length) => {
        // A run holds equal segments (only the last may be shorter) within the UDP and GSO limits.
        const datagramBytes = header + length;
        if (
          this.#runCount > 0 &&
          (this.#runEnded ||
            this.#runCount === UDP_MAX_SEGMENTS ||
            this.#runBytes + datagramBytes > UDP_MAX_PAYLOAD ||
            datagramBytes > this.#segmentBytes)
        ) {
          this.#flush();
        }
        const at = this.#runBytes + header;
        return this.#run.subarray(at, at + length);
      },
    );
    this.#flush();
    this.#onSent = undefined;
  }

  #flush(): void {
    const count = this.#runCount;
    if (count === 0) return;
    const bytes = this.#runBytes;
    this.#runCount = 0;
    this.#runBytes = 0;
    this.#runEnded = false;
    // Datagrams waiting in dgram's queue go first: a direct send now would overtake them.
    if (this.disabledBecause === undefined && this.#socket.getSendQueueCount() === 0) {
      const r = this.#udp.send(this.#run, bytes, count === 1 ? 0 : this.#segmentBytes, this.#address, this.#port);
      if (r >= 0) {
        this.counters.gsoSends++;
        this.counters.gsoDatagrams += count;
        return;
      }
      if (r !== -EAGAIN && r !== -ENOBUFS) {
        this.disabledBecause = `the kernel refused a run of ${count} × ${this.#segmentBytes}-byte datagrams to ${this.#address}:${this.#port} (errno ${-r})`;
      }
    }
    this.#sendOneByOne(bytes);
  }

  /** The run's datagrams through dgram's own queue, each copied out of the reused run buffer. */
  #sendOneByOne(bytes: number): void {
    for (let at = 0; at < bytes; at += this.#segmentBytes) {
      this.counters.fallbackDatagrams++;
      const length = Math.min(this.#segmentBytes, bytes - at);
      const copy = packetPool.alloc(length, false);
      this.#run.copy(copy, 0, at, at + length);
      this.#socket.send(copy, this.#port, this.#address);
      this.#unsent.sent(this.#socket, copy);
    }
  }
}
