// ICMP (RFC 792, RFC 1122 §3.2.2, RFC 1812 §4.3): echo both ends (answering requests, and a ping
// API that measures the round trip on the injected clock), the errors this namespace sends (with
// the rules on when not to send one, and rate limiting), and the errors it receives, which update
// the path-MTU cache and are handed to the transport whose packet they quote.
import { formatIpv4, type Ipv4Address, icmpv4, ipv4, onesComplementSum, readIpv4, type TimerHandle } from '@podnet/wire';
import { NetstackError, NetstackErrorCodes, SystemError } from '../errors.js';
import type { Link } from '../links/link.js';
import type { IcmpErrorReport } from '../transport.js';
import { FLAG_DF, fragmentOffsetBytes, headerLength, isFragment, totalLength } from './header.js';
import { IcmpRateLimiter } from './icmp-rate.js';
import type { Ipv4Layer } from './ipv4-layer.js';

const PROTO_ICMP = 1;
/** RFC 1812 §4.3.2.3: an ICMP error carries as much of the offending datagram as fits in 576 bytes. */
const MAX_ERROR_DATAGRAM = 576;
/** IPTOS_PREC_INTERNETCONTROL, the TOS Linux gives ICMP errors (icmp_send). */
const TOS_INTERNETCONTROL = 0xc0;
const ERROR_TYPES = new Set([3, 4, 5, 11, 12]);

export interface PingOptions {
  /** Bytes of ICMP data (ping -s); 56 by default. */
  size?: number;
  timeoutMs?: number;
  ttl?: number;
  dontFragment?: boolean;
  identifier?: number;
  sequence?: number;
  /** Source address (ping -I). */
  src?: Ipv4Address;
}

export interface PingResult {
  from: string;
  sequence: number;
  ttl: number;
  /** ICMP bytes in the reply (header + data), as ping prints them. */
  bytes: number;
  /** Round-trip time on the namespace's clock, ms. */
  rttMs: number;
}

interface Waiter {
  sentAt: number;
  timer: TimerHandle;
  resolve: (r: PingResult) => void;
  reject: (e: Error) => void;
}

export class IcmpLayer {
  readonly #ip: Ipv4Layer;
  readonly #limiter: IcmpRateLimiter;
  readonly #waiters = new Map<string, Waiter>();
  #nextIdentifier: number;
  #nextSequence = 1;
  /** ICMP errors not sent because of the rate limit (observability). */
  rateLimited = 0;

  constructor(ip: Ipv4Layer) {
    this.#ip = ip;
    this.#limiter = new IcmpRateLimiter(ip.ns.clock);
    this.#nextIdentifier = ip.ns.rng.nextUint32() & 0xffff;
  }

  // ---- errors we send -------------------------------------------------------------------------

  /**
   * Sends an ICMP error about the datagram at buf[l3] to its source (icmp_send). Nothing is sent
   * about an ICMP error, a non-first fragment, a broadcast or multicast datagram, or a datagram from
   * an address that names no single host (RFC 1122 §3.2.2; RFC 1812 §4.3.2.7).
   */
  sendErrorAbout(
    buf: Buffer,
    l3: number,
    type: number,
    code: number,
    options: { mtu?: number; inInterface?: string | undefined },
  ): boolean {
    const ns = this.#ip.ns;
    const src = readIpv4(buf, l3 + ipv4.SRC_OFFSET);
    const dst = readIpv4(buf, l3 + ipv4.DST_OFFSET);
    if (src === 0 || src === 0xffffffff || src >>> 28 === 0xe) return false;
    if (dst === 0xffffffff || dst >>> 28 === 0xe) return false;
    if (isFragment(buf, l3) && fragmentOffsetBytes(buf, l3) !== 0) return false;
    const h = headerLength(buf, l3);
    const total = totalLength(buf, l3);
    if (buf[l3 + ipv4.PROTOCOL_OFFSET] === PROTO_ICMP) {
      const t = buf[l3 + h];
      if (t === undefined || ERROR_TYPES.has(t) || (t !== 0 && t !== 8 && t !== 13 && t !== 14 && t !== 17 && t !== 18)) return false;
    }
    if (!this.#limiter.allow(type, code, src)) {
      this.rateLimited++;
      return false;
    }
    const quoteLength = Math.min(total, MAX_ERROR_DATAGRAM - ipv4.MIN_HEADER_LENGTH - icmpv4.HEADER_LENGTH);
    const quote = buf.subarray(l3, l3 + quoteLength);
    const message = Buffer.alloc(icmpv4.HEADER_LENGTH + quote.length);
    message[0] = type;
    message[1] = code;
    if (type === 3 && code === 4 && options.mtu !== undefined) message.writeUInt16BE(options.mtu, 6);
    quote.copy(message, icmpv4.HEADER_LENGTH);
    message.writeUInt16BE(~onesComplementSum(message, 0, message.length) & 0xffff, 2);
    // The source: the offending packet's destination when it was for us, else our address towards its sender.
    const from = ns.isLocalAddress(dst)
      ? dst
      : (this.#ip.sourceFor(src) ?? (options.inInterface ? ns.interfaceAddress(options.inInterface) : undefined));
    if (from === undefined) return false;
    const r = this.#ip.output({ src: from, dst: src, protocol: PROTO_ICMP, payload: message, tos: TOS_INTERNETCONTROL }, false);
    return r.ok;
  }

  // ---- what we receive ------------------------------------------------------------------------

  /** An ICMP message for this namespace (after INPUT). `segment` is only valid during the call. */
  receive(packet: Buffer, segment: Buffer, link: Link): void {
    const ns = this.#ip.ns;
    if (segment.length < icmpv4.HEADER_LENGTH || onesComplementSum(segment, 0, segment.length) !== 0xffff) {
      ns.dropIp('icmp-checksum', link.name);
      return;
    }
    const type = segment[0] as number;
    const src = readIpv4(packet, 14 + ipv4.SRC_OFFSET);
    const dst = readIpv4(packet, 14 + ipv4.DST_OFFSET);
    switch (type) {
      case 8:
        // net.ipv4.icmp_echo_ignore_broadcasts=1 (Linux's default): no answer to a broadcast echo.
        if (dst === 0xffffffff || ns.isBroadcastOn(link.name, dst)) return;
        this.#echoReply(segment, src, dst);
        return;
      case 0:
        this.#echoReplyReceived(segment, src, packet[14 + ipv4.TTL_OFFSET] as number);
        return;
      case 3:
      case 11:
      case 12:
        this.#errorReceived(segment, src);
        return;
      default:
        ns.dropIp('icmp-unhandled-type', link.name);
    }
  }

  /** RFC 792 echo: the reply carries the request's identifier, sequence and data, from the address pinged. */
  #echoReply(request: Buffer, from: Ipv4Address, to: Ipv4Address): void {
    // RFC 1122 §3.2.2.6: a reply to a broadcast echo comes from one of our unicast addresses.
    const src = this.#ip.ns.isLocalAddress(to) ? to : this.#ip.sourceFor(from);
    if (src === undefined) return;
    const reply = Buffer.from(request);
    reply[0] = 0;
    reply.writeUInt16BE(0, 2);
    reply.writeUInt16BE(~onesComplementSum(reply, 0, reply.length) & 0xffff, 2);
    this.#ip.output({ src, dst: from, protocol: PROTO_ICMP, payload: reply }, false);
  }

  #echoReplyReceived(reply: Buffer, from: Ipv4Address, ttl: number): void {
    const k = `${reply.readUInt16BE(4)}|${reply.readUInt16BE(6)}`;
    const w = this.#waiters.get(k);
    if (w === undefined) return;
    this.#waiters.delete(k);
    this.#ip.ns.clock.clearTimeout(w.timer);
    w.resolve({
      from: formatIpv4(from),
      sequence: reply.readUInt16BE(6),
      ttl,
      bytes: reply.length,
      rttMs: this.#ip.ns.clock.now() - w.sentAt,
    });
  }

  #errorReceived(message: Buffer, reporter: Ipv4Address): void {
    const ns = this.#ip.ns;
    const quote = message.subarray(icmpv4.HEADER_LENGTH);
    if (quote.length < ipv4.MIN_HEADER_LENGTH || (quote[0] as number) >>> 4 !== 4) {
      ns.dropIp('icmp-bad-quote');
      return;
    }
    const qh = ((quote[0] as number) & 0x0f) * 4;
    if (qh < 20 || quote.length < qh + 8) {
      ns.dropIp('icmp-bad-quote');
      return;
    }
    const type = message[0] as number;
    const code = message[1] as number;
    const quotedSrc = readIpv4(quote, ipv4.SRC_OFFSET);
    const quotedDst = readIpv4(quote, ipv4.DST_OFFSET);
    const protocol = quote[ipv4.PROTOCOL_OFFSET] as number;
    // The quoted packet must be one we could have sent (RFC 5927 §4.1's cheapest check).
    if (!ns.isLocalAddress(quotedSrc)) {
      ns.dropIp('icmp-not-ours');
      return;
    }
    const report: IcmpErrorReport = { type, code, reporter, quotedSrc, quotedDst, quotedTransport: Buffer.from(quote.subarray(qh)) };
    if (type === 3 && code === 4) {
      const mtu = message.readUInt16BE(6);
      report.nextHopMtu = mtu;
      const nh = this.#ip.nextHop(quotedDst);
      // RFC 1191 §4: a zero next-hop MTU comes from an old router; keep the current estimate then.
      if (mtu >= 68 && nh !== undefined && !nh.local) this.#ip.pmtu.update(quotedDst, mtu, nh.mtu);
    }
    if (protocol === PROTO_ICMP) {
      this.#pingError(report);
      return;
    }
    ns.transport(protocol)?.icmpError(report);
  }

  #pingError(report: IcmpErrorReport): void {
    const t = report.quotedTransport;
    if (t[0] !== 8) return;
    const k = `${t.readUInt16BE(4)}|${t.readUInt16BE(6)}`;
    const w = this.#waiters.get(k);
    if (w === undefined) return;
    this.#waiters.delete(k);
    this.#ip.ns.clock.clearTimeout(w.timer);
    const what = report.type === 11 ? 'time to live exceeded' : `destination unreachable (code ${report.code})`;
    const error = new NetstackError(
      NetstackErrorCodes.PING_ERROR,
      `ping ${formatIpv4(report.quotedDst)}: ${formatIpv4(report.reporter)} answered ICMP ${what}`,
    );
    Object.assign(error, {
      icmpType: report.type,
      icmpCode: report.code,
      reporter: formatIpv4(report.reporter),
      nextHopMtu: report.nextHopMtu,
    });
    w.reject(error);
  }

  // ---- ping -----------------------------------------------------------------------------------

  /** Sends one echo request and resolves with the reply's RTT (or rejects: timeout, ICMP error, no route). */
  ping(dst: Ipv4Address, options: PingOptions = {}): Promise<PingResult> {
    const ns = this.#ip.ns;
    const size = options.size ?? 56;
    if (!Number.isInteger(size) || size < 0 || size > 65507) {
      return Promise.reject(new NetstackError(NetstackErrorCodes.CONFIG, `ping: size ${size} must be 0-65507 bytes`));
    }
    this.#nextIdentifier = (this.#nextIdentifier + 1) & 0xffff;
    this.#nextSequence = (this.#nextSequence + 1) & 0xffff;
    const identifier = options.identifier ?? this.#nextIdentifier;
    const sequence = options.sequence ?? this.#nextSequence;
    const message = Buffer.alloc(icmpv4.HEADER_LENGTH + size);
    message[0] = 8;
    message.writeUInt16BE(identifier, 4);
    message.writeUInt16BE(sequence, 6);
    for (let i = 0; i < size; i++) message[icmpv4.HEADER_LENGTH + i] = i & 0xff;
    message.writeUInt16BE(~onesComplementSum(message, 0, message.length) & 0xffff, 2);
    const k = `${identifier}|${sequence}`;
    if (this.#waiters.has(k)) {
      return Promise.reject(
        new NetstackError(NetstackErrorCodes.CONFIG, `ping: identifier ${identifier} sequence ${sequence} is already waiting`),
      );
    }
    return new Promise<PingResult>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 1000;
      const timer = ns.clock.setTimeout(() => {
        this.#waiters.delete(k);
        reject(
          new NetstackError(NetstackErrorCodes.PING_TIMEOUT, `ping ${formatIpv4(dst)}: no reply within ${timeoutMs} ms (seq ${sequence})`),
        );
      }, timeoutMs);
      this.#waiters.set(k, { sentAt: ns.clock.now(), timer, resolve, reject });
      const packet: Parameters<Ipv4Layer['send']>[0] = { src: options.src ?? 0, dst, protocol: PROTO_ICMP, payload: message };
      if (options.ttl !== undefined) packet.ttl = options.ttl;
      if (options.dontFragment) packet.dontFragment = true;
      const r = this.#ip.send(packet);
      if (!r.ok) {
        ns.clock.clearTimeout(timer);
        this.#waiters.delete(k);
        reject(new SystemError(r.error, 'sendto', `ping ${formatIpv4(dst)} could not be sent`, { address: formatIpv4(dst) }));
      }
    });
  }

  close(): void {
    for (const [k, w] of this.#waiters) {
      this.#ip.ns.clock.clearTimeout(w.timer);
      w.reject(new NetstackError(NetstackErrorCodes.SOCKET, 'ping: the namespace was closed'));
      this.#waiters.delete(k);
    }
  }
}

export { FLAG_DF };
