// A TCP socket with the node:net Socket API, as a stream.Duplex, so Node's `http` (server via
// server.emit('connection', socket), client via createConnection) runs over the emulated TCP
// unchanged. The stream side maps to the connection as libuv's tcp handle maps to a kernel
// socket: write → send buffer (the callback waits while the buffer is full, so write() returns
// false: backpressure), end → shutdown(SHUT_WR), destroy → close(), resetAndDestroy → RST.
import { Duplex } from 'node:stream';
import type { TimerHandle } from '@podnet/wire';
import { formatIpv4, isIpv4, parseIpv4 } from '@podnet/wire';
import type { TcpConnection, TcpInfo } from './connection.js';
import { type SocketError, socketError, TcpErrorCodes, TcpUsageError } from './errors.js';
import type { TcpLayer } from './layer.js';

export interface ConnectOptions {
  port: number;
  /** An IPv4 address (this stack has no resolver); 'localhost' means 127.0.0.1. Default 'localhost'. */
  host?: string;
  localAddress?: string;
  localPort?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  timeout?: number;
  allowHalfOpen?: boolean;
  /** Accepted for http's sake; only 4 (or 0/undefined) is supported. */
  family?: number;
}

/** Node's default stream buffering for net sockets (16 KiB readable, 16 KiB writable). */
const STREAM_HIGH_WATER_MARK = 16 * 1024;

export class TcpSocket extends Duplex {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  remoteFamily: 'IPv4' | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
  connecting = false;
  bytesRead = 0;
  /** The idle timeout set with setTimeout (read by http.Agent). */
  timeout: number | undefined;
  #bytesWritten = 0;
  readonly #layer: TcpLayer;
  #conn: TcpConnection | undefined;
  #everConnected = false;
  /** The write callback held while the send buffer is full. */
  #pendingWrite: (() => void) | undefined;
  #noDelay = false;
  #keepAlive: { enable: boolean; delay: number } | undefined;
  #idleMs = 0;
  #idleTimer: TimerHandle | undefined;
  #lastActivity = 0;
  /** Set until a server has emitted 'connection' for an accepted socket. */
  announced = true;

  constructor(layer: TcpLayer, options: { allowHalfOpen?: boolean } = {}) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      emitClose: false,
      autoDestroy: true,
      readableHighWaterMark: STREAM_HIGH_WATER_MARK,
      writableHighWaterMark: STREAM_HIGH_WATER_MARK,
    });
    this.#layer = layer;
  }

  // ---- Connection side -------------------------------------------------------------------------

  /** Binds this socket to a connection (an accepted one, or the one connect() opened). */
  attach(conn: TcpConnection): void {
    this.#conn = conn;
    conn.user = {
      onConnect: () => this.#onConnect(),
      onData: (data) => {
        this.bytesRead += data.length;
        this.#touch();
        this.push(data);
      },
      onEnd: () => {
        this.#touch();
        this.push(null);
      },
      onWritable: () => {
        const cb = this.#pendingWrite;
        if (cb && this.#conn && !this.#conn.sendBufferFull) {
          this.#pendingWrite = undefined;
          cb();
        }
      },
      onClose: (error) => this.#onConnectionClosed(error),
      readableBuffered: () => this.readableLength,
    };
    this.localAddress = formatIpv4(conn.localAddress);
    this.localPort = conn.localPort;
    this.remoteAddress = formatIpv4(conn.remoteAddress);
    this.remotePort = conn.remotePort;
    this.remoteFamily = 'IPv4';
    if (conn.state === 'ESTABLISHED' || conn.state === 'CLOSE-WAIT') this.#everConnected = true;
    this.#lastActivity = this.#layer.clock.now();
  }

  #onConnect(): void {
    this.connecting = false;
    this.#everConnected = true;
    this.#touch();
    const conn = this.#conn;
    if (conn) {
      if (this.#noDelay) conn.setNoDelay(true);
      if (this.#keepAlive) conn.setKeepAlive(this.#keepAlive.enable, this.#keepAlive.delay);
    }
    this.emit('connect');
    this.emit('ready');
  }

  #onConnectionClosed(error: SocketError | undefined): void {
    this.#conn = undefined;
    const cb = this.#pendingWrite;
    this.#pendingWrite = undefined;
    if (error) {
      this.connecting = false;
      // A connection that dies before a server announced it simply vanishes (nobody listens yet).
      if (!this.announced) this.destroy();
      else this.destroy(error);
      return;
    }
    if (cb) cb();
    // Closed without error (our FIN acknowledged after the peer's, or TIME-WAIT): nothing more
    // will arrive; the stream ends as the application reads and finishes.
    if (!this.readableEnded && !this.destroyed) this.push(null);
  }

  // ---- Connecting --------------------------------------------------------------------------------

  connect(options: ConnectOptions, connectListener?: () => void): this {
    const port = options.port;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TcpUsageError(TcpErrorCodes.INVALID_ARGUMENT, `connect: port must be an integer from 1 to 65535, got ${String(port)}`);
    }
    const host = parseHost(options.host ?? 'localhost', 'host');
    const local = options.localAddress === undefined ? undefined : parseHost(options.localAddress, 'localAddress');
    if (options.localPort !== undefined && (!Number.isInteger(options.localPort) || options.localPort < 0 || options.localPort > 65535)) {
      throw new TcpUsageError(
        TcpErrorCodes.INVALID_ARGUMENT,
        `connect: localPort must be an integer from 0 to 65535, got ${String(options.localPort)}`,
      );
    }
    if (options.family !== undefined && options.family !== 0 && options.family !== 4) {
      throw new TcpUsageError(
        TcpErrorCodes.INVALID_ARGUMENT,
        `connect: family ${options.family} is not supported; the emulated stack is IPv4 only`,
      );
    }
    if (this.#conn || this.connecting) {
      throw new TcpUsageError(TcpErrorCodes.INVALID_STATE, 'connect: this socket is already connecting or connected');
    }
    if (connectListener) this.once('connect', connectListener);
    if (options.noDelay) this.#noDelay = true;
    if (options.keepAlive) this.#keepAlive = { enable: true, delay: options.keepAliveInitialDelay ?? 0 };
    if (options.timeout !== undefined) this.setTimeout(options.timeout);
    this.connecting = true;
    const hostText = formatIpv4(host);
    this.remoteAddress = hostText;
    this.remotePort = port;
    this.remoteFamily = 'IPv4';
    const opened = this.#layer.openActive(host, port, local, options.localPort);
    if (!opened.ok) {
      process.nextTick(() => this.destroy(socketError(opened.error, 'connect', hostText, port)));
      return this;
    }
    const conn = opened.conn;
    this.attach(conn);
    const error = this.#layer.run(() => conn.openActive());
    if (error) {
      this.#layer.release(conn);
      this.#conn = undefined;
      process.nextTick(() => this.destroy(socketError(error, 'connect', hostText, port)));
    }
    return this;
  }

  // ---- Duplex implementation ---------------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const conn = this.#conn;
    if (!conn) {
      callback(socketError('EPIPE', 'write'));
      return;
    }
    this.#bytesWritten += chunk.length;
    this.#touch();
    this.#layer.run(() => conn.write(chunk));
    if (this.#conn?.sendBufferFull) this.#pendingWrite = () => callback();
    else callback();
  }

  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], callback: (error?: Error | null) => void): void {
    const conn = this.#conn;
    if (!conn) {
      callback(socketError('EPIPE', 'write'));
      return;
    }
    const buffers = chunks.map((c) => c.chunk);
    for (const b of buffers) this.#bytesWritten += b.length;
    this.#touch();
    this.#layer.run(() => conn.writeMany(buffers));
    if (this.#conn?.sendBufferFull) this.#pendingWrite = () => callback();
    else callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    const shutdown = (): void => {
      const conn = this.#conn;
      if (conn) this.#layer.run(() => conn.shutdown());
      callback();
    };
    // end() before the handshake completed: the FIN goes after the queued data, once connected.
    if (this.connecting) this.once('connect', shutdown);
    else shutdown();
  }

  override _read(): void {
    const conn = this.#conn;
    if (conn) this.#layer.run(() => conn.onUserRead());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#clearIdle();
    const conn = this.#conn;
    this.#conn = undefined;
    this.connecting = false;
    if (conn) this.#layer.run(() => conn.close(this.readableLength));
    callback(error);
    // node:net emits 'close' with hadError after the handle is closed.
    process.nextTick(() => this.emit('close', error !== null && error !== undefined));
  }

  // ---- node:net Socket API -----------------------------------------------------------------

  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  get pending(): boolean {
    return !this.#everConnected || this.connecting;
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  address(): { address: string; family: 'IPv4'; port: number } | Record<string, never> {
    if (this.localAddress === undefined || this.localPort === undefined) return {};
    return { address: this.localAddress, family: 'IPv4', port: this.localPort };
  }

  /** TCP_NODELAY: turn Nagle's algorithm (RFC 896) off. */
  setNoDelay(noDelay = true): this {
    this.#noDelay = noDelay;
    const conn = this.#conn;
    if (conn && !this.connecting) this.#layer.run(() => conn.setNoDelay(noDelay));
    return this;
  }

  /** SO_KEEPALIVE with TCP_KEEPIDLE = initialDelay ms (Node's semantics; 0 keeps the 2-hour default). */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.#keepAlive = { enable, delay: initialDelay };
    const conn = this.#conn;
    if (conn && !this.connecting) this.#layer.run(() => conn.setKeepAlive(enable, initialDelay));
    return this;
  }

  /** Emits 'timeout' after ms of inactivity (on the namespace's clock); 0 disables. */
  setTimeout(ms: number, callback?: () => void): this {
    if (!(typeof ms === 'number' && Number.isFinite(ms) && ms >= 0)) {
      throw new TcpUsageError(TcpErrorCodes.INVALID_ARGUMENT, `setTimeout: timeout must be a non-negative number of ms, got ${String(ms)}`);
    }
    this.timeout = ms;
    this.#idleMs = ms;
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    this.#clearIdle();
    if (ms > 0) {
      this.#lastActivity = this.#layer.clock.now();
      this.#armIdle(ms);
    }
    return this;
  }

  /**
   * No-ops returning this: the emulated socket holds no libuv handle of its own, so it never
   * keeps the process alive; the namespace's link (a real UDP or unix socket) does.
   */
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  /** Like node:net: end, then destroy once the FIN is queued. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Closes with RST instead of FIN (net.Socket.resetAndDestroy, SO_LINGER 0). */
  resetAndDestroy(): this {
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn) this.#layer.run(() => conn.reset());
    this.destroy();
    return this;
  }

  /** TCP_INFO: the connection's negotiated MSS, windows, RTT and retransmission counts. */
  tcpInfo(): TcpInfo | undefined {
    return this.#conn?.info();
  }

  // ---- Idle timeout ------------------------------------------------------------------------

  #touch(): void {
    // Without an idle timeout nothing reads the time of the last activity (setTimeout() stamps it
    // when it arms the timer), so a bulk transfer does not read the clock for every segment.
    if (this.#idleMs === 0) return;
    this.#lastActivity = this.#layer.clock.now();
    if (this.#idleTimer === undefined && !this.destroyed) this.#armIdle(this.#idleMs);
  }

  #armIdle(ms: number): void {
    this.#idleTimer = this.#layer.clock.setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.destroyed || this.#idleMs === 0) return;
      const idle = this.#layer.clock.now() - this.#lastActivity;
      // Activity since arming moves the deadline: wait for the rest (a lazy timer, as Node's unrefActive).
      if (idle + 0.5 < this.#idleMs) this.#armIdle(this.#idleMs - idle);
      else this.emit('timeout');
    }, ms);
  }

  #clearIdle(): void {
    if (this.#idleTimer) this.#layer.clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }
}

function parseHost(text: string, what: string): number {
  const t = text === 'localhost' ? '127.0.0.1' : text;
  if (typeof t !== 'string' || !isIpv4(t)) {
    throw new TcpUsageError(
      TcpErrorCodes.INVALID_ARGUMENT,
      `connect: ${what} ${JSON.stringify(text)} is not an IPv4 address; the emulated stack resolves no names, so pass a dotted quad such as 10.244.1.2`,
    );
  }
  return parseIpv4(t);
}
