// Every socket, server and timer a container opens, so that killing the container closes them all
// at once, as the kernel closes a SIGKILLed process's file descriptors (DESIGN §2: "killing it stops
// it at once and closes its sockets"). Workloads open sockets only through their scope.
import http from 'node:http';
import type net from 'node:net';
import type { Namespace, TcpServer, TcpSocket, UdpSocket } from '@podnet/netstack';

/** The listening TCP servers of each namespace, across all its scopes (for `ss -l`). */
const listenersByNamespace = new WeakMap<Namespace, Set<TcpServer>>();

export function tcpListeners(ns: Namespace): Array<{ address: string; port: number }> {
  const out: Array<{ address: string; port: number }> = [];
  for (const s of listenersByNamespace.get(ns) ?? []) {
    const a = s.address();
    if (a) out.push({ address: a.address, port: a.port });
  }
  return out;
}

export class SocketScope {
  readonly ns: Namespace;
  readonly #sockets = new Set<TcpSocket>();
  readonly #servers = new Set<TcpServer>();
  readonly #udp = new Set<UdpSocket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #httpServers = new Set<http.Server>();
  #closed = false;

  constructor(ns: Namespace) {
    this.ns = ns;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** net.createServer in the pod's namespace; accepted sockets belong to the scope too. */
  createServer(onConnection: (socket: TcpSocket) => void): TcpServer {
    const server = this.ns.tcp.createServer((socket) => {
      if (this.#closed) {
        socket.resetAndDestroy();
        return;
      }
      this.#track(socket);
      onConnection(socket);
    });
    this.#servers.add(server);
    let nsSet = listenersByNamespace.get(this.ns);
    if (nsSet === undefined) {
      nsSet = new Set();
      listenersByNamespace.set(this.ns, nsSet);
    }
    nsSet.add(server);
    server.on('close', () => {
      this.#servers.delete(server);
      nsSet.delete(server);
    });
    return server;
  }

  /**
   * An http.Server fed by an emulated TCP server listening on port (all addresses): Node's http
   * runs unchanged over netstack's node:net-like sockets. Resolves once listening; rejects with
   * the bind error (EADDRINUSE when a sibling container holds the port).
   */
  listenHttp(port: number, handler: http.RequestListener): Promise<http.Server> {
    const httpServer = http.createServer({ keepAliveTimeout: 5000 }, handler);
    this.#httpServers.add(httpServer);
    const tcp = this.createServer((socket) => httpServer.emit('connection', socket));
    return new Promise((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ port, host: '0.0.0.0' }, () => {
        tcp.off('error', reject);
        resolve(httpServer);
      });
    });
  }

  /** net.connect in the pod's namespace. */
  connect(port: number, host: string): TcpSocket {
    const socket = this.ns.tcp.connect({ port, host });
    this.#track(socket);
    return socket;
  }

  /** dgram.createSocket('udp4') in the pod's namespace. */
  udpSocket(): UdpSocket {
    const socket = this.ns.udp.createSocket();
    this.#udp.add(socket);
    socket.on('close', () => this.#udp.delete(socket));
    return socket;
  }

  /** An http.request whose connection is an emulated TCP socket of this scope (never a real one). */
  httpRequest(
    options: http.RequestOptions & { host: string; port: number },
    onResponse: (res: http.IncomingMessage) => void,
  ): http.ClientRequest {
    // No `agent`: with one (even `agent: false`, which makes a fresh Agent) Node ignores
    // createConnection and opens a REAL socket; without one it calls createConnection.
    const { agent: _ignored, ...rest } = options;
    return http.request({ ...rest, createConnection: () => this.connect(options.port, options.host) as unknown as net.Socket }, onResponse);
  }

  setTimeout(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
    return t;
  }

  setInterval(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setInterval(fn, ms);
    this.#timers.add(t);
    return t;
  }

  clearTimer(t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.#timers.delete(t);
  }

  /** Waits ms, or rejects at once when the scope closes (the process was killed). */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = this.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        this.clearTimer(t);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #track(socket: TcpSocket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  /** Closes everything at once: connections are reset (RST, as on a SIGKILLed process's close with data pending). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const s of this.#servers) {
      s.close();
      listenersByNamespace.get(this.ns)?.delete(s);
    }
    for (const s of this.#sockets) s.destroy();
    for (const u of this.#udp) {
      try {
        u.close();
      } catch {
        // already closed
      }
    }
    for (const h of this.#httpServers) h.removeAllListeners('request');
    this.#sockets.clear();
    this.#servers.clear();
    this.#udp.clear();
  }
}
