import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packetPool, parseIpv4, SLOT_BYTES, vxlan } from '@podnet/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { allocFrameWithHeadroom, ENCAP_HEADROOM, expandIntoHeadroom, headroomOf } from './headroom.js';
import { UnixSocketVeth } from './unix-socket.js';
import { VxlanLink } from './vxlan.js';

describe('encapsulation headroom', () => {
  it('reserves ENCAP_HEADROOM bytes in front of a zero-filled pool frame, and the slot comes back on release', () => {
    const free = packetPool.available;
    const frame = allocFrameWithHeadroom(1464);
    expect(frame.length).toBe(1464);
    expect(frame.every((b) => b === 0)).toBe(true);
    expect(packetPool.owns(frame)).toBe(true);
    expect(headroomOf(frame)).toBe(ENCAP_HEADROOM);
    expect(packetPool.available).toBe(free - 1);
    packetPool.release(frame);
    expect(packetPool.available).toBe(free);
  });

  it('says 0 for frames it did not make: plain pool frames, ordinary memory, and frames too big for room', () => {
    const plain = packetPool.alloc(100);
    expect(headroomOf(plain)).toBe(0);
    expect(expandIntoHeadroom(plain, vxlan.HEADER_LENGTH)).toBeUndefined();
    packetPool.release(plain);
    // A view 8 bytes into ordinary memory has bytes in front, but they are not the frame's.
    expect(headroomOf(Buffer.alloc(100).subarray(8))).toBe(0);
    const big = allocFrameWithHeadroom(SLOT_BYTES - ENCAP_HEADROOM + 1);
    expect(headroomOf(big)).toBe(0);
    packetPool.release(big);
  });

  it('expands into the headroom in place: the header lands right in front of the frame bytes', () => {
    const frame = allocFrameWithHeadroom(60);
    frame.fill(0xa5);
    const datagram = expandIntoHeadroom(frame, vxlan.HEADER_LENGTH);
    expect(datagram?.length).toBe(68);
    datagram?.fill(0x11, 0, 8);
    expect(datagram?.buffer).toBe(frame.buffer);
    expect(datagram?.subarray(8).equals(frame)).toBe(true);
    expect(frame.every((b) => b === 0xa5)).toBe(true);
    packetPool.release(frame);
  });
});

describe('flannel.1 sends a frame with headroom as one datagram', () => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  it('puts the same bytes on the wire with or without headroom (RFC 7348 §5 header, then the frame)', async () => {
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => sink.close(() => resolve())));
    const got: Buffer[] = [];
    const arrived = new Promise<void>((resolve) =>
      sink.on('message', (m) => {
        got.push(Buffer.from(m));
        if (got.length === 2) resolve();
      }),
    );
    const link = new VxlanLink({ mac: 0x02000000000a, nodeIp: parseIpv4('172.18.0.2'), localAddress: '127.0.0.1', port: 0, vni: 7 });
    await link.open();
    closers.push(() => link.close());
    const remoteMac = 0x02000000000b;
    const remoteNode = parseIpv4('172.18.0.3');
    link.addFdb(remoteMac, remoteNode);
    link.setPeer(remoteNode, { address: '127.0.0.1', port: sink.address().port });
    const free = packetPool.available;
    const build = (frame: Buffer) => {
      frame.writeUIntBE(remoteMac, 0, 6);
      frame.writeUIntBE(link.mac, 6, 6);
      frame.writeUInt16BE(0x0800, 12);
      for (let i = 14; i < frame.length; i++) frame[i] = i & 0xff;
      return frame;
    };
    link.transmit(build(allocFrameWithHeadroom(200)));
    link.transmit(build(packetPool.alloc(200)));
    await arrived;
    const expected = Buffer.concat([
      vxlan.encode({ flags: vxlan.FLAG_I, reserved1: 0, vni: 7, reserved2: 0, payload: Buffer.alloc(0) }),
      build(Buffer.alloc(200)),
    ]);
    expect(got[0]?.equals(expected)).toBe(true);
    expect(got[1]?.equals(expected)).toBe(true);
    // Both frames went back to the pool once the kernel had them.
    await new Promise((resolve) => setImmediate(resolve));
    expect(packetPool.available).toBe(free);
  });
});

describe('a unix-socket veth writes a frame with headroom as one length-prefixed write', () => {
  it('the peer receives the same frames, in order, whichever way they were written', async () => {
    const dir = mkdtempSync(join(tmpdir(), `pn-headroom-${process.pid}-`));
    const path = join(dir, 'v.sock');
    const listener = await UnixSocketVeth.listen({ name: 'veth0', mac: 0x0e0000000001, path });
    const connector = await UnixSocketVeth.connect({ name: 'eth0', mac: 0x0e0000000002, path });
    try {
      const got: Buffer[] = [];
      const all = new Promise<void>((resolve) =>
        listener.setReceiver((frame) => {
          got.push(Buffer.from(frame));
          if (got.length === 4) resolve();
        }),
      );
      const frame = (fill: number, make: (n: number) => Buffer) => {
        const f = make(100);
        f.writeUIntBE(0x0e0000000001, 0, 6);
        f.writeUIntBE(0x0e0000000002, 6, 6);
        f.writeUInt16BE(0x0800, 12);
        f.fill(fill, 14);
        return f;
      };
      const free = packetPool.available;
      connector.transmit(frame(1, allocFrameWithHeadroom));
      connector.transmit(frame(2, (n) => packetPool.alloc(n)));
      connector.transmit(frame(3, allocFrameWithHeadroom));
      connector.transmit(frame(4, (n) => Buffer.alloc(n)));
      await all;
      expect(got.map((f) => [f.length, f[14], f[99]])).toEqual([
        [100, 1, 1],
        [100, 2, 2],
        [100, 3, 3],
        [100, 4, 4],
      ]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(packetPool.available).toBe(free);
    } finally {
      await connector.close();
      await listener.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
