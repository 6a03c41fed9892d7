// UDP (RFC 768) sockets with a node:dgram-like API: bind (port 0 = ephemeral), connect, send,
// 'message' with rinfo, close, address(). Datagrams for no socket get ICMP port unreachable from
// the IPv4 layer (receive returns false); ICMP errors about our datagrams reach a connected socket
// as an 'error' (ECONNREFUSED for port unreachable), as Linux reports them (udp_err,
// icmp_err_convert) and as Node's dgram surfaces them.
import { EventEmitter } from 'node:events';
import { formatIpv4, type Ipv4Address, isIpv4, onesComplementSum, packetPool, parseIpv4, pseudoHeaderSum } from '@podnet/wire';
import { NetstackError, NetstackErrorCodes, SystemError } from './errors.js';
import type { SocketRegistry } from './sockets.js';
import type { IcmpErrorReport, IncomingHeader, IpLayer, TransportProtocol } from './transport.js';

export const PROTO_UDP = 17;
const HEADER = 8;
/** 65535 minus the IPv4 and UDP headers. */
export const MAX_UDP_PAYLOAD = 65507;

export interface RemoteInfo {
  address: string;
  family: 'IPv4';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

/** Linux icmp_err_convert for destination unreachable codes; time exceeded maps to EHOSTUNREACH. */
function icmpErrno(type: number, code: number): string {
  if (type === 11) return 'EHOSTUNREACH';
  if (type === 12) return 'EPROTO';
  const table: Record<number, string> = {
    0: 'ENETUNREACH',
    1: 'EHOSTUNREACH',
    2: 'ENOPROTOOPT',
    3: 'ECONNREFUSED',
    4: 'EMSGSIZE',
    5: 'EOPNOTSUPP',
    6: 'ENETUNREACH',
    7: 'EHOSTDOWN',
    9: 'ENETUNREACH',
    10: 'EHOSTUNREACH',
    13: 'EHOSTUNREACH',
  };
  return table[code] ?? 'EHOSTUNREACH';
}

let lastText = '';
let lastAddress = 0;

function toAddress(text: string | undefined, what: string): Ipv4Address {
  // One-entry cache: a socket usually sends to the same address over and over.
  if (text === lastText && text !== '') return lastAddress;
  const a = parseAddress(text, what);
  if (text !== undefined) {
    lastText = text;
    lastAddress = a;
  }
  return a;
}

function parseAddress(text: string | undefined, what: string): Ipv4Address {
  if (text === undefined || text === '' || text === '0.0.0.0') return 0;
  if (text === 'localhost') return 0x7f000001;
  if (!isIpv4(text)) throw new NetstackError(NetstackErrorCodes.SOCKET, `udp ${what}: "${text}" is not an IPv4 address`);
  return parseIpv4(text);
}

function checkPort(port: unknown, what: string): number {
  if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535) {
    throw new NetstackError(NetstackErrorCodes.SOCKET, `udp ${what}: port ${String(port)} must be an integer 0-65535`);
  }
  return port as number;
}

export class UdpLayer implements TransportProtocol {
  readonly protocol = PROTO_UDP;
  readonly ip: IpLayer;
  readonly sockets: SocketRegistry;
  /** Datagrams dropped by the UDP layer, by reason. */
  readonly drops = new Map<string, number>();

  constructor(ip: IpLayer, sockets: SocketRegistry) {
    this.ip = ip;
    this.sockets = sockets;
  }

  createSocket(): UdpSocket {
    return new UdpSocket(this);
  }

  drop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  receive(header: IncomingHeader, segment: Buffer): boolean {
    if (segment.length < HEADER) {
      this.drop('udp-truncated');
      return true;
    }
    const length = segment.readUInt16BE(4);
    if (length < HEADER || length > segment.length) {
      this.drop('udp-bad-length');
      return true;
    }
    // RFC 768: a zero checksum means none was computed; otherwise it must verify.
    if (segment.readUInt16BE(6) !== 0) {
      const sum = onesComplementSum(segment, 0, length, pseudoHeaderSum(header.src, header.dst, PROTO_UDP, length));
      if (sum !== 0xffff) {
        this.drop('udp-checksum');
        return true;
      }
    }
    const dstPort = segment.readUInt16BE(2);
    const srcPort = segment.readUInt16BE(0);
    const socket = this.sockets.lookup<UdpSocket>(PROTO_UDP, header.dst, dstPort);
    if (socket === undefined || !socket.accepts(header.src, srcPort)) return false;
    // A frame from packetPool is reused after this call: copy. Other frames (a datagram Node
    // allocated for us) are not reused, so a view is safe.
    const data = packetPool.owns(segment) ? Buffer.from(segment.subarray(HEADER, length)) : segment.subarray(HEADER, length);
    socket.deliver(data, header.src, srcPort);
    return true;
  }

  icmpError(report: IcmpErrorReport): void {
    const t = report.quotedTransport;
    if (t.length < 4) return;
    const srcPort = t.readUInt16BE(0);
    const dstPort = t.readUInt16BE(2);
    const socket = this.sockets.lookup<UdpSocket>(PROTO_UDP, report.quotedSrc, srcPort);
    socket?.icmpError(report, dstPort);
  }
}

type SendCallback = (error: Error | null, bytes?: number) => void;

/** For an IpLayer without sendWith: build the segment, then send a copy. */
function sendCopy(
  ip: IpLayer,
  meta: Omit<Parameters<IpLayer['send']>[0], 'payload'>,
  length: number,
  write: (buf: Buffer, at: number, src: Ipv4Address) => void,
): ReturnType<IpLayer['send']> {
  const payload = Buffer.alloc(length);
  write(payload, 0, meta.src);
  return ip.send({ ...meta, payload });
}

export class UdpSocket extends EventEmitter {
  readonly #layer: UdpLayer;
  #local: { address: Ipv4Address; port: number } | undefined;
  #remote: { address: Ipv4Address; port: number } | undefined;
  #closed = false;
  ttl = 64;
  tos = 0;
  dontFragment = false;
  /** The last ICMP-reported error when no 'error' listener was attached. */
  lastError: SystemError | undefined;

  constructor(layer: UdpLayer) {
    super();
    this.#layer = layer;
  }

  #ensureOpen(what: string): void {
    if (this.#closed)
      throw new NetstackError(NetstackErrorCodes.SOCKET, `udp ${what}: the socket is closed (ERR_SOCKET_DGRAM_NOT_RUNNING)`);
  }

  /** bind([port], [address], [callback]) like dgram; emits 'listening'. */
  bind(port?: number | (() => void), address?: string | (() => void), callback?: () => void): this {
    this.#ensureOpen('bind');
    if (typeof port === 'function') {
      callback = port;
      port = 0;
    }
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    }
    if (this.#local) throw new NetstackError(NetstackErrorCodes.SOCKET, 'udp bind: the socket is already bound (ERR_SOCKET_ALREADY_BOUND)');
    const p = checkPort(port ?? 0, 'bind');
    const a = toAddress(address, 'bind');
    if (a !== 0 && !this.#layer.ip.isLocalAddress(a)) {
      const error = new SystemError('EADDRNOTAVAIL', 'bind', 'the address is not assigned to this namespace', {
        address: formatIpv4(a),
        port: p,
      });
      queueMicrotask(() => this.#emitError(error));
      return this;
    }
    const r = this.#layer.sockets.bind(PROTO_UDP, a, p, this);
    if (typeof r !== 'number') {
      const error = new SystemError(r, 'bind', r === 'EADDRINUSE' ? 'address already in use' : 'no free ephemeral port', {
        address: formatIpv4(a),
        port: p,
      });
      queueMicrotask(() => this.#emitError(error));
      return this;
    }
    this.#local = { address: a, port: r };
    queueMicrotask(() => {
      callback?.();
      this.emit('listening');
    });
    return this;
  }

  #implicitBind(): void {
    if (this.#local) return;
    const r = this.#layer.sockets.bind(PROTO_UDP, 0, 0, this);
    if (typeof r !== 'number') throw new SystemError(r, 'bind', 'no free ephemeral port');
    this.#local = { address: 0, port: r };
    // dgram emits 'listening' for an implicit bind too.
    queueMicrotask(() => this.emit('listening'));
  }

  connect(port: number, address?: string | (() => void), callback?: () => void): void {
    this.#ensureOpen('connect');
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    }
    if (this.#remote) throw new NetstackError(NetstackErrorCodes.SOCKET, 'udp connect: already connected (ERR_SOCKET_DGRAM_IS_CONNECTED)');
    const p = checkPort(port, 'connect');
    if (p === 0) throw new NetstackError(NetstackErrorCodes.SOCKET, 'udp connect: port 0 cannot be connected to');
    const a = toAddress(address ?? '127.0.0.1', 'connect');
    this.#implicitBind();
    this.#remote = { address: a, port: p };
    queueMicrotask(() => {
      callback?.();
      this.emit('connect');
    });
  }

  disconnect(): void {
    this.#remote = undefined;
  }

  /** send(msg, [port, address], [callback]); msg: Buffer, string or an array of them. */
  send(
    msg: Buffer | string | readonly (Buffer | string)[],
    port?: number | SendCallback,
    address?: string | SendCallback,
    callback?: SendCallback,
  ): void {
    this.#ensureOpen('send');
    if (typeof port === 'function') {
      callback = port;
      port = undefined;
    }
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    }
    const data = Array.isArray(msg)
      ? Buffer.concat(msg.map((m) => (typeof m === 'string' ? Buffer.from(m) : m)))
      : typeof msg === 'string'
        ? Buffer.from(msg)
        : (msg as Buffer);
    let dst: { address: Ipv4Address; port: number };
    if (port === undefined) {
      if (!this.#remote)
        throw new NetstackError(
          NetstackErrorCodes.SOCKET,
          'udp send: no destination port, and the socket is not connected (ERR_SOCKET_DGRAM_NOT_CONNECTED)',
        );
      dst = this.#remote;
    } else {
      if (this.#remote)
        throw new NetstackError(
          NetstackErrorCodes.SOCKET,
          'udp send: the socket is connected; send without port and address (ERR_SOCKET_DGRAM_IS_CONNECTED)',
        );
      dst = { port: checkPort(port, 'send'), address: toAddress(address ?? '127.0.0.1', 'send') };
      if (dst.port === 0) throw new NetstackError(NetstackErrorCodes.SOCKET, 'udp send: destination port 0 is not valid');
    }
    const finish = (error: Error | null) => {
      queueMicrotask(() => {
        if (callback) callback(error, error ? undefined : data.length);
        else if (error) this.#emitError(error as SystemError);
      });
    };
    if (data.length > MAX_UDP_PAYLOAD) {
      finish(new SystemError('EMSGSIZE', 'send', `a UDP datagram carries at most ${MAX_UDP_PAYLOAD} bytes, got ${data.length}`));
      return;
    }
    this.#implicitBind();
    const local = this.#local as { address: Ipv4Address; port: number };
    const dstAddress = dst.address === 0 ? 0x7f000001 : dst.address;
    const src = local.address !== 0 ? local.address : this.#layer.ip.sourceFor(dstAddress);
    if (src === undefined) {
      finish(new SystemError('ENETUNREACH', 'send', 'no route to the destination', { address: formatIpv4(dstAddress), port: dst.port }));
      return;
    }
    const localPort = local.port;
    const dstPort = dst.port;
    const write = (buf: Buffer, at: number, source: Ipv4Address) => {
      const length = HEADER + data.length;
      buf.writeUInt16BE(localPort, at);
      buf.writeUInt16BE(dstPort, at + 2);
      buf.writeUInt16BE(length, at + 4);
      buf.writeUInt16BE(0, at + 6);
      data.copy(buf, at + HEADER);
      const sum = onesComplementSum(buf, at, at + length, pseudoHeaderSum(source, dstAddress, PROTO_UDP, length));
      // RFC 768: a computed zero is sent as all ones.
      buf.writeUInt16BE(~sum & 0xffff || 0xffff, at + 6);
    };
    const meta = { src, dst: dstAddress, protocol: PROTO_UDP, ttl: this.ttl, tos: this.tos, dontFragment: this.dontFragment };
    const ip = this.#layer.ip;
    const r = ip.sendWith ? ip.sendWith(meta, HEADER + data.length, write) : sendCopy(ip, meta, HEADER + data.length, write);
    // The common case needs no callback turn at all.
    if (r.ok && callback === undefined) return;
    finish(
      r.ok ? null : new SystemError(r.error, 'send', 'the datagram could not be sent', { address: formatIpv4(dstAddress), port: dst.port }),
    );
  }

  address(): AddressInfo {
    if (!this.#local)
      throw new NetstackError(NetstackErrorCodes.SOCKET, 'udp address(): the socket is not bound (ERR_SOCKET_DGRAM_NOT_RUNNING)');
    return { address: formatIpv4(this.#local.address), family: 'IPv4', port: this.#local.port };
  }

  remoteAddress(): AddressInfo {
    if (!this.#remote)
      throw new NetstackError(NetstackErrorCodes.SOCKET, 'udp remoteAddress(): not connected (ERR_SOCKET_DGRAM_NOT_CONNECTED)');
    return { address: formatIpv4(this.#remote.address), family: 'IPv4', port: this.#remote.port };
  }

  setTTL(ttl: number): number {
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255)
      throw new NetstackError(NetstackErrorCodes.SOCKET, `udp setTTL: ${ttl} must be 1-255`);
    this.ttl = ttl;
    return ttl;
  }

  close(callback?: () => void): this {
    if (this.#closed) return this;
    this.#closed = true;
    if (this.#local) this.#layer.sockets.release(PROTO_UDP, this.#local.address, this.#local.port);
    queueMicrotask(() => {
      callback?.();
      this.emit('close');
    });
    return this;
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  // ---- called by the layer ----

  /** A connected socket takes datagrams only from its peer (udp4_lib_lookup's 4-tuple score). */
  accepts(src: Ipv4Address, srcPort: number): boolean {
    if (this.#closed) return false;
    const r = this.#remote;
    return r === undefined || (r.address === src && r.port === srcPort);
  }

  deliver(data: Buffer, src: Ipv4Address, srcPort: number): void {
    const rinfo: RemoteInfo = { address: formatIpv4(src), family: 'IPv4', port: srcPort, size: data.length };
    this.emit('message', data, rinfo);
  }

  icmpError(report: IcmpErrorReport, dstPort: number): void {
    const r = this.#remote;
    // Linux reports ICMP errors only to connected sockets (without IP_RECVERR), matching the peer.
    if (r === undefined || r.address !== report.quotedDst || r.port !== dstPort) return;
    const code = icmpErrno(report.type, report.code);
    const error = new SystemError(code, 'recvmsg', `ICMP type ${report.type} code ${report.code} from ${formatIpv4(report.reporter)}`, {
      address: formatIpv4(r.address),
      port: r.port,
    });
    this.#emitError(error);
  }

  #emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.lastError = error as SystemError;
  }
}
