// UDP generic segmentation offload (UDP GSO) on a tunnel link's real socket: one sendmsg(2) with
// the UDP_SEGMENT control message carries a run of equal-sized datagrams, and the kernel cuts it
// (udp_send_skb → __udp_gso_segment, net/ipv4/udp.c and udp_offload.c; Linux 4.18). Node's dgram
// has no such call, so native/udp_segment.c provides it (built by native/build.mjs); this module
// loads it, finds a dgram socket's file descriptor, and says why the offload is off when it is.
//
// The datagrams on the wire are exactly those a loop of dgram sends would put there: the receiver
// (libuv, or a Linux vxlan device) reads them one by one. Only the sender's per-datagram system
// call and trip through the IP output path go away — as for a vxlan device whose NIC offers
// tx-udp_tnl-segmentation.
import type dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * The most segments one send may carry. Linux's UDP_MAX_SEGMENTS (include/linux/udp.h) is 64 up
 * to 6.11 and 128 since; the smaller one works on every kernel that has UDP_SEGMENT.
 */
export const UDP_MAX_SEGMENTS = 64;
/** The largest UDP payload of one IPv4 send (65,535 − 20 − 8): the whole run must fit. */
export const UDP_MAX_PAYLOAD = 65_507;

/** What PODNET_UDP_GSO accepts: off for a whole process (A/B measurements, debugging), or on (the default). */
const OFF_VALUES = new Set(['0', 'off', 'false', 'no']);
const ON_VALUES = new Set(['', '1', 'on', 'true', 'yes']);

interface NativeUdpSegment {
  sendSegmented(fd: number, buffer: Buffer, length: number, segment: number, address: string, port: number): number;
  probe(fd: number): number;
  enableGro(fd: number): number;
}

export type UdpSegmentationState = { readonly available: true } | { readonly available: false; readonly reason: string };

let loaded: { native: NativeUdpSegment } | { reason: string } | undefined;

function load(): { native: NativeUdpSegment } | { reason: string } {
  if (loaded !== undefined) return loaded;
  const setting = process.env.PODNET_UDP_GSO?.trim().toLowerCase();
  if (setting !== undefined && OFF_VALUES.has(setting)) {
    loaded = { reason: `turned off by PODNET_UDP_GSO=${process.env.PODNET_UDP_GSO}` };
    return loaded;
  }
  // A value that is neither says so (in `cni-agent started` and the interop tests) rather than guess.
  if (setting !== undefined && !ON_VALUES.has(setting)) {
    loaded = { reason: `PODNET_UDP_GSO="${process.env.PODNET_UDP_GSO}" is neither on nor off (use on or off); the offload stays off` };
    return loaded;
  }
  // The addon sits in the package's dist/native, two levels up from both src/links and dist/links.
  const path = fileURLToPath(new URL('../../dist/native/udp_segment.node', import.meta.url));
  try {
    loaded = { native: createRequire(import.meta.url)(path) as NativeUdpSegment };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    loaded = {
      reason:
        code === 'MODULE_NOT_FOUND'
          ? `the addon ${path} is not built (node packages/netstack/native/build.mjs needs a C compiler)`
          : `the addon ${path} did not load: ${(error as Error).message}`,
    };
  }
  return loaded;
}

/** Whether this process can use UDP GSO, and if not, why (for `ethtool -k` and the logs). */
export function udpSegmentationState(): UdpSegmentationState {
  const l = load();
  return 'native' in l ? { available: true } : { available: false, reason: l.reason };
}

/**
 * The file descriptor under a bound dgram socket. Node keeps its libuv handle in the socket's
 * internal state (lib/internal/dgram.js, `kStateSymbol`, unchanged since Node 12); `_handle`,
 * the public alias, is deprecated (DEP0112) and warns.
 */
function descriptorOf(socket: dgram.Socket): number | undefined {
  const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const handle = state === undefined ? undefined : (socket as unknown as Record<symbol, { handle?: { fd?: unknown } }>)[state]?.handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** UDP GSO sends on one bound dgram socket. */
export class UdpSegmentSocket {
  readonly #native: NativeUdpSegment;
  readonly #fd: number;

  private constructor(native: NativeUdpSegment, fd: number) {
    this.#native = native;
    this.#fd = fd;
  }

  /** The offload for `socket` (bound), or the reason it has none. */
  static attach(socket: dgram.Socket): UdpSegmentSocket | { reason: string } {
    const l = load();
    if (!('native' in l)) return { reason: l.reason };
    const fd = descriptorOf(socket);
    if (fd === undefined) return { reason: 'the dgram socket exposes no file descriptor (not bound, or a Node without kStateSymbol)' };
    const probe = l.native.probe(fd);
    if (probe !== 0) return { reason: `the kernel refuses UDP_SEGMENT (errno ${-probe}; it needs Linux 4.18)` };
    return new UdpSegmentSocket(l.native, fd);
  }

  /**
   * Sends buffer[0, length) to address:port as datagrams of `segment` bytes (the last may be
   * shorter; 0: one datagram). Returns the bytes sent, or a negative errno: EAGAIN when the socket
   * buffer is full, EINVAL when the kernel will not cut this run (a segment larger than the route's
   * MTU allows, too many segments), EIO without checksum offload on the way.
   */
  send(buffer: Buffer, length: number, segment: number, address: string, port: number): number {
    return this.#native.sendSegmented(this.#fd, buffer, length, segment, address, port);
  }

  /**
   * Sets UDP_GRO (Linux 5.0): runs of one flow's datagrams then arrive as one message, which the
   * link cuts with forEachCoalescedDatagram (coalesced-datagrams.ts). False when the kernel refuses.
   */
  enableReceiveCoalescing(): boolean {
    return this.#native.enableGro(this.#fd) === 0;
  }
}
