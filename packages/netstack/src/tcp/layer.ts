// The TCP of one network namespace: demultiplexing by 4-tuple, listeners and their SYN
// backlog, RST for closed ports (RFC 9293 §3.10.7.1), ICMP error dispatch (RFC 1122 §4.2.3.9,
// RFC 5927), ephemeral ports, and the node:net-like API (createServer/connect) on top.
// It is the namespace's TransportProtocol for IP protocol 6 (transport.ts).
import type { Clock, Ipv4Address } from '@podnet/wire';
import { formatIpv4 } from '@podnet/wire';
import type { IcmpErrorReport, IncomingHeader, IpLayer, TransportProtocol } from '../transport.js';
import { newCounters, type ResolvedTcpOptions, resolveTcpOptions, type TcpCounters, type TcpOptions } from './config.js';
import { type ConnectionHost, connectionKey, TcpConnection, type TcpInfo, type TcpState } from './connection.js';
import type { SocketErrno } from './errors.js';
import { ReceiveSlab } from './receive-slab.js';
import { ACK, FIN, finishChecksum, HEADER_LENGTH, PROTOCOL_TCP, parseSegment, RST, type Segment, SYN, writeHeader } from './segment.js';
import { seqAdd } from './seq.js';
import { type ServerOptions, TcpServer } from './server.js';
import { type ConnectOptions, TcpSocket } from './socket.js';

/** A listening socket's entry in the layer (a LISTEN-state TCB, RFC 9293 §3.10.1 passive OPEN). */
export interface Listener {
  readonly key: string;
  readonly address: Ipv4Address;
  readonly port: number;
  readonly backlog: number;
  /** Passive opens in SYN-RECEIVED: counted against the backlog. */
  halfOpen: number;
  onConnection(conn: TcpConnection): void;
}

export interface ConnectionSummary {
  state: TcpState;
  /** TCP_INFO of the connection (`ss -ti`). */
  info: TcpInfo;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

export type OpenResult = { ok: true; conn: TcpConnection } | { ok: false; error: SocketErrno };

/** RFC 5961 §7 / Linux net.ipv4.tcp_challenge_ack_limit: challenge ACKs per second. */
const CHALLENGE_ACK_LIMIT = 1000;

export class TcpLayer implements TransportProtocol, ConnectionHost {
  readonly protocol = PROTOCOL_TCP;
  readonly counters: TcpCounters = newCounters();
  readonly options: ResolvedTcpOptions;
  readonly clock: Clock;
  /** Segments are built here and copied by IpLayer.send (65535 covers any MTU). */
  readonly scratch = Buffer.allocUnsafe(65536);
  readonly receiveSlab = new ReceiveSlab();
  readonly #connections = new Map<string, TcpConnection>();
  /**
   * The connection the last segment went to, or undefined: a bulk transfer's segments all belong
   * to one, and this spares building and hashing its 4-tuple string per segment (Linux keeps the
   * socket on the skb's early demux path for the same reason, tcp_v4_early_demux). Always a
   * connection still in #connections: release() clears it.
   */
  #lastConnection: TcpConnection | undefined;
  readonly #listeners = new Map<string, Listener>();
  /** Local ports held by active opens (Linux inet_hash of bound sockets), with a use count. */
  readonly #boundPorts = new Map<number, number>();
  #depth = 0;
  readonly #deferred: { header: IncomingHeader; segment: Buffer }[] = [];
  readonly #acksAfterBatch = new Set<TcpConnection>();
  #batchFlushScheduled = false;
  readonly #isnSecret: number;
  #challengeSecond = -1;
  #challengeCount = 0;

  constructor(
    readonly ip: IpLayer,
    options?: TcpOptions,
  ) {
    this.options = resolveTcpOptions(options);
    this.clock = ip.clock;
    this.#isnSecret = ip.rng.nextUint32();
  }

  // ---- TransportProtocol ---------------------------------------------------------------------

  receive(header: IncomingHeader, segment: Buffer): boolean {
    if (this.#depth > 0) {
      // Delivered re-entrantly (a link that hands frames over synchronously, while this layer
      // is mid-send): keep a copy and process it when the current step ends.
      this.#deferred.push({ header: { ...header }, segment: Buffer.from(segment) });
      return true;
    }
    this.run(() => this.#receive(header, segment));
    return true;
  }

  icmpError(report: IcmpErrorReport): void {
    this.run(() => this.#icmpError(report));
  }

  run<T>(fn: () => T): T {
    this.#depth++;
    try {
      return fn();
    } finally {
      this.#depth--;
      if (this.#depth === 0 && this.#deferred.length > 0) this.#drainDeferred();
    }
  }

  #drainDeferred(): void {
    this.#depth++;
    try {
      for (let next = this.#deferred.shift(); next; next = this.#deferred.shift()) this.#receive(next.header, next.segment);
    } finally {
      this.#depth--;
    }
  }

  #receive(header: IncomingHeader, buf: Buffer): void {
    this.counters.segmentsReceived++;
    const parsed = parseSegment(buf, header.src, header.dst, header.checksumUnnecessary === true);
    if (!parsed.ok) {
      if (parsed.reason === 'checksum') this.counters.checksumErrors++;
      else this.counters.malformed++;
      return;
    }
    const seg = parsed.segment;
    const last = this.#lastConnection;
    const conn =
      last !== undefined &&
      last.localPort === seg.dstPort &&
      last.remotePort === seg.srcPort &&
      last.localAddress === header.dst &&
      last.remoteAddress === header.src
        ? last
        : this.#connections.get(connectionKey(header.dst, seg.dstPort, header.src, seg.srcPort));
    this.#lastConnection = conn;
    if (conn && (seg.flags & (SYN | ACK | RST)) === SYN && conn.acceptsNewSyn(seg.seq)) {
      // A new incarnation of a connection in TIME-WAIT: forget the old one, let the listener have the SYN.
      conn.abort();
    } else if (conn) {
      conn.segmentArrives(seg);
      return;
    }
    const listener = this.#listeners.get(listenerKey(header.dst, seg.dstPort)) ?? this.#listeners.get(listenerKey(0, seg.dstPort));
    if (listener) {
      this.#listenArrives(listener, header, seg);
      return;
    }
    this.#replyReset(header.dst, header.src, seg);
  }

  /** RFC 9293 §3.10.7.2: a segment for a LISTEN socket. */
  #listenArrives(listener: Listener, header: IncomingHeader, seg: Segment): void {
    if (seg.flags & RST) return;
    if (seg.flags & ACK) {
      this.#replyReset(header.dst, header.src, seg);
      return;
    }
    if (!(seg.flags & SYN)) return;
    if (listener.halfOpen >= listener.backlog) {
      // Linux without syncookies: the SYN is dropped (the client retransmits it), counted in ListenDrops.
      this.counters.listenDrops++;
      return;
    }
    const conn = new TcpConnection(this, {
      localAddress: header.dst,
      localPort: seg.dstPort,
      remoteAddress: header.src,
      remotePort: seg.srcPort,
    });
    conn.listenerKey = listener.key;
    this.#connections.set(conn.key, conn);
    listener.halfOpen++;
    conn.openPassive(seg);
  }

  /**
   * RFC 9293 §3.10.7.1: a segment for no connection gets a reset, unless it is one:
   * <SEQ=SEG.ACK><CTL=RST> if it had ACK, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
   */
  #replyReset(local: Ipv4Address, remote: Ipv4Address, seg: Segment): void {
    if (seg.flags & RST) return;
    const buf = this.scratch;
    if (seg.flags & ACK) {
      writeHeader(buf, seg.dstPort, seg.srcPort, seg.ack, 0, RST, 0, 0);
    } else {
      const segLen = seg.dataEnd - seg.dataStart + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0);
      writeHeader(buf, seg.dstPort, seg.srcPort, 0, seqAdd(seg.seq, segLen), RST | ACK, 0, 0);
    }
    finishChecksum(buf, HEADER_LENGTH, local, remote);
    this.counters.segmentsSent++;
    this.counters.resetsSent++;
    this.ip.send({ src: local, dst: remote, protocol: PROTOCOL_TCP, payload: buf.subarray(0, HEADER_LENGTH), dontFragment: true });
  }

  #icmpError(report: IcmpErrorReport): void {
    const q = report.quotedTransport;
    if (q.length < 8) return;
    const conn = this.#connections.get(connectionKey(report.quotedSrc, q.readUInt16BE(0), report.quotedDst, q.readUInt16BE(2)));
    // RFC 5927 §4.1: only react when the quoted sequence number is one we have in flight.
    if (!conn?.quotesOurSegment(q.readUInt32BE(4))) return;
    if (report.type !== 3) return; // time exceeded, parameter problem: soft errors (RFC 1122 §4.2.3.9)
    switch (report.code) {
      case 4: {
        // RFC 1191 §6: fragmentation needed; an old router may give no MTU, then the IPv4 layer's learned value.
        const mtu = report.nextHopMtu || this.ip.pathMtu(report.quotedDst);
        if (mtu) conn.fragmentationNeeded(mtu);
        return;
      }
      // Linux icmp_err_convert: which unreachable codes are hard errors, and their errno.
      case 0:
      case 6:
        conn.connectFailed('ENETUNREACH');
        return;
      case 1:
      case 7:
      case 9:
      case 10:
      case 13:
        conn.connectFailed('EHOSTUNREACH');
        return;
      case 2:
        conn.connectFailed('ENOPROTOOPT');
        return;
      case 3:
        conn.connectFailed('ECONNREFUSED');
        return;
    }
  }

  // ---- ConnectionHost ----------------------------------------------------------------------------

  release(conn: TcpConnection): void {
    if (this.#lastConnection === conn) this.#lastConnection = undefined;
    if (this.#connections.get(conn.key) === conn) this.#connections.delete(conn.key);
    if (conn.listenerKey === undefined && conn.boundPort) {
      const n = (this.#boundPorts.get(conn.localPort) ?? 1) - 1;
      if (n <= 0) this.#boundPorts.delete(conn.localPort);
      else this.#boundPorts.set(conn.localPort, n);
      conn.boundPort = false;
    }
  }

  accepted(conn: TcpConnection): void {
    const key = conn.listenerKey;
    conn.listenerKey = undefined;
    const listener = key === undefined ? undefined : this.#listeners.get(key);
    if (!listener) {
      // The server closed while the handshake was in progress: like a closed listen socket's
      // queued children, the connection is reset.
      conn.reset();
      return;
    }
    listener.halfOpen--;
    listener.onConnection(conn);
  }

  halfOpenGone(conn: TcpConnection): void {
    const listener = conn.listenerKey === undefined ? undefined : this.#listeners.get(conn.listenerKey);
    if (listener) listener.halfOpen--;
    conn.listenerKey = undefined;
  }

  ackAfterBatch(conn: TcpConnection): void {
    this.#acksAfterBatch.add(conn);
    if (this.#batchFlushScheduled) return;
    this.#batchFlushScheduled = true;
    // The check phase follows the poll phase in which the link read its datagrams: one ACK per batch.
    setImmediate(() => {
      this.#batchFlushScheduled = false;
      this.run(() => {
        const conns = [...this.#acksAfterBatch];
        this.#acksAfterBatch.clear();
        for (const c of conns) c.flushAck();
      });
    });
  }

  /**
   * RFC 6528: ISN = M + F(4-tuple, secret), M a clock in 64 ns ticks as Linux's
   * secure_tcp_seq, F a keyed hash. A new connection on the same 4-tuple thus starts beyond
   * the old one's sequence numbers (what TIME-WAIT reuse relies on), and ISNs stay
   * unpredictable across 4-tuples. The secret comes from the namespace's Rng (seeded in tests).
   */
  initialSequence(conn: TcpConnection): number {
    let h = this.#isnSecret;
    for (const v of [conn.localAddress, conn.remoteAddress, (conn.localPort << 16) | conn.remotePort]) {
      h = Math.imul(h ^ v, 0x9e3779b1);
      h ^= h >>> 15;
      h = Math.imul(h, 0x85ebca77);
      h ^= h >>> 13;
    }
    const ticks = Math.floor((this.clock.now() * 1e6) / 64);
    return (h + (ticks % 2 ** 32)) >>> 0;
  }

  challengeAllowed(): boolean {
    const second = Math.floor(this.clock.now() / 1000);
    if (second !== this.#challengeSecond) {
      this.#challengeSecond = second;
      this.#challengeCount = 0;
    }
    return this.#challengeCount++ < CHALLENGE_ACK_LIMIT;
  }

  // ---- For sockets and servers ---------------------------------------------------------------

  /** Binds a listener (the bind()+listen() of a server socket, with SO_REUSEADDR as Node sets it). */
  listen(address: Ipv4Address, port: number, backlog: number, onConnection: (conn: TcpConnection) => void): Listener | SocketErrno {
    if (address !== 0 && !this.ip.isLocalAddress(address)) return 'EADDRNOTAVAIL';
    let chosen = port;
    if (chosen === 0) {
      const p = this.#freePort();
      if (p === undefined) return 'EADDRINUSE';
      chosen = p;
    } else {
      for (const l of this.#listeners.values()) {
        if (l.port === chosen && (l.address === 0 || address === 0 || l.address === address)) return 'EADDRINUSE';
      }
    }
    const listener: Listener = {
      key: listenerKey(address, chosen),
      address,
      port: chosen,
      backlog: Math.max(1, backlog),
      halfOpen: 0,
      onConnection,
    };
    this.#listeners.set(listener.key, listener);
    return listener;
  }

  unlisten(listener: Listener): void {
    if (this.#listeners.get(listener.key) === listener) this.#listeners.delete(listener.key);
  }

  /** Creates the TCB of an active open (bind + connect): source address from the route, an ephemeral port. */
  openActive(remote: Ipv4Address, remotePort: number, localAddress: Ipv4Address | undefined, localPort: number | undefined): OpenResult {
    let src = localAddress;
    if (src === undefined || src === 0) src = this.ip.sourceFor(remote);
    else if (!this.ip.isLocalAddress(src)) return { ok: false, error: 'EADDRNOTAVAIL' };
    if (src === undefined) return { ok: false, error: 'ENETUNREACH' };
    let port = localPort ?? 0;
    if (port === 0) {
      // Linux __inet_hash_connect: an ephemeral port may serve connections to other
      // destinations too; only the 4-tuple must be unique (and no listener own the port).
      const p = this.#freePort(
        (candidate) => this.#listenerOnPort(candidate) || this.#connections.has(connectionKey(src, candidate, remote, remotePort)),
      );
      if (p === undefined) return { ok: false, error: 'EADDRNOTAVAIL' };
      port = p;
    } else if (this.#portInUse(port)) {
      return { ok: false, error: 'EADDRINUSE' };
    }
    const conn = new TcpConnection(this, { localAddress: src, localPort: port, remoteAddress: remote, remotePort });
    if (this.#connections.has(conn.key)) return { ok: false, error: 'EADDRINUSE' };
    this.#connections.set(conn.key, conn);
    this.#boundPorts.set(port, (this.#boundPorts.get(port) ?? 0) + 1);
    conn.boundPort = true;
    return { ok: true, conn };
  }

  #portInUse(port: number): boolean {
    return this.#boundPorts.has(port) || this.#listenerOnPort(port);
  }

  #listenerOnPort(port: number): boolean {
    for (const l of this.#listeners.values()) if (l.port === port) return true;
    return false;
  }

  /** Linux __inet_hash_connect: start at a random offset in the range and take the first port not taken. */
  #freePort(taken: (port: number) => boolean = (p) => this.#portInUse(p)): number | undefined {
    const [lo, hi] = this.options.ephemeralPortRange;
    const size = hi - lo + 1;
    const start = this.ip.rng.nextUint32() % size;
    for (let i = 0; i < size; i++) {
      const port = lo + ((start + i) % size);
      if (!taken(port)) return port;
    }
    return undefined;
  }

  // ---- The node:net-like API -------------------------------------------------------------------

  /** net.createServer([options][, connectionListener]). */
  createServer(options?: ServerOptions | ((socket: TcpSocket) => void), connectionListener?: (socket: TcpSocket) => void): TcpServer {
    if (typeof options === 'function') return new TcpServer(this, {}, options);
    return new TcpServer(this, options ?? {}, connectionListener);
  }

  /** net.connect(options[, connectListener]) / net.connect(port[, host][, connectListener]). */
  connect(options: ConnectOptions | number, hostOrListener?: string | (() => void), connectListener?: () => void): TcpSocket {
    let opts: ConnectOptions;
    let listener = connectListener;
    if (typeof options === 'number') {
      opts = { port: options };
      if (typeof hostOrListener === 'string') opts.host = hostOrListener;
      else if (typeof hostOrListener === 'function') listener = hostOrListener;
    } else {
      opts = options;
      if (typeof hostOrListener === 'function') listener = hostOrListener;
    }
    const socket = new TcpSocket(this, { allowHalfOpen: opts.allowHalfOpen ?? false });
    return socket.connect(opts, listener);
  }

  /** The same as connect (net.createConnection). */
  createConnection(options: ConnectOptions | number, hostOrListener?: string | (() => void), connectListener?: () => void): TcpSocket {
    return this.connect(options, hostOrListener, connectListener);
  }

  /** Every TCB, like `ss -tan` (listeners are not included). */
  connections(): ConnectionSummary[] {
    return [...this.#connections.values()].map((c) => ({
      state: c.state,
      info: c.info(),
      localAddress: formatIpv4(c.localAddress),
      localPort: c.localPort,
      remoteAddress: formatIpv4(c.remoteAddress),
      remotePort: c.remotePort,
    }));
  }

  /**
   * The namespace is going away (its links close): every connection ends at once without a
   * packet, its socket destroyed as when the host vanishes; listeners stop.
   */
  close(): void {
    this.#listeners.clear();
    this.run(() => {
      for (const conn of [...this.#connections.values()]) conn.abort();
    });
  }

  /** The number of listening sockets. */
  get listenerCount(): number {
    return this.#listeners.size;
  }
}

function listenerKey(address: Ipv4Address, port: number): string {
  return `${address}:${port}`;
}
