// One end of a veth pair whose wire is a unix stream socket between two OS processes (DESIGN §2:
// a pod in the node-agent reaches the cni-agent's bridge this way). Framing: each Ethernet frame
// is preceded by its length as an unsigned 16-bit big-endian number, so a reader can always skip a
// frame it refuses (too short, too long) and stay in step with the stream.
//
// One side listens on a path (the cni-agent, which owns the host end), the other connects (the
// node-agent). A new connection replaces the old one, so a restarted peer simply reconnects.
import { existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { type MacAddress, packetPool } from '@podnet/wire';
import { NetstackError, NetstackErrorCodes } from '../errors.js';
import { expandIntoHeadroom } from './headroom.js';
import { LinkBase } from './link.js';

export const UNIX_FRAME_PREFIX = 2;
/** Frames queued in the socket beyond this are dropped (a full qdisc), instead of buffering without bound. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

export interface UnixSocketVethOptions {
  name: string;
  mac: MacAddress;
  mtu?: number;
  /** The unix socket path. */
  path: string;
}

export class UnixSocketVeth extends LinkBase {
  readonly kind = 'unix-veth' as const;
  readonly path: string;
  #server: net.Server | undefined;
  #conn: net.Socket | undefined;
  #pending: Buffer | undefined;
  #connectedWaiters: Array<() => void> = [];

  private constructor(options: UnixSocketVethOptions) {
    super(options);
    this.path = options.path;
  }

  /** The listening end: resolves once listening; frames flow when the peer connects (see connected()). */
  static async listen(options: UnixSocketVethOptions): Promise<UnixSocketVeth> {
    const link = new UnixSocketVeth(options);
    if (existsSync(options.path)) unlinkSync(options.path);
    const server = net.createServer((conn) => link.#adopt(conn));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) =>
        reject(
          new NetstackError(
            NetstackErrorCodes.LINK_IO,
            `veth ${options.name}: cannot listen on unix socket ${options.path}: ${error.message}`,
            {
              cause: error,
            },
          ),
        ),
      );
      server.listen(options.path, () => resolve());
    });
    server.on('error', () => link.counters.drop('socket-error'));
    link.#server = server;
    return link;
  }

  /** The connecting end: resolves once connected. */
  static async connect(options: UnixSocketVethOptions): Promise<UnixSocketVeth> {
    const link = new UnixSocketVeth(options);
    const conn = await new Promise<net.Socket>((resolve, reject) => {
      const c = net.createConnection(options.path);
      c.once('connect', () => resolve(c));
      c.once('error', (error) =>
        reject(
          new NetstackError(
            NetstackErrorCodes.LINK_IO,
            `veth ${options.name}: cannot connect to unix socket ${options.path}: ${error.message}. Is the other end listening?`,
            { cause: error },
          ),
        ),
      );
    });
    link.#adopt(conn);
    return link;
  }

  get connected(): boolean {
    return this.#conn !== undefined;
  }

  /** Resolves once a peer is connected. */
  whenConnected(): Promise<void> {
    if (this.#conn) return Promise.resolve();
    return new Promise((resolve) => this.#connectedWaiters.push(resolve));
  }

  #adopt(conn: net.Socket): void {
    this.#conn?.destroy();
    this.#conn = conn;
    this.#pending = undefined;
    conn.setNoDelay?.(true);
    conn.on('data', (chunk: Buffer) => {
      if (this.#conn === conn) this.#onData(chunk);
    });
    conn.on('error', () => this.counters.drop('socket-error'));
    conn.on('close', () => {
      if (this.#conn === conn) {
        this.#conn = undefined;
        this.#pending = undefined;
      }
    });
    for (const w of this.#connectedWaiters.splice(0)) w();
  }

  #onData(chunk: Buffer): void {
    let buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    let at = 0;
    while (buf.length - at >= UNIX_FRAME_PREFIX) {
      const length = buf.readUInt16BE(at);
      if (buf.length - at - UNIX_FRAME_PREFIX < length) break;
      const start = at + UNIX_FRAME_PREFIX;
      at = start + length;
      // LinkBase.receive counts, refuses truncated/oversized frames and never throws.
      this.receive(buf.subarray(start, at));
    }
    buf = buf.subarray(at);
    this.#pending = buf.length > 0 ? Buffer.from(buf) : undefined;
  }

  protected wireSend(frame: Buffer): void {
    const conn = this.#conn;
    if (conn === undefined || conn.destroyed) {
      this.dropReceived(frame, 'not-connected');
      return;
    }
    if (conn.writableLength > MAX_QUEUED_BYTES) {
      this.dropReceived(frame, 'tx-queue-full');
      return;
    }
    if (frame.length > 0xffff) {
      this.dropReceived(frame, 'oversized');
      return;
    }
    // A locally built frame has room in front (headroom.ts): the length prefix goes there and the
    // frame is one write, instead of a prefix buffer and two corked writes per frame.
    const framed = expandIntoHeadroom(frame, UNIX_FRAME_PREFIX);
    if (framed !== undefined) {
      framed.writeUInt16BE(frame.length, 0);
      conn.write(framed, () => packetPool.release(frame));
      return;
    }
    const prefix = Buffer.allocUnsafe(UNIX_FRAME_PREFIX);
    prefix.writeUInt16BE(frame.length, 0);
    conn.cork();
    conn.write(prefix);
    conn.write(frame, () => packetPool.release(frame));
    conn.uncork();
  }

  override async close(): Promise<void> {
    await super.close();
    this.#conn?.destroy();
    this.#conn = undefined;
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
