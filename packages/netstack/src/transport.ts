// The contract between a namespace's IPv4 layer and its transport protocols (TCP, UDP, ICMP echo).
// The IPv4 layer (ipv4/ in this package) owns routing, the netfilter hooks, ARP, fragmentation and
// the links; a transport only builds and parses its own header. This mirrors the split in Linux
// between net/ipv4/ip_output.c (ip_queue_xmit) and tcp_ipv4.c / udp.c (tcp_v4_rcv, udp_rcv), and
// lets TCP be tested against a fake IpLayer (src/testing/) before any link exists.
import type { Clock, Ipv4Address, Rng } from '@podnet/wire';

/** Why a send could not even leave the namespace (errno names, as Node's net/dgram report them). */
export type SendError = 'ENETUNREACH' | 'EHOSTUNREACH' | 'EMSGSIZE' | 'EPERM' | 'EADDRNOTAVAIL' | 'ENOBUFS';

export type SendResult = { readonly ok: true } | { readonly ok: false; readonly error: SendError };

export interface OutgoingPacket {
  src: Ipv4Address;
  dst: Ipv4Address;
  /** IPv4 protocol number (wire's IpProtocol). */
  protocol: number;
  /** The transport header and data, with the transport checksum already computed. Copied by send(). */
  payload: Buffer;
  ttl?: number;
  tos?: number;
  /** Set DF (RFC 791): TCP always does (RFC 1191 path MTU discovery); UDP and ICMP by default do not. */
  dontFragment?: boolean;
  /** The socket mark (SO_MARK) the packet starts with. */
  mark?: number;
  /** Carry the netfilter trace flag from the first hook on (podnet trace). */
  trace?: boolean;
  traceId?: string;
  /**
   * A TCP super-segment (TSO): its payload is cut into segments of this many bytes where a link
   * cannot carry it whole (skb_shinfo gso_size). 0 or absent: an ordinary packet.
   */
  gsoSize?: number;
}

/** What a transport needs from the IPv4 layer of its namespace. */
export interface IpLayer {
  readonly clock: Clock;
  readonly rng: Rng;
  /** The source address a packet to dst would get (RFC 1122 §3.3.4.3: the route's preferred source), or undefined without a route. */
  sourceFor(dst: Ipv4Address): Ipv4Address | undefined;
  /** The MTU of the path to dst: the route's (or its interface's) MTU, lowered by any ICMP fragmentation-needed learned (RFC 1191). */
  pathMtu(dst: Ipv4Address): number | undefined;
  /** Whether the address is assigned to an interface of this namespace (or is 127/8 on lo). */
  isLocalAddress(address: Ipv4Address): boolean;
  /**
   * The largest IPv4 packet a transport may hand over as one super-segment to dst (sk_gso_max_size),
   * or 0 when the route's device cuts nothing for it (no TSO: send MTU-sized segments). Optional.
   */
  gsoMaxBytes?(dst: Ipv4Address): number;
  /** Wraps the payload in an IPv4 header and sends it through OUTPUT, the route, POSTROUTING and the link. */
  send(packet: OutgoingPacket): SendResult;
  /**
   * Optional zero-copy variant of send (netstack's Ipv4Layer has it): the layer allocates the frame
   * (from packetPool, so checksums are summed in place) and calls write(buf, offset, src) to fill the
   * `length` transport bytes at buf[offset], checksum included; `src` is the source address chosen.
   * `write` must not keep `buf`.
   */
  sendWith?(
    packet: Omit<OutgoingPacket, 'payload'>,
    length: number,
    write: (buf: Buffer, offset: number, src: Ipv4Address) => void,
  ): SendResult;
}

/** The IPv4 header fields a transport sees for a received packet. */
export interface IncomingHeader {
  src: Ipv4Address;
  dst: Ipv4Address;
  ttl: number;
  tos: number;
  /** The interface it arrived on. */
  inInterface: string;
  /** The transport checksum is known good (a GRO/TSO super-frame: CHECKSUM_UNNECESSARY); absent: verify it. */
  checksumUnnecessary?: boolean;
}

/** An ICMP error that quotes a packet this namespace sent (RFC 792; RFC 1122 §4.2.3.9 for TCP's reaction). */
export interface IcmpErrorReport {
  /** 3 destination unreachable, 11 time exceeded, 12 parameter problem. */
  type: number;
  code: number;
  /** For type 3 code 4 (fragmentation needed): the next-hop MTU (RFC 1191). */
  nextHopMtu?: number;
  /** Who sent the error. */
  reporter: Ipv4Address;
  /** The quoted IPv4 header's source and destination (our packet). */
  quotedSrc: Ipv4Address;
  quotedDst: Ipv4Address;
  /** The quoted transport bytes: at least the first 8 (ports, and TCP's sequence number). */
  quotedTransport: Buffer;
}

export interface TransportProtocol {
  /** IPv4 protocol number this transport handles. */
  readonly protocol: number;
  /**
   * A packet for a local address, after INPUT. `segment` is only valid during the call (it may be
   * a pooled frame): copy what you keep. Return false when no socket wants it, so the IPv4 layer
   * sends ICMP port unreachable (UDP; RFC 1122 §4.1.3.1). TCP answers closed ports with RST itself
   * and returns true.
   */
  receive(header: IncomingHeader, segment: Buffer): boolean;
  /** An ICMP error about a packet of this protocol (PMTU updates, connection refused, ...). */
  icmpError(report: IcmpErrorReport): void;
}
