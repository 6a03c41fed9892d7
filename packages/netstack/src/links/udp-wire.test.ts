import type dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { packetPool } from '@podnet/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { bindUdp, UDP_WIRE_BUFFER_BYTES, UnsentFrames } from './udp-wire.js';

const sysctl = (name: string) => Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8').trim());

describe('bindUdp', () => {
  const sockets: Awaited<ReturnType<typeof bindUdp>>[] = [];
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  });

  it('asks the kernel for deep socket buffers (Linux doubles the request, capped by rmem_max/wmem_max)', async () => {
    const socket = await bindUdp('test', '127.0.0.1', 0);
    sockets.push(socket);
    expect(socket.getRecvBufferSize()).toBe(2 * Math.min(UDP_WIRE_BUFFER_BYTES, sysctl('rmem_max')));
    expect(socket.getSendBufferSize()).toBe(2 * Math.min(UDP_WIRE_BUFFER_BYTES, sysctl('wmem_max')));
  });

  it('sends to IPv4 literals, and still resolves a host name when binding', async () => {
    const receiver = await bindUdp('test', '127.0.0.1', 0);
    const sender = await bindUdp('test', 'localhost', 0);
    sockets.push(receiver, sender);
    expect(sender.address().address).toBe('127.0.0.1');
    const got = new Promise<Buffer>((resolve) => receiver.once('message', (m) => resolve(m)));
    const sent = new Promise<Error | null>((resolve) =>
      sender.send([Buffer.from('he'), Buffer.from('llo')], receiver.address().port, '127.0.0.1', resolve),
    );
    expect(await sent).toBeNull();
    expect((await got).toString()).toBe('hello');
  });

  it('rejects a bind it cannot do with PODNET_ERR_LINK_IO naming the address', async () => {
    const first = await bindUdp('test', '127.0.0.1', 0);
    sockets.push(first);
    await expect(bindUdp('vxlan flannel.1', '127.0.0.1', first.address().port)).rejects.toMatchObject({
      code: 'PODNET_ERR_LINK_IO',
      message: expect.stringContaining(`vxlan flannel.1: cannot bind UDP 127.0.0.1:${first.address().port}`),
    });
  });
});

describe('UnsentFrames (sends without a completion callback)', () => {
  // Only the socket's send-queue count is read: a stand-in that says how many sends wait.
  const socketWith = (queued: { n: number }) => ({ getSendQueueCount: () => queued.n }) as unknown as dgram.Socket;

  it('frees a frame the kernel took at once, and holds one whose datagram waits until the queue is empty', () => {
    const queued = { n: 0 };
    const socket = socketWith(queued);
    const unsent = new UnsentFrames();
    const free = packetPool.available;
    unsent.sent(socket, packetPool.alloc(100));
    expect(packetPool.available).toBe(free);
    queued.n = 1;
    unsent.sent(socket, packetPool.alloc(100));
    unsent.sent(socket, packetPool.alloc(100));
    // Both datagrams wait: their pool slots stay taken.
    expect(packetPool.available).toBe(free - 2);
    queued.n = 0;
    unsent.sent(socket, packetPool.alloc(100));
    // The queue drained: this frame and the two held are free again.
    expect(packetPool.available).toBe(free);
  });

  it('releaseAll frees what is held (the socket closed)', () => {
    const unsent = new UnsentFrames();
    const free = packetPool.available;
    unsent.sent(socketWith({ n: 3 }), packetPool.alloc(64));
    expect(packetPool.available).toBe(free - 1);
    unsent.releaseAll();
    expect(packetPool.available).toBe(free);
  });
});
