// The one interface every link kind implements (DESIGN §6.4): a namespace hands it Ethernet frames
// to transmit and gets the frames it receives through a receiver callback. Kinds are chosen by
// name (`kind`), and each implementation checks its conformance with `satisfies`/`implements`.
//
// Frame ownership: a frame given to transmit() belongs to the link from then on; a frame given to
// the receiver belongs to the receiver. Whoever ends a frame's life releases it to packetPool
// (a no-op for frames in ordinary memory), which is how the data plane avoids per-packet allocations.

import type { Clock, Rng } from '@podnet/wire';
import { type MacAddress, packetPool, pcap } from '@podnet/wire';
import { InterfaceCounters } from '../counters.js';
import { configError } from '../errors.js';
import { FaultInjector, type FaultOptions } from '../faults.js';
import { gsoSizeOf, segmentTcp, TcpGro } from '../offload/index.js';

export type LinkKind = 'loopback' | 'veth' | 'unix-veth' | 'bridge' | 'vxlan' | 'uplink';

/** `physIn` names the bridge port a frame came in by, when `link` is a bridge delivering to its own stack. */
export type FrameReceiver = (frame: Buffer, link: Link, physIn?: string) => void;

/** Where a capture tap writes: a wire PcapWriter, or anything with the same write(). */
export interface FrameSink {
  write(frame: Buffer, timestamp?: { seconds: number; nanoseconds: number }): unknown;
}

export interface Link {
  readonly kind: LinkKind;
  readonly name: string;
  readonly mac: MacAddress;
  mtu: number;
  /** Administrative state (`ip link set X up|down`): a down link neither sends nor receives. */
  up: boolean;
  /** False for loopback: next hops are not resolved with ARP on it. */
  readonly usesArp: boolean;
  /**
   * True when the link carries a TCP super-frame whole (ethtool's tcp-segmentation-offload on a
   * veth): a sender's TCP then builds them (TSO), and the frame is cut into MTU-sized segments
   * only at a link that cannot carry it, before its wire (software GSO, validate_xmit_skb).
   */
  readonly carriesGso: boolean;
  /** ethtool's tcp-segmentation-offload and generic-receive-offload switches (`ethtool -K`). */
  tso: boolean;
  gro: boolean;
  readonly offloadFeatures: OffloadFeatures;
  readonly counters: InterfaceCounters;
  /** Who gets the frames this link receives (the namespace, or the bridge it is a port of). */
  setReceiver(receiver: FrameReceiver | undefined): void;
  /** Puts a frame on the wire; ownership passes to the link. */
  transmit(frame: Buffer): void;
  /** Applies (or with undefined removes) fault injection on this link's egress. */
  setFaults(options: FaultOptions | undefined, env: { clock: Clock; rng: Rng }): void;
  /** Copies every frame sent and received to a pcap sink; returns a function that removes the tap. */
  tap(sink: FrameSink): () => void;
  /** Stops the link and frees its real resources (sockets, timers). */
  close(): Promise<void>;
}

/** The segmentation offloads `ethtool -k` shows for a link (offload/ethtool.ts). */
export interface OffloadFeatures {
  tso: boolean;
  tsoFixed: boolean;
  gro: boolean;
  groFixed: boolean;
}

export const ETHERNET_HEADER = 14;
/** Room for an 802.1Q tag on top of the MTU, as Linux accepts it (VLAN_ETH_HLEN). */
const RX_SLACK = ETHERNET_HEADER + 4;

export interface LinkOptions {
  name: string;
  mac: MacAddress;
  mtu?: number;
}

const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;

/** What every link kind shares: counters, taps, faults, and a receive path that never throws. */
export abstract class LinkBase implements Link {
  abstract readonly kind: LinkKind;
  readonly name: string;
  readonly mac: MacAddress;
  mtu: number;
  up = true;
  readonly counters = new InterfaceCounters();
  #receiver: FrameReceiver | undefined;
  #faults: FaultInjector | undefined;
  #taps: FrameSink[] = [];
  /**
   * Generic receive offload (ethtool's generic-receive-offload, on by default as in Linux): the TCP
   * segments one receive batch brings are merged per flow before the stack sees them. Only links
   * whose wire delivers datagram by datagram use it (receiveBatched: vxlan, uplink).
   */
  gro = true;
  #gro: TcpGro | undefined;
  #groFlushScheduled = false;
  readonly #groFlush = (): void => {
    this.#groFlushScheduled = false;
    this.#gro?.flush();
  };

  get usesArp(): boolean {
    return true;
  }

  /**
   * ethtool's tcp-segmentation-offload (`ethtool -K DEV tso off`): on by default, it matters only
   * where the wire can carry a super-frame (wireCarriesGso); off, TCP sends MSS-sized segments
   * out of this link and a super-frame forwarded to it is cut before it.
   */
  tso = true;

  /** Whether this kind's wire carries a super-frame whole; kinds whose wire is one real datagram per frame (vxlan, uplink) cannot. */
  protected get wireCarriesGso(): boolean {
    return false;
  }

  get carriesGso(): boolean {
    return this.tso && this.wireCarriesGso;
  }

  /** ethtool -k: a feature is [fixed] where this kind cannot change it. */
  get offloadFeatures(): OffloadFeatures {
    return { tso: this.carriesGso, tsoFixed: !this.wireCarriesGso, gro: this.gro && this.receivesBatches, groFixed: !this.receivesBatches };
  }

  /** Links whose wire hands over datagram by datagram (vxlan, uplink) run receives through GRO (receiveBatched). */
  protected get receivesBatches(): boolean {
    return false;
  }

  constructor(options: LinkOptions) {
    // IFNAMSIZ is 16 in Linux: 15 characters and the terminating NUL.
    if (!IFNAME.test(options.name)) {
      throw configError(`interface name "${options.name}" is not valid: use 1-15 letters, digits, '.', '-', '_' or ':'`);
    }
    if (!Number.isInteger(options.mac) || options.mac < 0 || options.mac > 0xffffffffffff) {
      throw configError(`interface ${options.name}: MAC address ${options.mac} is not a 48-bit number`);
    }
    const mtu = options.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
      throw configError(`interface ${options.name}: MTU ${mtu} is out of range (68-65535, RFC 791 §3.2 minimum 68)`);
    }
    this.name = options.name;
    this.mac = options.mac;
    this.mtu = mtu;
  }

  setReceiver(receiver: FrameReceiver | undefined): void {
    this.#receiver = receiver;
  }

  setFaults(options: FaultOptions | undefined, env: { clock: Clock; rng: Rng }): void {
    this.#faults?.close();
    this.#faults = options ? new FaultInjector(options, env.clock, env.rng) : undefined;
  }

  tap(sink: FrameSink): () => void {
    this.#taps = [...this.#taps, sink];
    return () => {
      this.#taps = this.#taps.filter((t) => t !== sink);
    };
  }

  protected writeTaps(frame: Buffer): void {
    if (this.#taps.length === 0) return;
    const ts = pcap.nowTimestamp();
    for (const t of this.#taps) {
      try {
        t.write(frame, ts);
      } catch {
        this.counters.drop('tap-error');
      }
    }
  }

  transmit(frame: Buffer): void {
    if (!this.up) {
      this.counters.drop('link-down');
      packetPool.release(frame);
      return;
    }
    const gsoSize = gsoSizeOf(frame);
    // Software GSO (net/core/dev.c validate_xmit_skb → skb_gso_segment) where the wire cannot take
    // the super-frame, and before fault injection, which (as netem's loss) acts on real segments.
    // Taps then see the segments, as tcpdump does on a device without TSO.
    if (gsoSize > 0 && (!this.carriesGso || this.#faults !== undefined)) {
      segmentTcp(frame, gsoSize, (segment) => this.transmit(segment));
      return;
    }
    this.counters.tx(frame.length);
    this.writeTaps(frame);
    const faults = this.#faults;
    if (faults === undefined) {
      this.sendSafely(frame);
      return;
    }
    faults.process(
      frame,
      (f) => this.sendSafely(f),
      (f, reason) => {
        this.counters.drop(reason);
        packetPool.release(f);
      },
    );
  }

  private sendSafely(frame: Buffer): void {
    try {
      this.wireSend(frame);
    } catch {
      this.counters.drop('tx-error');
    }
  }

  /** Puts the frame on this kind's wire and releases it when the wire is done with it. */
  protected abstract wireSend(frame: Buffer): void;

  /** The wire side calls this for every frame that arrives; it counts, filters and never throws. */
  protected receive(frame: Buffer, physIn?: string): void {
    this.counters.rx(frame.length);
    this.writeTaps(frame);
    if (!this.up) {
      this.dropReceived(frame, 'link-down');
      return;
    }
    if (frame.length < ETHERNET_HEADER) {
      this.dropReceived(frame, 'truncated');
      return;
    }
    // A super-frame (GRO, or TSO over a veth) is longer than the MTU by design: its segments are not.
    if (frame.length > this.mtu + RX_SLACK && gsoSizeOf(frame) === 0) {
      this.dropReceived(frame, 'oversized');
      return;
    }
    const receiver = this.#receiver;
    if (receiver === undefined) {
      this.dropReceived(frame, 'no-receiver');
      return;
    }
    try {
      receiver(frame, this, physIn);
    } catch {
      // A bug in a receive path must not take the link (or the process) down: count it.
      this.counters.drop('rx-error');
    }
  }

  /**
   * receive() through GRO: a frame of a datagram batch (libuv reads up to 32 per poll) may be held
   * and merged; what is held goes up in the check phase right after the poll phase, as NAPI
   * flushes GRO when its poll ends (napi_complete_done → napi_gro_flush).
   */
  protected receiveBatched(frame: Buffer): void {
    if (!this.gro || !this.up) {
      this.receive(frame);
      return;
    }
    this.#gro ??= new TcpGro((merged) => this.receive(merged));
    this.#gro.receive(frame);
    if (!this.#groFlushScheduled && this.#gro.held > 0) {
      this.#groFlushScheduled = true;
      setImmediate(this.#groFlush);
    }
  }

  protected dropReceived(frame: Buffer, reason: string): void {
    this.counters.drop(reason);
    packetPool.release(frame);
  }

  async close(): Promise<void> {
    this.#gro?.flush();
    this.#faults?.close();
    this.#faults = undefined;
    this.up = false;
  }
}
