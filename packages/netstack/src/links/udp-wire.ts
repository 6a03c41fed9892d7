// What the two links whose wire is real UDP datagrams share (vxlan, uplink): the socket, the map
// from an emulated node IP to that node's transport address (DESIGN §4: links map a node IP to the
// transport address from the Node's annotation before sending a real datagram), and the underlay
// capture, which shows a datagram as a capture on a real node would: outer Ethernet/IPv4/UDP
// headers with the emulated node IPs, then the exact bytes of the real datagram's payload.
import dgram from 'node:dgram';
import dns from 'node:dns';
import { formatIpv4, type Ipv4Address, ipv4, isIpv4, macFromIpv4, packetPool, pcap, udp } from '@podnet/wire';
import { configError, NetstackError, NetstackErrorCodes } from '../errors.js';
import type { FrameSink } from './link.js';

/** A real UDP endpoint: a transport address (127.0.1.N in process mode) and port. */
export interface TransportAddress {
  address: string;
  port: number;
}

export function checkTransport(what: string, t: TransportAddress): void {
  if (!isIpv4(t.address)) throw configError(`${what}: transport address "${t.address}" is not an IPv4 address`);
  if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) throw configError(`${what}: transport port ${t.port} is not in 1-65535`);
}

/**
 * SO_RCVBUF / SO_SNDBUF asked for on the link's real socket. The default (net.core.rmem_default,
 * 208 KiB) queues only about 75 datagrams of a 1450-byte MTU (each costs its skb truesize, ~2.8 KiB),
 * so a burst of one TCP window from the other node overflows it (RcvbufErrors in /proc/net/snmp)
 * and the loss recovery, not the wire, bounds a bulk transfer. A real vxlan device has no such
 * queue (the outer packet is decapsulated in softirq context), so a deep one is the closer model.
 * Linux doubles the value for its bookkeeping (sock_setsockopt) and caps it at
 * net.core.rmem_max / wmem_max without an error, so on a host with small maxima this is a no-op.
 */
export const UDP_WIRE_BUFFER_BYTES = 2 << 20;

/** The last hostname literalLookup found to be an IPv4 literal. */
let lastLiteral = '';

/**
 * Name resolution for the link socket. The transport addresses are IPv4 literals (checkTransport),
 * yet an unconnected dgram socket resolves the destination of every send with dns.lookup, which
 * answers a literal on the next tick (process.nextTick): one deferred callback per frame. A literal
 * is answered at once here; anything else still goes to dns.lookup.
 */
function literalLookup(
  hostname: string,
  options: dns.LookupOneOptions,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  // The last literal seen is remembered: a tunnel sends to a handful of peers, and the IPv4
  // pattern match per datagram showed in profiles (0.5% of a bulk sender's CPU).
  if (hostname === lastLiteral || isIpv4(hostname)) {
    lastLiteral = hostname;
    callback(null, hostname, 4);
  } else dns.lookup(hostname, options, callback);
}

/** Binds a udp4 socket; rejects with a PODNET_ERR_LINK_IO error naming the address. */
export function bindUdp(what: string, address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({
      type: 'udp4',
      recvBufferSize: UDP_WIRE_BUFFER_BYTES,
      sendBufferSize: UDP_WIRE_BUFFER_BYTES,
      lookup: literalLookup,
    });
    const onError = (error: Error) => {
      socket.close();
      reject(
        new NetstackError(
          NetstackErrorCodes.LINK_IO,
          `${what}: cannot bind UDP ${address}:${port}: ${error.message}. Pick a free port (0 for any) or another transport address.`,
          { cause: error },
        ),
      );
    };
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/**
 * Frames whose datagrams a link's socket could not send at once. A send without a completion
 * callback (a callback per datagram cost a closure, a send request's oncomplete and a
 * process.nextTick) is tried at once by libuv (uv_udp_try_send): when the kernel took the datagram
 * the socket's send queue is still empty and the frame is free right away. A datagram that had to
 * wait keeps a view of its frame, which is held here until the queue is empty again. Failures of
 * such a send reach the socket's 'error' handler.
 */
export class UnsentFrames {
  readonly #frames: Buffer[] = [];

  /** After `frame` was sent (to every target) on `socket`: frees it, or holds it while the send waits. */
  sent(socket: dgram.Socket, frame: Buffer): void {
    if (socket.getSendQueueCount() !== 0) {
      this.#frames.push(frame);
      return;
    }
    packetPool.release(frame);
    if (this.#frames.length > 0) this.releaseAll();
  }

  /** Frees every held frame (the queue drained, or the socket closed). */
  releaseAll(): void {
    for (const f of this.#frames) packetPool.release(f);
    this.#frames.length = 0;
  }
}

/** The node-IP ↔ transport map of one link. */
export class PeerMap {
  readonly #byNode = new Map<Ipv4Address, TransportAddress>();
  readonly #byTransportAddress = new Map<string, Ipv4Address>();

  set(nodeIp: Ipv4Address, transport: TransportAddress): void {
    checkTransport(`peer ${formatIpv4(nodeIp)}`, transport);
    this.#byNode.set(nodeIp, { ...transport });
    this.#byTransportAddress.set(transport.address, nodeIp);
  }
  delete(nodeIp: Ipv4Address): void {
    const t = this.#byNode.get(nodeIp);
    this.#byNode.delete(nodeIp);
    if (t) this.#byTransportAddress.delete(t.address);
  }
  get(nodeIp: Ipv4Address): TransportAddress | undefined {
    return this.#byNode.get(nodeIp);
  }
  /** The node IP a datagram came from (by its source address: a kernel picks the source port per flow). */
  nodeOf(address: string): Ipv4Address | undefined {
    return this.#byTransportAddress.get(address);
  }
  all(): TransportAddress[] {
    return [...this.#byNode.values()];
  }
}

const OUTER_IP_AT = 14;
const OUTER_UDP_AT = OUTER_IP_AT + 20;
const OUTER_PAYLOAD_AT = OUTER_UDP_AT + 8;

/**
 * An underlay frame as a capture on a node would show it: Ethernet (MACs derived from the node IPs,
 * 0a:58 + IP as CNI plugins derive them), IPv4 (TTL 64, no DF, as Linux vxlan sends by default),
 * UDP without checksum (Linux vxlan's IPv4 default, `noudpcsum`), then `parts`.
 */
export function synthesizeUnderlay(
  srcIp: Ipv4Address,
  dstIp: Ipv4Address,
  srcPort: number,
  dstPort: number,
  parts: readonly Buffer[],
): Buffer {
  let payloadLength = 0;
  for (const p of parts) payloadLength += p.length;
  const out = Buffer.alloc(OUTER_PAYLOAD_AT + payloadLength);
  out.writeUIntBE(macFromIpv4(dstIp), 0, 6);
  out.writeUIntBE(macFromIpv4(srcIp), 6, 6);
  out.writeUInt16BE(0x0800, 12);
  let at = OUTER_PAYLOAD_AT;
  for (const p of parts) {
    p.copy(out, at);
    at += p.length;
  }
  udp.encode({ srcPort, dstPort, checksum: 0, payload: out.subarray(OUTER_PAYLOAD_AT) }, out, OUTER_UDP_AT);
  ipv4.encode(
    {
      dscp: 0,
      ecn: 0,
      identification: 0,
      reservedFlag: false,
      dontFragment: false,
      moreFragments: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: 17,
      src: srcIp,
      dst: dstIp,
      options: Buffer.alloc(0),
      payload: out.subarray(OUTER_UDP_AT),
    },
    out,
    OUTER_IP_AT,
  );
  return out;
}

/** The taps of a link's underlay. */
export class UnderlayTaps {
  #sinks: FrameSink[] = [];
  get active(): boolean {
    return this.#sinks.length > 0;
  }
  add(sink: FrameSink): () => void {
    this.#sinks = [...this.#sinks, sink];
    return () => {
      this.#sinks = this.#sinks.filter((s) => s !== sink);
    };
  }
  write(srcIp: Ipv4Address, dstIp: Ipv4Address, srcPort: number, dstPort: number, parts: readonly Buffer[]): void {
    if (this.#sinks.length === 0) return;
    const frame = synthesizeUnderlay(srcIp, dstIp, srcPort, dstPort, parts);
    const ts = pcap.nowTimestamp();
    for (const s of this.#sinks) {
      try {
        s.write(frame, ts);
      } catch {
        // A failing capture must not disturb the data plane.
      }
    }
  }
}
