// The unix-socket veth's wire: batched writes (one write() per event-loop iteration's frames), the
// bound on queued bytes, the 16-bit frame limit, and a reader that reassembles frames split
// across reads. Real unix stream sockets in a temporary directory.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packetPool } from '@podnet/wire';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { gsoSizeOf, setGsoSize } from '../offload/index.js';
import { waitFor } from '../testing/wait.js';
import { BATCH_BYTES, MAX_FRAME_BYTES, MAX_QUEUED_BYTES, UNIX_FRAME_PREFIX, UnixSocketVeth } from './unix-socket.js';

const dir = mkdtempSync(join(tmpdir(), `podnet-unix-veth-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let sockets = 0;
const nextPath = () => join(dir, `v${sockets++}.sock`);

const LISTENER_MAC = 0x0e0000000001;
const CONNECTOR_MAC = 0x0e0000000002;

/** An Ethernet frame to the listener whose bytes after the header all say `seq` (mod 256), with `seq` at 14. */
function frame(seq: number, length: number): Buffer {
  const f = Buffer.alloc(length, seq & 0xff);
  f.writeUIntBE(LISTENER_MAC, 0, 6);
  f.writeUIntBE(CONNECTOR_MAC, 6, 6);
  f.writeUInt16BE(0x0800, 12);
  f.writeUInt32BE(seq, 14);
  return f;
}

const open: Array<UnixSocketVeth | net.Socket> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const o of open.splice(0)) {
    if (o instanceof net.Socket) o.destroy();
    else await o.close();
  }
});

async function vethPair(mtu = 1500): Promise<{ listener: UnixSocketVeth; connector: UnixSocketVeth }> {
  const path = nextPath();
  const listener = await UnixSocketVeth.listen({ name: 'veth0', mac: LISTENER_MAC, path, mtu });
  open.push(listener);
  const connector = await UnixSocketVeth.connect({ name: 'eth0', mac: CONNECTOR_MAC, path, mtu });
  open.push(connector);
  await listener.whenConnected();
  return { listener, connector };
}

function collect(link: UnixSocketVeth): Buffer[] {
  const got: Buffer[] = [];
  link.setReceiver((f) => got.push(Buffer.from(f)));
  return got;
}

describe('UnixSocketVeth batching', () => {
  it('sends the frames of one iteration in as few writes as the batch allows, intact and in order', async () => {
    const { listener, connector } = await vethPair();
    const got = collect(listener);
    const write = vi.spyOn(net.Socket.prototype, 'write');
    const count = 300;
    const length = 1000;
    for (let i = 0; i < count; i++) connector.transmit(frame(i, length));
    await waitFor(`${count} frames`, () => got.length === count);
    // 300 framed 1002-byte frames are 300,600 bytes: three 128 KiB batches, not 300 writes.
    const perBatch = Math.floor(BATCH_BYTES / (UNIX_FRAME_PREFIX + length));
    expect(write).toHaveBeenCalledTimes(Math.ceil(count / perBatch));
    for (let i = 0; i < count; i++) {
      const f = got[i] as Buffer;
      expect(f.length).toBe(length);
      expect(f.readUInt32BE(14)).toBe(i);
      expect(f[length - 1]).toBe(i & 0xff);
    }
    expect(connector.counters.txPackets).toBe(count);
    expect(listener.counters.rxPackets).toBe(count);
    expect(connector.counters.dropped()).toBe(0);
  });

  it('writes a lone frame in the same event-loop iteration (no timer) and gives its pool slot back at once', async () => {
    const { listener, connector } = await vethPair();
    const got = collect(listener);
    const write = vi.spyOn(net.Socket.prototype, 'write');
    const free = packetPool.available;
    const pooled = packetPool.alloc(64);
    frame(7, 64).copy(pooled);
    connector.transmit(pooled);
    expect(packetPool.available).toBe(free);
    expect(write).not.toHaveBeenCalled();
    await new Promise((resolve) => setImmediate(resolve));
    expect(write).toHaveBeenCalledTimes(1);
    await waitFor('the frame', () => got.length === 1);
    expect(got[0]?.readUInt32BE(14)).toBe(7);
  });

  it('keeps what it holds within MAX_QUEUED_BYTES when the peer stops reading, dropping the rest as tx-queue-full', async () => {
    const path = nextPath();
    const connectorPeer = new Promise<net.Socket>((resolve) => {
      const server = net.createServer((conn) => {
        conn.pause();
        resolve(conn);
        server.close();
      });
      server.listen(path);
    });
    const veth = await UnixSocketVeth.connect({ name: 'eth0', mac: CONNECTOR_MAC, path });
    open.push(veth);
    const peer = await connectorPeer;
    open.push(peer);
    const length = 1500;
    const sent = Math.ceil((MAX_QUEUED_BYTES * 1.5) / length);
    let maxQueued = 0;
    // Turns of 100 frames, as a busy sender makes them; bounded by `sent`.
    for (let i = 0; i < sent; i += 100) {
      for (let j = i; j < Math.min(sent, i + 100); j++) {
        veth.transmit(frame(j, length));
        maxQueued = Math.max(maxQueued, veth.queuedBytes);
      }
      await new Promise((resolve) => setImmediate(resolve));
      maxQueued = Math.max(maxQueued, veth.queuedBytes);
    }
    expect(maxQueued).toBeLessThanOrEqual(MAX_QUEUED_BYTES);
    const dropped = veth.counters.dropped('tx-queue-full');
    expect(dropped).toBeGreaterThan(0);
    // What was not dropped still arrives, whole and in order, once the peer reads again.
    const seqs: number[] = [];
    let stream = Buffer.alloc(0);
    peer.on('data', (chunk: Buffer) => {
      stream = Buffer.concat([stream, chunk]);
      while (stream.length >= UNIX_FRAME_PREFIX && stream.length >= UNIX_FRAME_PREFIX + stream.readUInt16BE(0)) {
        const f = stream.subarray(UNIX_FRAME_PREFIX, UNIX_FRAME_PREFIX + stream.readUInt16BE(0));
        expect(f.length).toBe(length);
        seqs.push(f.readUInt32BE(14));
        stream = stream.subarray(UNIX_FRAME_PREFIX + f.length);
      }
    });
    peer.resume();
    await waitFor('the queued frames', () => seqs.length === sent - dropped, 30_000);
    expect(seqs.every((s, k) => k === 0 || s > (seqs[k - 1] as number))).toBe(true);
    expect(veth.queuedBytes).toBe(0);
  });

  it('batches frames sent from separate callbacks of the same iteration (as a bridge forwards datagram by datagram)', async () => {
    const { listener, connector } = await vethPair();
    const got = collect(listener);
    const write = vi.spyOn(net.Socket.prototype, 'write');
    // Five macrotask callbacks in one phase, microtasks drained after each (as after each dgram
    // 'message'): a flush per microtask would make five writes.
    for (let i = 0; i < 5; i++) setImmediate(() => connector.transmit(frame(i, 200)));
    await waitFor('5 frames', () => got.length === 5);
    expect(write).toHaveBeenCalledTimes(1);
    expect(got.map((f) => f.readUInt32BE(14))).toEqual([0, 1, 2, 3, 4]);
  });

  it('refuses a frame too long for the 16-bit length prefix as oversized, and the largest that fits goes through', async () => {
    const { listener, connector } = await vethPair(65535);
    const got = collect(listener);
    connector.transmit(frame(1, MAX_FRAME_BYTES + 1));
    connector.transmit(frame(2, MAX_FRAME_BYTES));
    connector.transmit(frame(3, 60));
    await waitFor('the frames that fit', () => got.length === 2);
    expect(connector.counters.dropped('oversized')).toBe(1);
    expect(got.map((f) => [f.length, f.readUInt32BE(14)])).toEqual([
      [MAX_FRAME_BYTES, 2],
      [60, 3],
    ]);
  });

  it('drops and counts frames while no peer is connected, as before batching', async () => {
    const listener = await UnixSocketVeth.listen({ name: 'veth0', mac: LISTENER_MAC, path: nextPath() });
    open.push(listener);
    listener.transmit(frame(1, 60));
    listener.transmit(frame(2, 60));
    expect(listener.counters.dropped('not-connected')).toBe(2);
    listener.up = false;
    listener.transmit(frame(3, 60));
    expect(listener.counters.dropped('link-down')).toBe(1);
  });

  it('close() still writes the frames transmitted just before it', async () => {
    const { listener, connector } = await vethPair();
    const got = collect(listener);
    connector.transmit(frame(1, 60));
    connector.transmit(frame(2, 60));
    await connector.close();
    await waitFor('both frames', () => got.length === 2);
    expect(got.map((f) => f.readUInt32BE(14))).toEqual([1, 2]);
    expect(connector.counters.dropped()).toBe(0);
  });
});

describe('UnixSocketVeth reader', () => {
  it('reassembles frames split anywhere across reads, prefixes included, without reusing their memory', async () => {
    const path = nextPath();
    const listener = await UnixSocketVeth.listen({ name: 'veth0', mac: LISTENER_MAC, path });
    open.push(listener);
    const kept: Buffer[] = [];
    // The receiver keeps the frames it is handed without copying: later reads must not change them.
    listener.setReceiver((f) => kept.push(f));
    const peer = net.createConnection(path);
    open.push(peer);
    await new Promise<void>((resolve) => peer.once('connect', () => resolve()));
    await listener.whenConnected();
    const lengths = [60, 1514, 61, 300, 1514, 64, 999, 1514, 1514, 60];
    const stream = Buffer.concat(
      lengths.map((n, i) => {
        const prefix = Buffer.alloc(UNIX_FRAME_PREFIX);
        prefix.writeUInt16BE(n, 0);
        return Buffer.concat([prefix, frame(i, n)]);
      }),
    );
    // Cut points that land inside a prefix (1 byte of it), right after one, and mid-frame.
    const cuts = [1, 2, 3, 63, 64, 70, 1580, 1581, 1583, 2000, 2700, 4000, 6000, stream.length];
    let from = 0;
    for (const cut of cuts) {
      await new Promise<void>((resolve) => peer.write(stream.subarray(from, cut), () => resolve()));
      from = cut;
      // Give the reader a turn so the pieces arrive as separate reads (bounded: one per cut).
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitFor('all frames', () => kept.length === lengths.length);
    expect(kept.map((f) => f.length)).toEqual(lengths);
    kept.forEach((f, i) => {
      expect(f.readUInt32BE(14)).toBe(i);
      expect(f[f.length - 1]).toBe(i & 0xff);
    });
    expect(listener.counters.dropped()).toBe(0);
  });

  it('skips a refused frame (too short) and stays in step with the stream', async () => {
    const { listener, got, peer } = await listenerWithRawPeer();
    const short = Buffer.concat([prefixFor(3), Buffer.from([1, 2, 3])]);
    const good = Buffer.concat([prefixFor(60), frame(9, 60)]);
    peer.write(Buffer.concat([short, good]));
    await waitFor('the good frame', () => got.length === 1);
    expect(got[0]?.readUInt32BE(14)).toBe(9);
    expect(listener.counters.dropped('truncated')).toBe(1);
  });

  it('refuses a virtio-net header it cannot honour (UDP, TCPv6, a zero gso_size) and stays in step', async () => {
    const { listener, got, peer } = await listenerWithRawPeer();
    const bad = [3, 4, 1].map((gsoType, i) => {
      const prefix = prefixFor(100);
      prefix[3] = gsoType; // virtio_net_hdr.gso_type: 3 UDP, 4 TCPv6, 1 TCPv4 (with gso_size 0)
      prefix.writeUInt16LE(gsoType === 1 ? 0 : 1400, 6);
      return Buffer.concat([prefix, frame(i, 100)]);
    });
    peer.write(Buffer.concat([...bad, prefixFor(60), frame(7, 60)]));
    await waitFor('the good frame', () => got.length === 1);
    expect(got[0]?.readUInt32BE(14)).toBe(7);
    expect(listener.counters.dropped('bad-vnet-header')).toBe(3);
  });
});

/** A listening veth whose peer is a plain unix socket the test writes raw bytes to. */
async function listenerWithRawPeer(): Promise<{ listener: UnixSocketVeth; got: Buffer[]; peer: net.Socket }> {
  const path = nextPath();
  const listener = await UnixSocketVeth.listen({ name: 'veth0', mac: LISTENER_MAC, path });
  open.push(listener);
  const got = collect(listener);
  const peer = net.createConnection(path);
  open.push(peer);
  await listener.whenConnected();
  return { listener, got, peer };
}

/** A frame's prefix on the stream: its 16-bit length and an all-zero virtio-net header (no GSO). */
function prefixFor(length: number): Buffer {
  const prefix = Buffer.alloc(UNIX_FRAME_PREFIX);
  prefix.writeUInt16BE(length, 0);
  return prefix;
}

describe('UnixSocketVeth and TCP super-frames (TSO/GSO)', () => {
  /** An Ethernet + IPv4 + TCP super-frame: `payload` bytes after a 20-byte TCP header. */
  function superFrame(payload: number): Buffer {
    const f = frame(1, 14 + 20 + 20 + payload);
    f[14] = 0x45;
    f.writeUInt16BE(20 + 20 + payload, 16);
    f[23] = 6;
    f[14 + 20 + 12] = 0x50; // data offset 5 words
    return f;
  }

  it('carries a super-frame whole with its segment size in the virtio-net header (VIRTIO_NET_HDR_GSO_TCPV4)', async () => {
    const { listener, connector } = await vethPair(1500);
    const got: Array<{ length: number; gso: number }> = [];
    listener.setReceiver((f) => got.push({ length: f.length, gso: gsoSizeOf(f) }));
    // A spy that keeps the real write: the bytes of the first write are the wire format.
    const spy = vi.spyOn(net.Socket.prototype, 'write');
    expect(connector.carriesGso).toBe(true);
    const big = superFrame(20 * 1400);
    setGsoSize(big, 1400);
    connector.transmit(big);
    const plain = frame(2, 60);
    connector.transmit(plain);
    await waitFor('both frames', () => got.length === 2);
    expect(got).toEqual([
      { length: 14 + 40 + 28_000, gso: 1400 },
      { length: 60, gso: 0 },
    ]);
    const bytes = Buffer.from(spy.mock.calls[0]?.[0] as Buffer);
    // length, then virtio_net_hdr: flags DATA_VALID, gso_type TCPV4, hdr_len 54, gso_size 1400, csum_start 34, csum_offset 16 (little-endian)
    expect(bytes.readUInt16BE(0)).toBe(14 + 40 + 28_000);
    expect([...bytes.subarray(2, 12)]).toEqual([2, 1, 54, 0, 0x78, 0x05, 34, 0, 16, 0]);
    const second = 12 + 14 + 40 + 28_000;
    expect([...bytes.subarray(second + 2, second + 12)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(listener.counters.dropped()).toBe(0);
  });

  it('a super-frame longer than the MTU is not "oversized"; an unmarked one is', async () => {
    const { listener, connector } = await vethPair(1500);
    const got: number[] = [];
    listener.setReceiver((f) => got.push(f.length));
    const marked = superFrame(4000);
    setGsoSize(marked, 1400);
    connector.transmit(marked);
    connector.transmit(superFrame(4000));
    connector.transmit(frame(3, 60));
    await waitFor('two frames', () => got.length === 2);
    expect(got).toEqual([14 + 40 + 4000, 60]);
    expect(listener.counters.dropped('oversized')).toBe(1);
  });
});
