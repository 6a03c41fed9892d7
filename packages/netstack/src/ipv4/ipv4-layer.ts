// IPv4 input, forwarding and output (RFC 791, RFC 1122, RFC 1812), with the five netfilter hooks
// where Linux calls NF_HOOK (net/ipv4/ip_input.c, ip_forward.c, ip_output.c):
//
//   receive ─▶ [defrag if hooks.needsDefrag] ─▶ PREROUTING ─▶ route ─┬─▶ [defrag] ─▶ INPUT ─▶ transport
//                                                                    └─▶ TTL/MTU checks ─▶ FORWARD ─▶ POSTROUTING ─▶ fragment ─▶ neighbour ─▶ link
//   send ─▶ route ─▶ OUTPUT ─▶ (re-route if NAT changed dst) ─▶ POSTROUTING ─▶ fragment ─▶ neighbour ─▶ link (lo for local)
//
// After PREROUTING and OUTPUT the destination is read again and re-routed, since DNAT may have
// rewritten it (ip_route_me_harder). Every packet keeps one PacketState (mark, conntrack) from
// hook to hook in this namespace.
import {
  ACCEPT,
  acceptAllHooks,
  type HookContext,
  type HookName,
  type HookPacket,
  type PacketState,
  REJECT_ICMP_CODE,
  type RejectWith,
} from '@podnet/netfilter/hook';
import {
  type Clock,
  type Ipv4Address,
  ipv4,
  ipv4HeaderSum,
  MAC_BROADCAST,
  MAC_ZERO,
  onesComplementSum,
  packetPool,
  type Rng,
  readIpv4,
  SLOT_BYTES,
  writeMac,
} from '@podnet/wire';
import { allocFrameWithHeadroom } from '../links/headroom.js';
import type { Link } from '../links/link.js';
import { ETHERNET_HEADER } from '../links/link.js';
import type { Namespace } from '../namespace.js';
import { GSO_MAX_IP_BYTES, gsoSizeOf, segmentTcp, setGsoSize } from '../offload/index.js';
import type { Route } from '../routes.js';
import type { IncomingHeader, IpLayer, OutgoingPacket, SendResult } from '../transport.js';
import { fragmentDatagram } from './fragment.js';
import { DEFAULT_TTL, decrementTtl, FLAG_DF, headerLength, isFragment, protocolOf, totalLength, writeHeader } from './header.js';
import { IcmpLayer } from './icmp.js';
import { PmtuCache } from './pmtu.js';
import { Reassembler } from './reassembly.js';
import { buildTcpReset } from './tcp-reset.js';

const L3 = ETHERNET_HEADER;
const ETHERTYPE_IPV4 = 0x0800;
const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const OK: SendResult = Object.freeze({ ok: true });
const fail = (error: 'ENETUNREACH' | 'EHOSTUNREACH' | 'EMSGSIZE' | 'EPERM' | 'EADDRNOTAVAIL' | 'ENOBUFS'): SendResult => ({
  ok: false,
  error,
});

const LOCAL_HOP: NextHop = { local: true };

/** Where a packet goes next. */
export type NextHop =
  | { readonly local: true }
  | { readonly local: false; readonly route: Route; readonly dev: Link; readonly gateway: Ipv4Address; readonly mtu: number };

const isMulticast = (a: Ipv4Address) => a >>> 28 === 0xe;
const isLoopback = (a: Ipv4Address) => a >>> 24 === 127;

export class Ipv4Layer implements IpLayer {
  readonly ns: Namespace;
  readonly pmtu: PmtuCache;
  readonly icmp: IcmpLayer;
  readonly #localReassembly: Reassembler;
  readonly #defrag: Reassembler;
  #identification: number;
  // One context and one packet descriptor, refilled for each hook call (hooks run synchronously).
  readonly #ctx: HookContext;
  readonly #hookPacket: HookPacket = { buf: Buffer.alloc(0), l3Offset: L3, end: L3, checksumUnnecessary: false };
  #lastHop: Extract<NextHop, { local: false }> | undefined;

  constructor(ns: Namespace) {
    this.ns = ns;
    this.pmtu = new PmtuCache(ns.clock);
    this.icmp = new IcmpLayer(this);
    this.#identification = ns.rng.nextUint32() & 0xffff;
    this.#localReassembly = new Reassembler(ns.clock, {
      drop: (reason) => this.ns.dropIp(reason),
      // ip_expire: an end host that got the first fragment answers with time exceeded, code 1.
      timeout: (first) => {
        if (first) this.icmp.sendErrorAbout(first, 0, 11, 1, {});
      },
    });
    // Defragmentation for conntrack (nf_defrag_ipv4) sends no ICMP on timeout: only an end host does.
    this.#defrag = new Reassembler(ns.clock, { drop: (reason) => this.ns.dropIp(reason), timeout: () => {} });
    this.#ctx = {
      hook: 'PREROUTING',
      bridged: false,
      isLocalAddress: (a) => ns.isLocalAddress(a),
      interfaceAddress: (name) => ns.interfaceAddress(name),
    };
  }

  get clock(): Clock {
    return this.ns.clock;
  }
  get rng(): Rng {
    return this.ns.rng;
  }

  isLocalAddress(address: Ipv4Address): boolean {
    return this.ns.isLocalAddress(address);
  }

  // ---- routing ----------------------------------------------------------------------------

  nextHop(dst: Ipv4Address): NextHop | undefined {
    if (this.ns.isLocalAddress(dst)) return LOCAL_HOP;
    const route = this.ns.routes.lookup(dst);
    if (route === undefined) return undefined;
    const dev = this.ns.link(route.dev);
    if (dev === undefined || !dev.up) return undefined;
    const gateway = route.via ?? dst;
    const mtu = route.mtu ?? dev.mtu;
    // NextHop is read-only: the last answer is handed out again while it is still the answer
    // (same route, device, gateway and MTU), so a flow's packets cost no object each.
    const last = this.#lastHop;
    if (last !== undefined && last.route === route && last.dev === dev && last.gateway === gateway && last.mtu === mtu) return last;
    const hop = { local: false, route, dev, gateway, mtu } as const;
    this.#lastHop = hop;
    return hop;
  }

  sourceFor(dst: Ipv4Address): Ipv4Address | undefined {
    if (this.ns.isLocalAddress(dst)) return dst;
    const route = this.ns.routes.lookup(dst);
    if (route === undefined) return undefined;
    if (route.src !== undefined) return route.src;
    // inet_select_addr: an address of the route's device, preferring one on the next hop's subnet.
    return this.ns.selectAddress(route.dev, route.via ?? dst);
  }

  /** TSO toward dst: only when the route's device carries super-frames whole (a veth; sk_setup_caps). */
  gsoMaxBytes(dst: Ipv4Address): number {
    const nh = this.nextHop(dst);
    return nh !== undefined && !nh.local && nh.dev.carriesGso ? GSO_MAX_IP_BYTES : 0;
  }

  pathMtu(dst: Ipv4Address): number | undefined {
    const nh = this.nextHop(dst);
    if (nh === undefined) return undefined;
    const mtu = nh.local ? (this.ns.link('lo')?.mtu ?? 65535) : nh.mtu;
    const learned = this.pmtu.get(dst);
    return learned !== undefined ? Math.min(learned, mtu) : mtu;
  }

  // ---- hooks --------------------------------------------------------------------------------

  /**
   * Runs one hook. True: go on. False: the packet was dropped or rejected, and `frame` released.
   * The verdict handling (reject → ICMP error or TCP RST) mirrors nf_reject_ipv4.
   */
  runHook(
    hook: HookName,
    frame: Buffer,
    state: PacketState,
    where: { in?: string; out?: string; physIn?: string; physOut?: string; bridged?: boolean },
  ): boolean {
    const hooks = this.ns.hooks;
    if (hooks === acceptAllHooks) return true;
    const ctx = this.#ctx;
    ctx.hook = hook;
    ctx.bridged = where.bridged ?? false;
    setOptional(ctx, 'inInterface', where.in);
    setOptional(ctx, 'outInterface', where.out);
    setOptional(ctx, 'physInInterface', where.physIn);
    setOptional(ctx, 'physOutInterface', where.physOut);
    const packet = this.#hookPacket;
    packet.buf = frame;
    packet.l3Offset = L3;
    packet.end = L3 + totalLength(frame, L3);
    packet.checksumUnnecessary = checksumUnnecessary(frame);
    let verdict = ACCEPT;
    try {
      verdict = hooks.run(hook, packet, ctx, state);
    } catch {
      // An engine bug drops the packet rather than letting it through unfiltered.
      verdict = { kind: 'drop', reason: 'netfilter-error' };
    }
    packet.buf = EMPTY;
    if (verdict.kind === 'accept') return true;
    const dev = where.in ?? where.out;
    if (verdict.kind === 'drop') {
      this.ns.dropIp(`netfilter-drop${verdict.reason ? `:${verdict.reason}` : ''}`, dev);
    } else {
      this.ns.dropIp('netfilter-reject', dev);
      this.#reject(frame, verdict.with, where.in);
    }
    packetPool.release(frame);
    return false;
  }

  #reject(frame: Buffer, withWhat: RejectWith, inInterface: string | undefined): void {
    if (withWhat === 'tcp-reset') {
      if (protocolOf(frame, L3) !== PROTO_TCP || isFragment(frame, L3)) return;
      const h = headerLength(frame, L3);
      const src = readIpv4(frame, L3 + ipv4.SRC_OFFSET);
      const dst = readIpv4(frame, L3 + ipv4.DST_OFFSET);
      const rst = buildTcpReset(frame.subarray(L3 + h, L3 + totalLength(frame, L3)), dst, src);
      // nf_send_reset: from the original destination, as a locally generated packet (ip_local_out).
      if (rst) this.output({ src: dst, dst: src, protocol: PROTO_TCP, payload: rst, ttl: DEFAULT_TTL }, true);
      return;
    }
    this.icmp.sendErrorAbout(frame, L3, 3, REJECT_ICMP_CODE[withWhat], { inInterface });
  }

  // ---- output -------------------------------------------------------------------------------

  send(packet: OutgoingPacket): SendResult {
    return this.output(packet, false);
  }

  /** ip_local_out. `foreignSource` lets a TCP RST leave from a (DNAT'd) non-local address, as nf_send_reset does. */
  output(packet: OutgoingPacket, foreignSource: boolean): SendResult {
    const payload = packet.payload;
    return this.#output(packet, payload.length, (buf, at) => payload.copy(buf, at), foreignSource);
  }

  /**
   * The zero-copy send (IpLayer.sendWith): the transport writes its `length` bytes straight into the
   * frame at buf[offset], knowing the source address for its pseudo-header checksum.
   */
  sendWith(
    packet: Omit<OutgoingPacket, 'payload'>,
    length: number,
    write: (buf: Buffer, offset: number, src: Ipv4Address) => void,
  ): SendResult {
    return this.#output(packet, length, write, false);
  }

  #output(
    packet: Omit<OutgoingPacket, 'payload'>,
    payloadLength: number,
    write: (buf: Buffer, offset: number, src: Ipv4Address) => void,
    foreignSource: boolean,
  ): SendResult {
    const length = ipv4.MIN_HEADER_LENGTH + payloadLength;
    if (length > 0xffff) return fail('EMSGSIZE');
    let nh = this.nextHop(packet.dst);
    if (nh === undefined) {
      this.ns.dropIp('no-route');
      return fail('ENETUNREACH');
    }
    const src = packet.src !== 0 && packet.src !== undefined ? packet.src : this.sourceFor(packet.dst);
    if (src === undefined) return fail('EADDRNOTAVAIL');
    if (!foreignSource && !this.ns.isLocalAddress(src)) return fail('EADDRNOTAVAIL');
    // With room for a tunnel header in front (LL_RESERVED_SPACE): flannel.1 then sends it in place.
    const frame = allocFrameWithHeadroom(L3 + length);
    writeHeader(frame, L3, {
      src,
      dst: packet.dst,
      protocol: packet.protocol,
      totalLength: length,
      identification: this.#nextId(),
      ttl: packet.ttl ?? DEFAULT_TTL,
      tos: packet.tos ?? 0,
      dontFragment: packet.dontFragment ?? false,
    });
    write(frame, L3 + ipv4.MIN_HEADER_LENGTH, src);
    const gsoSize = packet.gsoSize ?? 0;
    if (gsoSize > 0) setGsoSize(frame, gsoSize);
    const state: PacketState = { mark: packet.mark ?? 0, trace: packet.trace ?? false };
    if (packet.traceId !== undefined) state.traceId = packet.traceId;
    // Local output MTU check (ip_fragment for local DF packets: EMSGSIZE to the caller).
    if (packet.dontFragment && !nh.local) {
      const mtu = Math.min(nh.mtu, this.pmtu.get(packet.dst) ?? nh.mtu);
      if (segmentLength(frame, length) > mtu) {
        packetPool.release(frame);
        return fail('EMSGSIZE');
      }
    }
    if (!this.runHook('OUTPUT', frame, state, { out: nh.local ? 'lo' : nh.dev.name })) return fail('EPERM');
    const dst = readIpv4(frame, L3 + ipv4.DST_OFFSET);
    if (dst !== packet.dst) {
      nh = this.nextHop(dst);
      if (nh === undefined) {
        this.ns.dropIp('no-route');
        packetPool.release(frame);
        return fail('ENETUNREACH');
      }
    }
    return this.#postrouting(frame, state, nh, undefined, true);
  }

  #nextId(): number {
    this.#identification = (this.#identification + 1) & 0xffff;
    return this.#identification;
  }

  #postrouting(frame: Buffer, state: PacketState, nh: NextHop, inInterface: string | undefined, local: boolean): SendResult {
    const out = nh.local ? this.ns.loopback : nh.dev;
    if (!this.runHook('POSTROUTING', frame, state, { in: inInterface, out: out.name })) return fail('EPERM');
    const total = totalLength(frame, L3);
    let mtu = nh.local ? out.mtu : nh.mtu;
    if (local && !nh.local) mtu = Math.min(mtu, this.pmtu.get(readIpv4(frame, L3 + ipv4.DST_OFFSET)) ?? mtu);
    // A super-frame fits when each of its segments does (skb_gso_validate_network_len).
    if (segmentLength(frame, total) <= mtu) {
      this.#neighbourOutput(frame, nh);
      return OK;
    }
    if (gsoSizeOf(frame) > 0) {
      // Its segments are too big for this route (ip_finish_output_gso): cut it here, and each
      // segment is fragmented or refused as any packet would be.
      segmentTcp(frame, gsoSizeOf(frame), (segment) => {
        this.#postrouting(segment, state, nh, inInterface, local);
      });
      return OK;
    }
    if (frame.readUInt16BE(L3 + ipv4.FLAGS_FRAGMENT_OFFSET) & FLAG_DF) {
      // Only reachable when NAT grew nothing but the route changed under a DF packet: report it.
      this.icmp.sendErrorAbout(frame, L3, 3, 4, { mtu, inInterface });
      packetPool.release(frame);
      return fail('EMSGSIZE');
    }
    const fragments = fragmentDatagram(frame, L3, mtu);
    packetPool.release(frame);
    if (fragments === undefined) {
      this.ns.dropIp('frag-mtu-too-small', out.name);
      return fail('EMSGSIZE');
    }
    for (const f of fragments) this.#neighbourOutput(f, nh);
    return OK;
  }

  /** ip_finish_output2 → neigh_output: fill in the Ethernet header once the next hop's MAC is known. */
  #neighbourOutput(frame: Buffer, nh: NextHop): void {
    frame.writeUInt16BE(ETHERTYPE_IPV4, 12);
    if (nh.local) {
      writeMac(frame, 0, MAC_ZERO);
      writeMac(frame, 6, MAC_ZERO);
      this.ns.loopback.transmit(frame);
      return;
    }
    const dev = nh.dev;
    writeMac(frame, 6, dev.mac);
    if (!dev.usesArp) {
      writeMac(frame, 0, MAC_ZERO);
      dev.transmit(frame);
      return;
    }
    if (nh.gateway === 0xffffffff || this.ns.isBroadcastOn(dev.name, nh.gateway)) {
      writeMac(frame, 0, MAC_BROADCAST);
      dev.transmit(frame);
      return;
    }
    const mac = this.ns.neighbours.resolve(dev.name, nh.gateway, frame);
    if (mac === undefined) return; // queued until ARP answers
    writeMac(frame, 0, mac);
    dev.transmit(frame);
  }

  // ---- input --------------------------------------------------------------------------------

  /** A frame with EtherType IPv4 arrived on link; the layer owns it from here. */
  receive(link: Link, frame: Buffer, physIn?: string): void {
    // ip_rcv_core's checks (RFC 1122 §3.2.1.1-2), without building a view object per packet.
    const available = frame.length - L3;
    const vihl = available >= ipv4.MIN_HEADER_LENGTH ? (frame[L3] as number) : 0;
    const h = (vihl & 0x0f) * 4;
    const total = available >= ipv4.MIN_HEADER_LENGTH ? frame.readUInt16BE(L3 + ipv4.TOTAL_LENGTH_OFFSET) : 0;
    if (vihl >>> 4 !== 4 || h < ipv4.MIN_HEADER_LENGTH || h > available || total < h || total > available) {
      this.ns.dropIp('ip-header', link.name);
      packetPool.release(frame);
      return;
    }
    if ((h === ipv4.MIN_HEADER_LENGTH ? ipv4HeaderSum(frame, L3) : onesComplementSum(frame, L3, L3 + h)) !== 0xffff) {
      this.ns.dropIp('ip-checksum', link.name);
      packetPool.release(frame);
      return;
    }
    if (frame.length > L3 + total) frame = frame.subarray(0, L3 + total); // link padding
    const src = readIpv4(frame, L3 + ipv4.SRC_OFFSET);
    const dst = readIpv4(frame, L3 + ipv4.DST_OFFSET);
    // Martians (RFC 1812 §5.3.7; ip_route_input_slow): multicast or limited-broadcast sources,
    // and loopback addresses anywhere but on lo.
    if (isMulticast(src) || src === 0xffffffff || (link.kind !== 'loopback' && (isLoopback(src) || isLoopback(dst)))) {
      this.ns.dropIp('martian', link.name);
      packetPool.release(frame);
      return;
    }
    const state: PacketState = { mark: 0, trace: false };
    if (this.ns.hooks.needsDefrag && isFragment(frame, L3)) {
      const whole = this.#defrag.add(frame, L3);
      packetPool.release(frame);
      if (whole === undefined) return;
      frame = whole;
    }
    if (!this.runHook('PREROUTING', frame, state, { in: link.name, physIn })) return;
    this.routeInput(frame, link, state, physIn);
  }

  /**
   * nf_defrag_ipv4 for a frame (bridged or routed) that conntrack must see whole: the whole datagram
   * once its last fragment is in, else undefined. Takes ownership of `frame` either way.
   */
  defragment(frame: Buffer): Buffer | undefined {
    const whole = this.#defrag.add(frame, L3);
    packetPool.release(frame);
    return whole;
  }

  /** After PREROUTING (also for bridged frames whose destination NAT changed): deliver or forward. */
  routeInput(frame: Buffer, link: Link, state: PacketState, physIn: string | undefined): void {
    const dst = readIpv4(frame, L3 + ipv4.DST_OFFSET);
    if (this.ns.isLocalAddress(dst) || dst === 0xffffffff || this.ns.isBroadcastOn(link.name, dst)) {
      this.#localDeliver(frame, link, state, physIn);
      return;
    }
    if (isMulticast(dst)) {
      this.ns.dropIp('multicast-unsupported', link.name);
      packetPool.release(frame);
      return;
    }
    this.#forward(frame, link, state, physIn);
  }

  #forward(frame: Buffer, link: Link, state: PacketState, physIn: string | undefined): void {
    if (!this.ns.ipForward) {
      // ip_route_input_slow with forwarding off: dropped without an ICMP error.
      this.ns.dropIp('forwarding-disabled', link.name);
      packetPool.release(frame);
      return;
    }
    const dst = readIpv4(frame, L3 + ipv4.DST_OFFSET);
    const nh = this.nextHop(dst);
    if (nh === undefined || nh.local) {
      this.icmp.sendErrorAbout(frame, L3, 3, 0, { inInterface: link.name });
      this.ns.dropIp('no-route', link.name);
      packetPool.release(frame);
      return;
    }
    // RFC 1812 §5.3.1: a router must not forward a packet whose TTL would reach 0 (ip_forward: ttl <= 1).
    if ((frame[L3 + ipv4.TTL_OFFSET] as number) <= 1) {
      this.icmp.sendErrorAbout(frame, L3, 11, 0, { inInterface: link.name });
      this.ns.dropIp('ttl-exceeded', link.name);
      packetPool.release(frame);
      return;
    }
    const total = totalLength(frame, L3);
    if (segmentLength(frame, total) > nh.mtu && frame.readUInt16BE(L3 + ipv4.FLAGS_FRAGMENT_OFFSET) & FLAG_DF) {
      // RFC 1191 §4: fragmentation needed, with the next-hop MTU.
      this.icmp.sendErrorAbout(frame, L3, 3, 4, { mtu: nh.mtu, inInterface: link.name });
      this.ns.dropIp('frag-needed', link.name);
      packetPool.release(frame);
      return;
    }
    decrementTtl(frame, L3);
    if (!this.runHook('FORWARD', frame, state, { in: link.name, out: nh.dev.name, physIn })) return;
    this.#postrouting(frame, state, nh, link.name, false);
  }

  #localDeliver(frame: Buffer, link: Link, state: PacketState, physIn: string | undefined): void {
    if (isFragment(frame, L3)) {
      const whole = this.#localReassembly.add(frame, L3);
      packetPool.release(frame);
      if (whole === undefined) return;
      frame = whole;
    }
    if (!this.runHook('INPUT', frame, state, { in: link.name, physIn })) return;
    try {
      this.#deliver(frame, link);
    } finally {
      packetPool.release(frame);
    }
  }

  #deliver(frame: Buffer, link: Link): void {
    const h = headerLength(frame, L3);
    const total = totalLength(frame, L3);
    const protocol = protocolOf(frame, L3);
    const segment = frame.subarray(L3 + h, L3 + total);
    if (protocol === PROTO_ICMP) {
      this.icmp.receive(frame, segment, link);
      return;
    }
    const transport = this.ns.transport(protocol);
    if (transport === undefined) {
      // RFC 1122 §3.2.2.1: protocol unreachable from an end host.
      this.icmp.sendErrorAbout(frame, L3, 3, 2, { inInterface: link.name });
      this.ns.dropIp('no-protocol', link.name);
      return;
    }
    const header: IncomingHeader = {
      src: readIpv4(frame, L3 + ipv4.SRC_OFFSET),
      dst: readIpv4(frame, L3 + ipv4.DST_OFFSET),
      ttl: frame[L3 + ipv4.TTL_OFFSET] as number,
      tos: frame[L3 + ipv4.TOS_OFFSET] as number,
      inInterface: link.name,
    };
    if (checksumUnnecessary(frame)) header.checksumUnnecessary = true;
    if (!transport.receive(header, segment)) {
      // RFC 1122 §4.1.3.1: port unreachable, unless the datagram was a broadcast.
      if (header.dst !== 0xffffffff && !this.ns.isBroadcastOn(link.name, header.dst)) {
        this.icmp.sendErrorAbout(frame, L3, 3, 3, { inInterface: link.name });
      }
      this.ns.dropIp('no-socket', link.name);
    }
  }

  close(): void {
    this.#localReassembly.close();
    this.#defrag.close();
    this.icmp.close();
  }
}

const EMPTY = Buffer.alloc(0);

function setOptional<K extends 'inInterface' | 'outInterface' | 'physInInterface' | 'physOutInterface'>(
  ctx: HookContext,
  key: K,
  value: string | undefined,
): void {
  if (value === undefined) delete ctx[key];
  else ctx[key] = value;
}

/**
 * The IPv4 length that must fit the MTU: the packet's own, or for a TCP super-frame the length of
 * each segment it will be cut into (skb_gso_network_seglen: network + transport headers + gso_size).
 */
function segmentLength(frame: Buffer, total: number): number {
  const gsoSize = gsoSizeOf(frame);
  if (gsoSize === 0) return total;
  const ihl = ((frame[L3] as number) & 0x0f) * 4;
  const l4 = L3 + ihl;
  return Math.min(total, ihl + ((frame[l4 + 12] as number) >>> 4) * 4 + gsoSize);
}

/**
 * CHECKSUM_UNNECESSARY: a super-frame's checksum is known good (TSO built it whole; GRO merged it
 * from segments it verified, and the unix-socket veth says so with VIRTIO_NET_HDR_F_DATA_VALID), so
 * conntrack and the receiving TCP do not sum 64 KiB again. Only frames above a pool slot can be one.
 */
function checksumUnnecessary(frame: Buffer): boolean {
  return frame.length > SLOT_BYTES && gsoSizeOf(frame) > 0;
}
