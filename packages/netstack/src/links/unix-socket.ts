// One end of a veth pair whose wire is a unix stream socket between two OS processes (DESIGN §2:
// a pod in the node-agent reaches the cni-agent's bridge this way). Framing: each Ethernet frame
// is preceded by its length as an unsigned 16-bit big-endian number, so a reader can always skip a
// frame it refuses (too short, too long) and stay in step with the stream, then by a virtio-net
// header (virtio 1.x §5.1.6 struct virtio_net_hdr, the 10 bytes a tap device with IFF_VNET_HDR puts
// in front of each frame), which says whether the frame is a TCP super-frame and its segment size:
// a veth carries those whole (TSO/GSO), and the node cuts them only where a wire must (link.ts).
//
// One side listens on a path (the cni-agent, which owns the host end), the other connects (the
// node-agent). A new connection replaces the old one, so a restarted peer simply reconnects.
import { existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { type MacAddress, packetPool, SLOT_BYTES } from '@podnet/wire';
import { NetstackError, NetstackErrorCodes } from '../errors.js';
import { gsoSizeOf, setGsoSize } from '../offload/index.js';
import { LinkBase } from './link.js';

/** The frame's length (2 bytes) and its virtio-net header (10). */
export const UNIX_FRAME_PREFIX = 12;
const LENGTH_BYTES = 2;
const VNET_AT = LENGTH_BYTES;
/** virtio_net_hdr.flags: the checksum is complete and valid (VIRTIO_NET_HDR_F_DATA_VALID). */
const VNET_F_DATA_VALID = 2;
/** virtio_net_hdr.gso_type: VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4. */
const VNET_GSO_NONE = 0;
const VNET_GSO_TCPV4 = 1;
/** Frames queued in the socket beyond this are dropped (a full qdisc), instead of buffering without bound. */
export const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** The largest frame the 16-bit length prefix can carry. */
export const MAX_FRAME_BYTES = 0xffff;
/** One batch holds any single frame (prefix included) and ~40 full-MTU frames. */
export const BATCH_BYTES = 128 * 1024;

/** Batch buffers kept for reuse once their writes are done. */
const SPARE_BATCHES = 4;

/** A batch buffer and how many socket writes still hold a view of it. */
interface Batch {
  buf: Buffer;
  writes: number;
}

/**
 * The buffer a frame split across reads is completed in: a jumbo buffer from the packet pool for
 * a super-frame (released with the frame by whoever ends its life), else an ordinary one.
 */
function pendingBuffer(size: number): Buffer {
  return size > SLOT_BYTES ? packetPool.allocJumbo(size, 0, false) : Buffer.allocUnsafe(size);
}

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
  /** A frame split across reads: its prefix and bytes so far (#pendingFill of them). */
  #pending: Buffer | undefined;
  #pendingFill = 0;
  /** This loop iteration's outgoing frames, each behind its length prefix, written by #flush. */
  #batch: Batch | undefined;
  readonly #spareBatches: Batch[] = [];
  #batchLength = 0;
  #batchFrames = 0;
  #flushScheduled = false;
  readonly #flushCallback = (): void => {
    this.#flushScheduled = false;
    this.#flush();
  };
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

  /** The virtio-net header carries a super-frame's segment size: it crosses whole. */
  protected override get wireCarriesGso(): boolean {
    return true;
  }

  get connected(): boolean {
    return this.#conn !== undefined;
  }

  /** Bytes transmitted but not yet taken by the kernel: the socket's queue plus the pending batch. */
  get queuedBytes(): number {
    return (this.#conn?.writableLength ?? 0) + this.#batchLength;
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
    this.#pendingFill = 0;
    conn.setNoDelay?.(true);
    conn.on('data', (chunk: Buffer) => {
      if (this.#conn === conn) this.#onData(chunk);
    });
    conn.on('error', () => this.counters.drop('socket-error'));
    conn.on('close', () => {
      if (this.#conn === conn) {
        this.#conn = undefined;
        this.#pending = undefined;
        this.#pendingFill = 0;
      }
    });
    for (const w of this.#connectedWaiters.splice(0)) w();
  }

  #onData(chunk: Buffer): void {
    let at = this.#pending === undefined ? 0 : this.#completePending(chunk);
    if (at < 0) return;
    while (chunk.length - at >= UNIX_FRAME_PREFIX) {
      const length = chunk.readUInt16BE(at);
      if (chunk.length - at - UNIX_FRAME_PREFIX < length) break;
      const start = at + UNIX_FRAME_PREFIX;
      const header = at;
      at = start + length;
      this.#receiveFramed(chunk, header, chunk.subarray(start, at));
    }
    if (at < chunk.length) this.#keepPartial(chunk, at);
  }

  /**
   * A frame split across chunks: only its own bytes are copied, into a buffer of its exact size
   * (instead of concatenating the whole next chunk, up to 64 KiB, to finish ~1.5 KB). Returns how
   * much of `chunk` it used, or -1 when the frame is still incomplete and the chunk is used up.
   */
  #completePending(chunk: Buffer): number {
    let pending = this.#pending as Buffer;
    let fill = this.#pendingFill;
    if (fill < LENGTH_BYTES) {
      // Only the first byte of the length came: the frame's size is known once the second does.
      const grown = pendingBuffer(UNIX_FRAME_PREFIX + (((pending[0] ?? 0) << 8) | (chunk[0] ?? 0)));
      grown[0] = pending[0] ?? 0;
      pending = grown;
    }
    const copied = chunk.copy(pending, fill, 0, Math.min(chunk.length, pending.length - fill));
    fill += copied;
    if (fill < pending.length) {
      this.#pending = pending;
      this.#pendingFill = fill;
      return -1;
    }
    this.#pending = undefined;
    this.#pendingFill = 0;
    this.#receiveFramed(pending, 0, pending.subarray(UNIX_FRAME_PREFIX));
    return copied;
  }

  /** One frame off the stream, its virtio-net header at buf[at + VNET_AT]. */
  #receiveFramed(buf: Buffer, at: number, frame: Buffer): void {
    const gsoType = buf[at + VNET_AT + 1];
    if (gsoType === VNET_GSO_TCPV4) {
      const gsoSize = buf.readUInt16LE(at + VNET_AT + 4);
      if (gsoSize === 0) {
        this.#refuse(frame);
        return;
      }
      setGsoSize(frame, gsoSize);
    } else if (gsoType !== VNET_GSO_NONE) {
      // UDP, TCPv6 or ECN super-frames are never sent by this stack: refuse what we cannot cut.
      this.#refuse(frame);
      return;
    }
    // LinkBase.receive counts, refuses truncated/oversized frames and never throws.
    this.receive(frame);
  }

  /** A frame whose header we cannot honour: received (counted) and dropped, as a driver's rx error. */
  #refuse(frame: Buffer): void {
    this.counters.rx(frame.length);
    this.dropReceived(frame, 'bad-vnet-header');
  }

  #keepPartial(chunk: Buffer, at: number): void {
    const left = chunk.length - at;
    // The buffer is the frame's own (the chunk is not kept alive for it): prefix + frame bytes.
    const size = left >= LENGTH_BYTES ? UNIX_FRAME_PREFIX + chunk.readUInt16BE(at) : left;
    const pending = pendingBuffer(size);
    chunk.copy(pending, 0, at);
    this.#pending = pending;
    this.#pendingFill = left;
  }

  protected wireSend(frame: Buffer): void {
    const conn = this.#conn;
    if (conn === undefined || conn.destroyed) {
      this.dropReceived(frame, 'not-connected');
      return;
    }
    if (frame.length > MAX_FRAME_BYTES) {
      this.dropReceived(frame, 'oversized');
      return;
    }
    const framedLength = UNIX_FRAME_PREFIX + frame.length;
    // The bound covers what the socket still holds plus the pending batch (a full qdisc drops).
    if (conn.writableLength + this.#batchLength + framedLength > MAX_QUEUED_BYTES) {
      this.dropReceived(frame, 'tx-queue-full');
      return;
    }
    if (this.#batchLength + framedLength > BATCH_BYTES) this.#flush();
    let batch = this.#batch;
    if (batch === undefined) {
      batch = this.#spareBatches.pop() ?? { buf: Buffer.allocUnsafeSlow(BATCH_BYTES), writes: 0 };
      this.#batch = batch;
    }
    // Copy into the batch and give the pool slot back now: one copy of ~1.5 KB is cheaper than a
    // write request, a completion callback and a slot held until the kernel has the bytes.
    writeFramePrefix(batch.buf, this.#batchLength, frame);
    frame.copy(batch.buf, this.#batchLength + UNIX_FRAME_PREFIX);
    this.#batchLength += framedLength;
    this.#batchFrames++;
    packetPool.release(frame);
    if (!this.#flushScheduled) {
      // setImmediate: the check phase right after this poll phase, before the loop waits again, so
      // a lone frame (request/response) waits only for the callbacks already due in this phase.
      // A microtask would flush after every callback, and a node's bridge forwards each received
      // vxlan datagram from its own dgram callback (libuv reads up to 32 per poll): measured on
      // the pod pair, the receiver's writes then stayed one per frame (writeBuffer 20% of its
      // profile, 1.4% with setImmediate; 24.4 vs 21.9 ms CPU per MB; request/response the same
      // within noise).
      this.#flushScheduled = true;
      setImmediate(this.#flushCallback);
    }
  }

  /** Writes the batch as one write(), as a qdisc dequeues a burst to the driver (one doorbell). */
  #flush(): void {
    const batch = this.#batch;
    const length = this.#batchLength;
    if (batch === undefined || length === 0) return;
    const frames = this.#batchFrames;
    this.#batchLength = 0;
    this.#batchFrames = 0;
    const conn = this.#conn;
    if (conn === undefined || conn.destroyed) {
      for (let i = 0; i < frames; i++) this.counters.drop('not-connected');
      return;
    }
    batch.writes++;
    conn.write(length === batch.buf.length ? batch.buf : batch.buf.subarray(0, length), () => {
      // The socket is done with this write: once no write holds the buffer and it is not the one
      // being filled, it is a spare again (a fresh 128 KiB buffer per partial write was garbage).
      batch.writes--;
      if (batch.writes === 0 && batch !== this.#batch && this.#spareBatches.length < SPARE_BATCHES) this.#spareBatches.push(batch);
    });
    // Nothing left in the socket means the kernel already copied the bytes (libuv writes at
    // once when it can): the batch buffer is free to fill again. Otherwise the socket still holds
    // a view of it, so the next batch takes a spare (or a new) one.
    if (conn.writableLength !== 0) this.#batch = undefined;
  }

  override async close(): Promise<void> {
    await super.close();
    // Frames transmitted before close still go out, as they did when each was written at once.
    this.#flush();
    this.#conn?.destroy();
    this.#conn = undefined;
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The length and virtio-net header of `frame` at buf[at]: a super-frame's segment size and where its TCP checksum lies. */
function writeFramePrefix(buf: Buffer, at: number, frame: Buffer): void {
  buf.writeUInt16BE(frame.length, at);
  const gsoSize = gsoSizeOf(frame);
  const v = at + VNET_AT;
  if (gsoSize === 0) {
    buf.fill(0, v, v + 10);
    return;
  }
  const l4 = 14 + ((frame[14] ?? 0) & 0x0f) * 4;
  buf[v] = VNET_F_DATA_VALID;
  buf[v + 1] = VNET_GSO_TCPV4;
  buf.writeUInt16LE(l4 + ((frame[l4 + 12] ?? 0) >>> 4) * 4, v + 2); // hdr_len: Ethernet + IPv4 + TCP headers
  buf.writeUInt16LE(gsoSize, v + 4);
  buf.writeUInt16LE(l4, v + 6); // csum_start
  buf.writeUInt16LE(16, v + 8); // csum_offset: the TCP checksum field
}
