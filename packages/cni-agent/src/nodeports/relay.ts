// The real listeners behind NodePorts (DESIGN §1, §4): for every nodePort of every Service, a real
// TCP and/or UDP socket on the node's transport address. Each accepted real connection becomes an
// emulated connection from the client's address to <node IP>:<nodePort> that enters the host
// namespace through ext0 (host/host-network.ts), so it traverses PREROUTING, where kube-proxy's
// KUBE-NODEPORTS rules DNAT it, and then the data plane. Bytes are relayed both ways; a half-close
// (FIN) and a reset are passed on in both directions.
//
// Source address: a routable client keeps its own address; a loopback client (curl on this
// machine: 127.0.0.0/8 has no meaning inside the cluster) appears as 203.0.113.1 (TEST-NET-3,
// RFC 5737), with its real source port when that port is free in the emulated namespace.
// UDP: one emulated socket per real client address:port (a flow table), expired after 30 s idle
// (nf_conntrack_udp_timeout's default: after that, a real node would forget the flow too).
import dgram from 'node:dgram';
import net from 'node:net';
import type { TcpSocket, UdpSocket } from '@podnet/netstack';
import { formatIpv4, parseIpv4, type TimerHandle } from '@podnet/wire';
import { EXTERNAL_CLIENT_ADDRESS, type HostNetwork } from '../host/host-network.js';

export const UDP_FLOW_IDLE_MS = 30_000;

export interface NodePortKey {
  protocol: 'TCP' | 'UDP';
  port: number;
}

export interface NodePortRelayOptions {
  host: HostNetwork;
  transportAddress: string;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

interface UdpFlow {
  socket: UdpSocket;
  timer: TimerHandle | undefined;
}

interface Listener {
  key: NodePortKey;
  close(): Promise<void>;
}

/** The emulated source address of a real client. */
export function emulatedClientAddress(realAddress: string): string {
  const a = realAddress.startsWith('::ffff:') ? realAddress.slice(7) : realAddress;
  if (a.startsWith('127.') || a === '::1' || !net.isIPv4(a)) return EXTERNAL_CLIENT_ADDRESS;
  return a;
}

export class NodePortRelay {
  readonly #o: NodePortRelayOptions;
  readonly #listeners = new Map<string, Listener>();
  /** Counters for /metrics and tests. */
  readonly stats = { tcpAccepted: 0, tcpPortFallback: 0, udpFlows: 0, udpDatagrams: 0, listenErrors: 0 };

  constructor(options: NodePortRelayOptions) {
    this.#o = options;
  }

  get ports(): NodePortKey[] {
    return [...this.#listeners.values()].map((l) => l.key);
  }

  /** Makes the listeners exactly `desired`. Ports that cannot be bound are logged and retried on the next sync. */
  async sync(desired: readonly NodePortKey[]): Promise<void> {
    const want = new Map(desired.map((k) => [`${k.protocol}/${k.port}`, k]));
    for (const [id, l] of this.#listeners) {
      if (!want.has(id)) {
        this.#listeners.delete(id);
        await l.close();
        this.#o.log?.info({ nodePort: l.key.port, protocol: l.key.protocol }, 'NodePort listener closed');
      }
    }
    for (const [id, key] of want) {
      if (this.#listeners.has(id)) continue;
      try {
        const l = key.protocol === 'TCP' ? await this.#listenTcp(key) : await this.#listenUdp(key);
        this.#listeners.set(id, l);
        this.#o.log?.info({ nodePort: key.port, protocol: key.protocol, address: this.#o.transportAddress }, 'NodePort listener open');
      } catch (error) {
        this.stats.listenErrors++;
        this.#o.log?.warn(
          { nodePort: key.port, protocol: key.protocol, err: (error as Error).message },
          `cannot listen on ${this.#o.transportAddress}:${key.port}/${key.protocol}; another process holds it`,
        );
      }
    }
  }

  #nodeIpText(): string {
    return formatIpv4(this.#o.host.nodeIp);
  }

  async #listenTcp(key: NodePortKey): Promise<Listener> {
    const server = net.createServer({ allowHalfOpen: true }, (real) => this.#relayTcp(real, key.port));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(key.port, this.#o.transportAddress, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {});
    return {
      key,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Established relays keep running until either side closes (as conntrack keeps flows).
        }),
    };
  }

  #relayTcp(real: net.Socket, nodePort: number): void {
    this.stats.tcpAccepted++;
    const host = this.#o.host;
    const src = emulatedClientAddress(real.remoteAddress ?? '127.0.0.1');
    if (src !== EXTERNAL_CLIENT_ADDRESS) host.ensureExternalAddress(src);
    real.pause();
    const open = (localPort: number | undefined): void => {
      const emu: TcpSocket = host.external.tcp.connect({
        host: this.#nodeIpText(),
        port: nodePort,
        localAddress: src,
        ...(localPort !== undefined ? { localPort } : {}),
        allowHalfOpen: true,
      });
      let connected = false;
      emu.once('connect', () => {
        connected = true;
        real.pipe(emu);
        emu.pipe(real);
        real.resume();
      });
      emu.on('error', (error: NodeJS.ErrnoException) => {
        if (!connected && error.code === 'EADDRINUSE' && localPort !== undefined) {
          this.stats.tcpPortFallback++;
          open(undefined);
          return;
        }
        // A reset (or refusal) inside the cluster resets the real client, as a kernel would.
        if (!real.destroyed) real.resetAndDestroy();
      });
      real.on('error', () => {
        if (!emu.destroyed) emu.resetAndDestroy();
      });
      real.on('close', (hadError) => {
        if (hadError && !emu.destroyed) emu.resetAndDestroy();
      });
      emu.on('close', () => {
        if (!real.destroyed && real.writableEnded && real.readableEnded) real.destroy();
      });
    };
    open(real.remotePort);
  }

  async #listenUdp(key: NodePortKey): Promise<Listener> {
    const real = dgram.createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      real.once('error', reject);
      real.bind(key.port, this.#o.transportAddress, () => {
        real.off('error', reject);
        resolve();
      });
    });
    real.on('error', () => {});
    const flows = new Map<string, UdpFlow>();
    const clock = this.#o.host.clock;
    const expire = (id: string, flow: UdpFlow) => {
      clock.clearTimeout(flow.timer);
      flow.timer = clock.setTimeout(() => {
        flows.delete(id);
        flow.socket.close();
      }, UDP_FLOW_IDLE_MS);
    };
    real.on('message', (msg, rinfo) => {
      this.stats.udpDatagrams++;
      const id = `${rinfo.address}:${rinfo.port}`;
      let flow = flows.get(id);
      if (!flow) {
        const src = emulatedClientAddress(rinfo.address);
        if (src !== EXTERNAL_CLIENT_ADDRESS) this.#o.host.ensureExternalAddress(src);
        const socket = this.#bindEmulatedUdp(src, rinfo.port);
        socket.on('message', (reply: Buffer) => {
          const f = flows.get(id);
          if (f) expire(id, f);
          real.send(reply, rinfo.port, rinfo.address);
        });
        flow = { socket, timer: undefined };
        flows.set(id, flow);
        this.stats.udpFlows++;
      }
      expire(id, flow);
      flow.socket.send(msg, key.port, this.#nodeIpText());
    });
    return {
      key,
      close: async () => {
        for (const f of flows.values()) {
          clock.clearTimeout(f.timer);
          f.socket.close();
        }
        flows.clear();
        await new Promise<void>((resolve) => real.close(() => resolve()));
      },
    };
  }

  /** Binds the real client's port when free in the outside namespace, else any port. */
  #bindEmulatedUdp(address: string, port: number): UdpSocket {
    const ns = this.#o.host.external;
    const taken = ns.sockets.inUse(17, parseIpv4(address), port);
    const socket = ns.udp.createSocket();
    socket.on('error', () => {});
    socket.bind(taken ? 0 : port, address);
    return socket;
  }

  async close(): Promise<void> {
    for (const l of this.#listeners.values()) await l.close();
    this.#listeners.clear();
  }
}
