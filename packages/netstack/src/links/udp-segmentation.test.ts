// UDP GSO and GRO through the addon on real loopback sockets: what the kernel puts on the wire
// for one segmented send, what a UDP_GRO socket is handed, and the errors it reports.
import type dgram from 'node:dgram';
import { constants } from 'node:os';
import { afterEach, expect, it, vi } from 'vitest';
import { describeInterop } from '../../../../test/support/interop.ts';
import { forEachCoalescedDatagram } from './coalesced-datagrams.js';
import { UDP_MAX_SEGMENTS, UdpSegmentSocket } from './udp-segmentation.js';
import { bindUdp } from './udp-wire.js';

/** `count` VXLAN-shaped datagrams of `ipBytes`-byte IPv4 packets (the last `lastIpBytes`), each filled with its index. */
function vxlanRun(count: number, ipBytes: number, lastIpBytes = ipBytes): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const ip = i === count - 1 ? lastIpBytes : ipBytes;
    const d = Buffer.alloc(8 + 14 + ip, i & 0xff);
    Buffer.from([0x08, 0, 0, 0, 0, 0, 1, 0]).copy(d, 0);
    d.writeUIntBE(0x0a580af40202, 8, 6);
    d.writeUIntBE(0x0a580af40102, 14, 6);
    d.writeUInt16BE(0x0800, 20);
    d[22] = 0x45;
    d.writeUInt16BE(ip, 24);
    return d;
  });
}

function messages(socket: dgram.Socket, until: (got: Buffer[]) => boolean): Promise<Buffer[]> {
  const got: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length} messages arrived`)), 5000);
    socket.on('message', (m) => {
      got.push(Buffer.from(m));
      if (until(got)) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

const sockets: dgram.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

async function pair(): Promise<{ sender: UdpSegmentSocket; receiver: dgram.Socket; port: number }> {
  const tx = await bindUdp('test tx', '127.0.0.1', 0);
  const rx = await bindUdp('test rx', '127.0.0.1', 0);
  sockets.push(tx, rx);
  const sender = UdpSegmentSocket.attach(tx);
  if (!(sender instanceof UdpSegmentSocket)) throw new Error(sender.reason);
  return { sender, receiver: rx, port: rx.address().port };
}

describeInterop('UDP segmentation offload on real sockets', { udpSegmentation: true }, () => {
  it('one send of a run arrives as the same datagrams, one by one, at an ordinary socket', async () => {
    const { sender, receiver, port } = await pair();
    const run = vxlanRun(5, 1450, 333);
    const arriving = messages(receiver, (got) => got.length === run.length);
    const all = Buffer.concat(run);
    expect(sender.send(all, all.length, run[0]?.length ?? 0, '127.0.0.1', port)).toBe(all.length);
    expect(await arriving).toEqual(run);
  });

  it('a socket with UDP_GRO is handed the run as one message, which forEachCoalescedDatagram cuts back exactly', async () => {
    const { sender, receiver, port } = await pair();
    const rx = UdpSegmentSocket.attach(receiver);
    if (!(rx instanceof UdpSegmentSocket)) throw new Error(rx.reason);
    expect(rx.enableReceiveCoalescing()).toBe(true);
    const run = vxlanRun(UDP_MAX_SEGMENTS - 20, 1000, 41);
    const all = Buffer.concat(run);
    const arriving = messages(receiver, (got) => got.reduce((n, m) => n + m.length, 0) === all.length);
    expect(sender.send(all, all.length, run[0]?.length ?? 0, '127.0.0.1', port)).toBe(all.length);
    const got = await arriving;
    expect(got).toHaveLength(1);
    const cut: Buffer[] = [];
    forEachCoalescedDatagram(got[0] as Buffer, 8, (d) => cut.push(Buffer.from(d)));
    expect(cut).toEqual(run);
  });

  it('reports what the kernel refuses as a negative errno: more segments than any kernel cuts, a length past the buffer', async () => {
    const { sender, port } = await pair();
    const tooMany = Buffer.alloc(129 * 100);
    expect(sender.send(tooMany, tooMany.length, 100, '127.0.0.1', port)).toBe(-constants.errno.EINVAL);
    expect(sender.send(tooMany, tooMany.length + 1, 0, '127.0.0.1', port)).toBe(-constants.errno.EINVAL);
  });
});

it('PODNET_UDP_GSO=off turns the offload off for the process and says so; a value that is neither is named', async () => {
  vi.resetModules();
  vi.stubEnv('PODNET_UDP_GSO', 'off');
  try {
    const fresh = await import('./udp-segmentation.js');
    expect(fresh.udpSegmentationState()).toEqual({ available: false, reason: 'turned off by PODNET_UDP_GSO=off' });
    const socket = await bindUdp('test', '127.0.0.1', 0);
    sockets.push(socket);
    expect(fresh.UdpSegmentSocket.attach(socket)).toEqual({ reason: 'turned off by PODNET_UDP_GSO=off' });
    // A typo is named, not taken for either.
    vi.resetModules();
    vi.stubEnv('PODNET_UDP_GSO', 'of');
    const typo = await import('./udp-segmentation.js');
    expect(typo.udpSegmentationState()).toEqual({
      available: false,
      reason: 'PODNET_UDP_GSO="of" is neither on nor off (use on or off); the offload stays off',
    });
  } finally {
    vi.unstubAllEnvs();
    vi.resetModules();
  }
});
