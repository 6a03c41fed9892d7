// The namespace's socket table (inet_hashinfo / udp_table in Linux): which local (address, port)
// each protocol's sockets hold, so a second bind of a port fails with EADDRINUSE (DESIGN §1: the
// containers of a pod share one port space), and ephemeral ports come from ip_local_port_range
// (32768-60999 by default).
import type { Ipv4Address, Rng } from '@podnet/wire';

export const EPHEMERAL_LOW = 32768;
export const EPHEMERAL_HIGH = 60999;

export interface Binding<S> {
  protocol: number;
  address: Ipv4Address;
  port: number;
  socket: S;
}

export class SocketRegistry {
  readonly #bindings = new Map<string, Binding<unknown>>();
  readonly #rng: Rng;

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  #k(protocol: number, address: Ipv4Address, port: number): string {
    return `${protocol}|${address >>> 0}|${port}`;
  }

  /** True when (address, port) conflicts with a binding: the same pair, or either side the wildcard 0.0.0.0. */
  inUse(protocol: number, address: Ipv4Address, port: number): boolean {
    if (this.#bindings.has(this.#k(protocol, address, port))) return true;
    if (address === 0) {
      for (const b of this.#bindings.values()) if (b.protocol === protocol && b.port === port) return true;
      return false;
    }
    return this.#bindings.has(this.#k(protocol, 0, port));
  }

  /** Binds; port 0 picks a free ephemeral port. Returns the port, or 'EADDRINUSE' / 'EAGAIN' (no free port). */
  bind<S>(protocol: number, address: Ipv4Address, port: number, socket: S): number | 'EADDRINUSE' | 'EAGAIN' {
    if (port === 0) {
      const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
      // Linux starts the search at a random offset in the range (__inet_hash_connect / udp_lib_get_port).
      const start = this.#rng.nextUint32() % span;
      for (let i = 0; i < span; i++) {
        const candidate = EPHEMERAL_LOW + ((start + i) % span);
        if (!this.inUse(protocol, address, candidate)) {
          port = candidate;
          break;
        }
      }
      if (port === 0) return 'EAGAIN';
    } else if (this.inUse(protocol, address, port)) {
      return 'EADDRINUSE';
    }
    this.#bindings.set(this.#k(protocol, address, port), { protocol, address, port, socket });
    return port;
  }

  release(protocol: number, address: Ipv4Address, port: number): void {
    this.#bindings.delete(this.#k(protocol, address, port));
  }

  /** The socket for a packet to (address, port): an exact binding first, then the wildcard. */
  lookup<S>(protocol: number, address: Ipv4Address, port: number): S | undefined {
    const b = this.#bindings.get(this.#k(protocol, address, port)) ?? this.#bindings.get(this.#k(protocol, 0, port));
    return b?.socket as S | undefined;
  }

  list(): Array<Omit<Binding<unknown>, 'socket'>> {
    return [...this.#bindings.values()].map(({ protocol, address, port }) => ({ protocol, address, port }));
  }
}
