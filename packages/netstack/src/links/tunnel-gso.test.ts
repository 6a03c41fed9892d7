// TunnelUdpOffload with a stand-in for the addon: how a super-frame is laid out in runs, and that
// a run the kernel does not take (EAGAIN, EINVAL) still reaches the wire, in order, through dgram.
import type dgram from 'node:dgram';
import { constants } from 'node:os';
import { tcp } from '@podnet/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { gsoSizeOf, segmentTcp, setGsoSize } from '../offload/gso.js';
import { tcpFrame } from '../offload/test-frames.js';
import { TunnelUdpOffload, type UdpRunSender } from './tunnel-gso.js';
import { UDP_MAX_PAYLOAD, UDP_MAX_SEGMENTS } from './udp-segmentation.js';
import { bindUdp, UnsentFrames } from './udp-wire.js';

const HEADER = Buffer.from([0x08, 0, 0, 0, 0, 0, 1, 0]);
const MSS = 1398;

/** A super-frame of `bytes` TCP payload bytes, marked with gso_size MSS. */
function superFrame(bytes: number): Buffer {
  const payload = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) payload[i] = (i * 13 + (i >>> 8)) & 0xff;
  const frame = tcpFrame({ payload, seq: 1000, flags: tcp.TcpFlags.ACK | tcp.TcpFlags.PSH });
  setGsoSize(frame, MSS);
  return frame;
}

/** What software GSO + the tunnel header would have put on the wire, datagram by datagram. */
function expectedDatagrams(frame: Buffer): Buffer[] {
  const copy = Buffer.from(frame);
  const out: Buffer[] = [];
  segmentTcp(copy, MSS, (s) => out.push(Buffer.concat([HEADER, s])));
  return out;
}

/** A stand-in addon: records each run (copied) and answers with `answer(n)` for the n-th call (default: all sent). */
function recorder(answer: (call: number, length: number) => number = (_c, length) => length) {
  const runs: { bytes: Buffer; segment: number }[] = [];
  const sender: UdpRunSender = {
    send(buffer, length, segment) {
      const r = answer(runs.length, length);
      runs.push({ bytes: Buffer.from(buffer.subarray(0, length)), segment });
      return r;
    },
    enableReceiveCoalescing: () => true,
  };
  return { sender, runs };
}

function cutRun(run: { bytes: Buffer; segment: number }): Buffer[] {
  const size = run.segment === 0 ? run.bytes.length : run.segment;
  const out: Buffer[] = [];
  for (let at = 0; at < run.bytes.length; at += size) out.push(run.bytes.subarray(at, at + size));
  return out;
}

const sockets: dgram.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

async function loopbackPair(): Promise<{ tx: dgram.Socket; rx: dgram.Socket; port: number; received: Buffer[] }> {
  const tx = await bindUdp('test tx', '127.0.0.1', 0);
  const rx = await bindUdp('test rx', '127.0.0.1', 0);
  sockets.push(tx, rx);
  const received: Buffer[] = [];
  rx.on('message', (m) => received.push(Buffer.from(m)));
  return { tx, rx, port: rx.address().port, received };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('TunnelUdpOffload', () => {
  it('lays a super-frame out in runs within the GSO limits, byte for byte what software GSO would send', async () => {
    const { tx, port } = await loopbackPair();
    const { sender, runs } = recorder();
    const offload = new TunnelUdpOffload(sender, tx, HEADER, new UnsentFrames());
    const frame = superFrame(65_000);
    const expected = expectedDatagrams(frame);
    const seen: number[] = [];
    offload.send(
      frame,
      MSS,
      '127.0.0.1',
      port,
      (datagram, inner) => seen.push(datagram.length - inner.length),
      () => {
        throw new Error('a TCP super-frame is never sent whole');
      },
    );
    expect(runs.length).toBe(2);
    for (const run of runs) {
      const datagrams = cutRun(run);
      expect(datagrams.length).toBeLessThanOrEqual(UDP_MAX_SEGMENTS);
      expect(run.bytes.length).toBeLessThanOrEqual(UDP_MAX_PAYLOAD);
      expect(datagrams.slice(0, -1).every((d) => d.length === run.segment)).toBe(true);
    }
    expect(runs.flatMap(cutRun)).toEqual(expected);
    // The link hears of every datagram (taps, tunnel metrics): header + inner frame each.
    expect(seen).toEqual(expected.map(() => HEADER.length));
    expect(offload.counters).toMatchObject({ gsoSends: 2, gsoDatagrams: expected.length, fallbackDatagrams: 0 });
  });

  it('a run the kernel cannot take now (EAGAIN) goes one by one through dgram, in order, and the offload stays on', async () => {
    const { tx, port, received } = await loopbackPair();
    const { sender } = recorder((call, length) => (call === 0 ? -constants.errno.EAGAIN : length));
    const offload = new TunnelUdpOffload(sender, tx, HEADER, new UnsentFrames());
    const frame = superFrame(65_000);
    const expected = expectedDatagrams(frame);
    offload.send(frame, MSS, '127.0.0.1', port, undefined, () => {});
    expect(offload.sendsSuperFrames).toBe(true);
    // The first run went through dgram; the stand-in "sent" the second, which never reaches rx.
    await until(() => received.length >= offload.counters.fallbackDatagrams);
    expect(received).toEqual(expected.slice(0, offload.counters.fallbackDatagrams));
    expect(offload.counters.fallbackDatagrams).toBeGreaterThan(0);
  });

  it('a run the kernel refuses (EINVAL) turns the offload off, says why, and every datagram still goes out in order', async () => {
    const { tx, port, received } = await loopbackPair();
    const { sender, runs } = recorder(() => -constants.errno.EINVAL);
    const offload = new TunnelUdpOffload(sender, tx, HEADER, new UnsentFrames());
    const frame = superFrame(65_000);
    const expected = expectedDatagrams(frame);
    offload.send(frame, MSS, '127.0.0.1', port, undefined, () => {});
    expect(runs).toHaveLength(1);
    expect(offload.sendsSuperFrames).toBe(false);
    expect(offload.disabledBecause).toMatch(/kernel refused a run of \d+ × \d+-byte datagrams to 127\.0\.0\.1:\d+ \(errno 22\)/);
    await until(() => received.length >= expected.length);
    expect(received).toEqual(expected);
  });

  it('hands a frame it cannot cut (not TCP) to the link whole, its GSO mark cleared', async () => {
    const { tx, port } = await loopbackPair();
    const { sender, runs } = recorder();
    const offload = new TunnelUdpOffload(sender, tx, HEADER, new UnsentFrames());
    const udpFrame = tcpFrame({ payload: Buffer.alloc(3000), seq: 0, protocol: 17 });
    setGsoSize(udpFrame, MSS);
    const whole: Buffer[] = [];
    offload.send(udpFrame, MSS, '127.0.0.1', port, undefined, (f) => whole.push(f));
    expect(whole).toEqual([udpFrame]);
    expect(gsoSizeOf(udpFrame)).toBe(0);
    expect(runs).toHaveLength(0);
  });

  it('cuts received messages only with UDP_GRO on', async () => {
    const { tx } = await loopbackPair();
    const run = Buffer.concat(expectedDatagrams(superFrame(5000)));
    const count = (coalescing: boolean) => {
      const stand: UdpRunSender = { send: () => 0, enableReceiveCoalescing: () => coalescing };
      const offload = new TunnelUdpOffload(stand, tx, HEADER, new UnsentFrames());
      let n = 0;
      offload.forEachDatagram(run, { address: '127.0.0.1', family: 'IPv4', port: 1, size: run.length }, () => n++);
      return [n, offload.counters.groMessages, offload.counters.groDatagrams];
    };
    expect(count(true)).toEqual([4, 1, 4]);
    expect(count(false)).toEqual([1, 0, 0]);
  });
});
