// Acceptance 5: bad input on every link kind — random, truncated, oversized and corrupted frames
// into a veth (and through it the bridge and the host stack), the loopback, a unix-socket veth
// (including its length prefix), a VXLAN device's and an uplink's real UDP sockets. Every one is
// counted and dropped (or handled), nothing throws out of a receive path (no 'rx-error'), and
// afterwards the two-pods acceptance still passes on the same topology.
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { macFromIpv4, parseIpv4, type Rng, SeededRng } from '@podnet/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingHooks } from '../testing/recording-hooks.js';
import { twoPodsOnBridge } from '../testing/topology.js';
import { settle, waitFor } from '../testing/wait.js';
import type { RemoteInfo } from '../udp.js';
import { UNIX_FRAME_PREFIX, UnixSocketVeth } from './unix-socket.js';
import { UplinkLink } from './uplink.js';
import { VxlanLink } from './vxlan.js';

const FRAMES = 1500;

/** A valid Ethernet/IPv4/ICMP echo request from pod A to pod B, to truncate and corrupt. */
function validFrame(dstMac: number, srcMac: number): Buffer {
  const f = Buffer.alloc(14 + 20 + 8 + 32);
  f.writeUIntBE(dstMac, 0, 6);
  f.writeUIntBE(srcMac, 6, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(60, 16);
  f[22] = 64;
  f[23] = 1;
  f.writeUInt32BE(parseIpv4('10.244.1.2'), 26);
  f.writeUInt32BE(parseIpv4('10.244.1.3'), 30);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += f.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  f.writeUInt16BE(~sum & 0xffff, 24);
  f[34] = 8;
  return f;
}

function badFrame(rng: Rng, template: Buffer): Buffer {
  const kind = rng.nextUint32() % 5;
  const rand = (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = rng.nextUint32() & 0xff;
    return b;
  };
  switch (kind) {
    case 0:
      return rand(rng.nextUint32() % 80);
    case 1:
      return Buffer.from(template.subarray(0, rng.nextUint32() % template.length));
    case 2:
      return Buffer.concat([template, rand(1600 + (rng.nextUint32() % 8000))]);
    case 3: {
      const c = Buffer.from(template);
      for (let i = 0; i < 1 + (rng.nextUint32() % 4); i++) c[rng.nextUint32() % c.length] = rng.nextUint32() & 0xff;
      return c;
    }
    default: {
      // A plausible header with nonsense lengths and options.
      const c = Buffer.from(template);
      c[14] = 0x40 | (rng.nextUint32() % 16);
      c.writeUInt16BE(rng.nextUint32() & 0xffff, 16);
      c.writeUInt16BE(rng.nextUint32() & 0xffff, 20);
      return c;
    }
  }
}

describe('bad input on every link kind', () => {
  // With hooks installed, so bridged frames take the br_netfilter path too.
  const hooks = new RecordingHooks();
  const topo = twoPodsOnBridge({ hooks });
  let dir: string;
  let vx: VxlanLink;
  let up: UplinkLink;
  let unix: UnixSocketVeth;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `pn-fuzz-${process.pid}-`));
    vx = topo.host.addLink(new VxlanLink({ mac: 0x0a5800000001, nodeIp: parseIpv4('172.18.0.2'), localAddress: '127.0.1.1', port: 0 }));
    await vx.open();
    topo.host.addAddress('flannel.1', '10.244.1.0/32');
    up = topo.host.addLink(new UplinkLink({ mac: 0x0a5800000002, nodeIp: parseIpv4('172.18.0.2'), localAddress: '127.0.1.1', port: 0 }));
    await up.open();
    topo.host.addAddress('eth0', '172.18.0.2/16');
    unix = topo.host.addLink(await UnixSocketVeth.listen({ name: 'vethu', mac: 0x0e0000000099, path: join(dir, 'u.sock') }));
  });

  afterAll(async () => {
    await topo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const template = () => validFrame(macFromIpv4(parseIpv4(topo.b.ip)), macFromIpv4(parseIpv4(topo.a.ip)));

  it('veth (into the bridge and the host stack) and loopback', async () => {
    const rng = new SeededRng(11);
    for (let i = 0; i < FRAMES; i++) {
      topo.a.eth0.transmit(badFrame(rng, template()));
      topo.host.loopback.transmit(badFrame(rng, template()));
      if (i % 100 === 0) await settle(2);
    }
    await settle();
    const dropped =
      topo.b.eth0.counters.dropped() + topo.bridge.counters.dropped() + topo.host.ipCounters.dropped() + topo.b.ns.ipCounters.dropped();
    expect(dropped).toBeGreaterThan(FRAMES / 2);
    expect(topo.host.loopback.counters.dropped()).toBeGreaterThan(0);
  });

  it('VXLAN and uplink UDP sockets', async () => {
    const rng = new SeededRng(12);
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.1.9', resolve));
    const sendAll = async (port: number, make: () => Buffer) => {
      for (let i = 0; i < FRAMES; i++) {
        await new Promise<void>((resolve) => s.send(make(), port, '127.0.1.1', () => resolve()));
        // Let the receiving socket drain, or the kernel drops what overflows its buffer.
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 1));
      }
    };
    const withVxlanHeader = () => {
      const inner = badFrame(rng, template());
      const h = Buffer.from([rng.next() < 0.8 ? 0x08 : 0, 0, 0, 0, 0, 0, rng.next() < 0.8 ? 1 : 2, 0]);
      return rng.next() < 0.1 ? badFrame(rng, template()).subarray(0, 7) : Buffer.concat([h, inner]);
    };
    await sendAll(vx.localPort, withVxlanHeader);
    await sendAll(up.localPort, () => badFrame(rng, template()));
    await waitFor(
      'every datagram to arrive',
      () => vx.counters.rxPackets >= FRAMES * 0.95 && up.counters.rxPackets >= FRAMES * 0.95,
      5_000,
    ).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify([vx.counters.snapshot(), up.counters.snapshot()])}`);
    });
    s.close();
    expect(vx.counters.dropped()).toBeGreaterThan(FRAMES / 4);
    expect(
      vx.counters.dropped('vxlan-wrong-vni') + vx.counters.dropped('vxlan-no-i-flag') + vx.counters.dropped('vxlan-truncated'),
    ).toBeGreaterThan(0);
    expect(up.counters.dropped()).toBeGreaterThan(FRAMES / 4);
  });

  it('a unix-socket veth, garbage length prefixes included', async () => {
    const rng = new SeededRng(13);
    const conn = net.createConnection(unix.path);
    await new Promise<void>((resolve) => conn.once('connect', () => resolve()));
    await unix.whenConnected();
    let written = 0;
    for (let i = 0; i < FRAMES; i++) {
      const f = badFrame(rng, template());
      written += f.length;
      const prefix = Buffer.alloc(UNIX_FRAME_PREFIX);
      // Mostly honest prefixes; now and then a lie, which swallows the frames it claims as one.
      prefix.writeUInt16BE(rng.next() < 0.98 ? f.length : rng.nextUint32() & 0xffff, 0);
      // And now and then a virtio-net header of random bytes (a gso_type or gso_size it must refuse or honour).
      if (rng.next() < 0.03) for (let b = 2; b < UNIX_FRAME_PREFIX; b++) prefix[b] = rng.nextUint32() & 0xff;
      conn.write(Buffer.concat([prefix, f]));
    }
    await new Promise<void>((resolve) => conn.end(resolve));
    await waitFor('the stream to be read', () => unix.counters.rxBytes > written / 2, 20_000).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(unix.counters.snapshot())}`);
    });
    expect(unix.counters.dropped()).toBeGreaterThan(0);
  });

  it('nothing threw out of a receive path', () => {
    expect(hooks.calls.some((c) => c.bridged)).toBe(true);
    const everyone = [topo.host, topo.a.ns, topo.b.ns];
    for (const ns of everyone) {
      for (const [name, c] of Object.entries(ns.counters())) {
        expect(c.drops['rx-error'] ?? 0, `${ns.name} ${name}`).toBe(0);
        expect(c.drops['netfilter-error'] ?? 0, `${ns.name} ${name}`).toBe(0);
      }
    }
  });

  it('then the two-pods acceptance passes on the same topology', async () => {
    expect((await topo.a.ns.ping(topo.b.ip, { timeoutMs: 5000 })).from).toBe(topo.b.ip);
    expect((await topo.b.ns.ping(topo.a.ip, { timeoutMs: 5000 })).from).toBe(topo.a.ip);
    const server = topo.b.ns.udp.createSocket();
    server.on('message', (m: Buffer, r: RemoteInfo) => server.send(m, r.port, r.address));
    server.bind(4000);
    await settle();
    const client = topo.a.ns.udp.createSocket();
    const got: string[] = [];
    client.on('message', (m: Buffer) => got.push(m.toString()));
    client.send('after the storm', 4000, topo.b.ip);
    await waitFor('the echo', () => got.length === 1);
    const refused = topo.a.ns.udp.createSocket();
    const errors: Error[] = [];
    refused.on('error', (e) => errors.push(e));
    refused.connect(4001, topo.b.ip, () => refused.send('x'));
    await waitFor('ECONNREFUSED', () => errors.length === 1);
    expect(errors[0]).toMatchObject({ code: 'ECONNREFUSED' });
  });
});
