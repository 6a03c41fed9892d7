import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { bindUdp, UDP_WIRE_BUFFER_BYTES } from './udp-wire.js';

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
