// A listening TCP server with the node:net Server API: listen/close/address and the
// 'listening', 'connection', 'close' and 'error' events, in the order Node emits them.
import { EventEmitter } from 'node:events';
import { formatIpv4, isIpv4, parseIpv4 } from '@podnet/wire';
import type { TcpConnection } from './connection.js';
import { socketError, TcpErrorCodes, TcpUsageError } from './errors.js';
import type { Listener, TcpLayer } from './layer.js';
import { TcpSocket } from './socket.js';

export interface ServerOptions {
  /** Keep the writable side open after the peer's FIN (node:net allowHalfOpen). Default false. */
  allowHalfOpen?: boolean;
  /** Accepted sockets start paused (node:net pauseOnConnect). */
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export interface ListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
}

export class TcpServer extends EventEmitter {
  readonly #layer: TcpLayer;
  readonly #options: ServerOptions;
  #listener: Listener | undefined;
  readonly #sockets = new Set<TcpSocket>();
  #closing = false;

  constructor(layer: TcpLayer, options: ServerOptions, connectionListener?: (socket: TcpSocket) => void) {
    super();
    this.#layer = layer;
    this.#options = options;
    if (connectionListener) this.on('connection', connectionListener);
  }

  get listening(): boolean {
    return this.#listener !== undefined;
  }

  /** listen(port[, host][, backlog][, cb]) or listen({port, host, backlog}[, cb]). */
  listen(...args: unknown[]): this {
    let options: ListenOptions = {};
    let callback: (() => void) | undefined;
    const rest = [...args];
    if (typeof rest[rest.length - 1] === 'function') callback = rest.pop() as () => void;
    if (typeof rest[0] === 'object' && rest[0] !== null) options = rest[0] as ListenOptions;
    else {
      if (rest[0] !== undefined && rest[0] !== null) options.port = Number(rest[0]);
      if (typeof rest[1] === 'string') options.host = rest[1];
      const backlog = typeof rest[1] === 'number' ? rest[1] : rest[2];
      if (typeof backlog === 'number') options.backlog = backlog;
    }
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new TcpUsageError(
        TcpErrorCodes.INVALID_ARGUMENT,
        `listen: port must be an integer from 0 to 65535, got ${String(options.port)}`,
      );
    }
    const hostText = options.host ?? '0.0.0.0';
    let address = 0;
    if (hostText !== '0.0.0.0' && hostText !== '::') {
      const h = hostText === 'localhost' ? '127.0.0.1' : hostText;
      if (!isIpv4(h)) {
        throw new TcpUsageError(
          TcpErrorCodes.INVALID_ARGUMENT,
          `listen: host ${JSON.stringify(hostText)} is not an IPv4 address; pass a dotted quad or omit it to listen on every address`,
        );
      }
      address = parseIpv4(h);
    }
    if (this.#listener) {
      throw new TcpUsageError(TcpErrorCodes.INVALID_STATE, 'listen: this server is already listening; close() it first');
    }
    const backlog = options.backlog ?? this.#layer.options.backlog;
    const result = this.#layer.listen(address, port, backlog, (conn) => this.#accept(conn));
    if (typeof result === 'string') {
      const error = socketError(result, 'listen', formatIpv4(address), port);
      process.nextTick(() => this.emit('error', error));
      return this;
    }
    this.#listener = result;
    this.#closing = false;
    if (callback) this.once('listening', callback);
    process.nextTick(() => this.emit('listening'));
    return this;
  }

  #accept(conn: TcpConnection): void {
    const socket = new TcpSocket(this.#layer, { allowHalfOpen: this.#options.allowHalfOpen ?? false });
    socket.announced = false;
    socket.attach(conn);
    if (this.#options.noDelay) socket.setNoDelay(true);
    if (this.#options.keepAlive) socket.setKeepAlive(true, this.#options.keepAliveInitialDelay ?? 0);
    if (this.#options.pauseOnConnect) socket.pause();
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#maybeClosed();
    });
    // Like libuv's connection callback: the application hears of it on its own turn of the loop.
    process.nextTick(() => {
      socket.announced = true;
      if (socket.destroyed) return;
      this.emit('connection', socket);
    });
  }

  address(): { address: string; family: 'IPv4'; port: number } | null {
    const l = this.#listener;
    return l ? { address: formatIpv4(l.address), family: 'IPv4', port: l.port } : null;
  }

  /** Stops accepting; 'close' follows once every accepted connection has closed (node:net semantics). */
  close(callback?: (error?: Error) => void): this {
    if (!this.#listener) {
      if (callback) {
        const error = Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' });
        process.nextTick(() => callback(error));
      }
      return this;
    }
    this.#layer.unlisten(this.#listener);
    this.#listener = undefined;
    this.#closing = true;
    if (callback) this.once('close', () => callback());
    this.#maybeClosed();
    return this;
  }

  #maybeClosed(): void {
    if (this.#closing && this.#sockets.size === 0) {
      this.#closing = false;
      process.nextTick(() => this.emit('close'));
    }
  }

  getConnections(callback: (error: Error | null, count: number) => void): this {
    const n = this.#sockets.size;
    process.nextTick(() => callback(null, n));
    return this;
  }

  /** No-ops, as TcpSocket's: nothing here holds the event loop open. */
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
