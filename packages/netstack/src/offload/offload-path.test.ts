// Segmentation offloads on the whole pod path, as Linux does them: a pod's TCP hands its veth
// 64 KiB super-frames (TSO; veth carries them), cni0 and the node's forwarding pass them whole,
// flannel.1 hands them whole to its real UDP socket, whose kernel cuts them into MTU-sized
// datagrams (UDP GSO; software GSO before flannel.1 without the addon or with tso off), and the
// receiving node merges what one receive batch brings (GRO) before its forwarding and the pod's
// veth. Two in-process nodes over real UDP on 127.0.1.N (testing/two-nodes.ts).
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeInterop } from '../../../../test/support/interop.ts';
import type { FrameSink } from '../links/link.js';
import type { TcpSocket } from '../tcp/socket.js';
import { twoNodesOverVxlan } from '../testing/two-nodes.js';
import { gsoSizeOf } from './gso.js';

const BYTES = 3 << 20;
const body = (() => {
  const b = Buffer.allocUnsafe(BYTES);
  for (let i = 0; i < BYTES; i++) b[i] = (i * 131 + (i >>> 9)) & 0xff;
  return b;
})();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Frames a link carries while tapped: count, largest, and how many exceed `mtu` + Ethernet. */
function frameSizes(mtu: number): FrameSink & { count: number; largest: number; overMtu: number; marked: number } {
  const sizes = {
    count: 0,
    largest: 0,
    overMtu: 0,
    marked: 0,
    write(frame: Buffer) {
      sizes.count++;
      sizes.largest = Math.max(sizes.largest, frame.length);
      if (frame.length > mtu + 14) sizes.overMtu++;
      if (gsoSizeOf(frame) > 0) sizes.marked++;
    },
  };
  return sizes;
}

type TwoNodes = Awaited<ReturnType<typeof twoNodesOverVxlan>>;

/** Frames dropped on any interface of a namespace, for every reason. */
const dropsOn = (ns: TwoNodes['n2']['host']) =>
  Object.values(ns.counters()).reduce((n, c) => n + Object.values(c.drops).reduce((a, b) => a + b, 0), 0);

/** Sends BYTES from pod a to pod b; resolves with what b received and a's socket. */
async function transfer(t: TwoNodes, port: number): Promise<{ received: Buffer; client: TcpSocket }> {
  const chunks: Buffer[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const server = t.b.ns.tcp.createServer((s) => {
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => {
      s.end();
      done();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  const client = t.a.ns.tcp.connect({ host: t.b.ip, port });
  client.end(body);
  await finished;
  server.close();
  return { received: Buffer.concat(chunks), client };
}

describe('TSO, GSO and GRO across two nodes', () => {
  let t: TwoNodes;
  beforeAll(async () => {
    t = await twoNodesOverVxlan();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('pod a sends super-frames on its veth, the underlay carries only MTU-sized datagrams, node-2 merges them again', async () => {
    const podOut = frameSizes(1450);
    const underlay = frameSizes(1450 + 50);
    const podIn = frameSizes(1450);
    const untaps = [t.a.eth0.tap(podOut), t.n1.vxlan.tapUnderlay(underlay), t.b.hostVeth.tap(podIn)];
    const dropsBefore = dropsOn(t.n2.host);
    try {
      const { received, client } = await transfer(t, 7001);
      expect(received.length).toBe(BYTES);
      expect(sha(received)).toBe(sha(body));
      // No loss: at most a tail-loss probe (RFC 8985 §7, timing on a shared machine), nothing dropped on node-2.
      expect(client.tcpInfo()?.retransmissions ?? 0).toBeLessThanOrEqual(1);
      expect(dropsOn(t.n2.host)).toBe(dropsBefore);
      // TSO: most data left the pod as super-frames, each one frame of up to 64 KiB.
      expect(podOut.overMtu).toBeGreaterThan(0);
      expect(podOut.largest).toBeGreaterThan(32 * 1024);
      expect(podOut.largest).toBeLessThanOrEqual(65535);
      // GSO: on the real UDP wire (outer Ethernet/IPv4/UDP + VXLAN + inner frame), never over the MTU.
      expect(underlay.overMtu).toBe(0);
      expect(underlay.count).toBeGreaterThan(BYTES / 1410);
      // GRO: node-2's cni0 handed pod b merged frames, marked with their segment size.
      expect(podIn.overMtu).toBeGreaterThan(0);
      expect(podIn.marked).toBe(podIn.overMtu);
    } finally {
      for (const u of untaps) u();
    }
  });

  it('with GRO off on node-2 flannel.1 (ethtool -K flannel.1 gro off) pod b gets MTU-sized frames only', async () => {
    const podIn = frameSizes(1450);
    const untap = t.b.hostVeth.tap(podIn);
    t.n2.vxlan.gro = false;
    try {
      const { received } = await transfer(t, 7002);
      expect(sha(received)).toBe(sha(body));
      expect(podIn.count).toBeGreaterThan(BYTES / 1410);
      expect(podIn.overMtu).toBe(0);
    } finally {
      t.n2.vxlan.gro = true;
      untap();
    }
  });

  it('with TSO off on pod a eth0 (ethtool -K eth0 tso off) its TCP sends MSS-sized segments, which node-2 still merges', async () => {
    const podOut = frameSizes(1450);
    const podIn = frameSizes(1450);
    const untaps = [t.a.eth0.tap(podOut), t.b.hostVeth.tap(podIn)];
    t.a.eth0.tso = false;
    try {
      const { received } = await transfer(t, 7004);
      expect(sha(received)).toBe(sha(body));
      expect(podOut.count).toBeGreaterThan(BYTES / 1410);
      expect(podOut.overMtu).toBe(0);
      expect(podIn.overMtu).toBeGreaterThan(0);
    } finally {
      t.a.eth0.tso = true;
      for (const u of untaps) u();
    }
  });

  it('a lossy veth segments a super-frame before its faults, so loss hits real segments and TCP repairs it', async () => {
    const podOut = frameSizes(1450);
    const untap = t.a.eth0.tap(podOut);
    t.a.eth0.setFaults({ loss: 0.02 }, { clock: t.a.ns.clock, rng: t.a.ns.rng });
    try {
      const { received, client } = await transfer(t, 7003);
      expect(sha(received)).toBe(sha(body));
      expect(client.tcpInfo()?.retransmissions ?? 0).toBeGreaterThan(0);
      expect(podOut.overMtu).toBe(0);
    } finally {
      t.a.eth0.setFaults(undefined, { clock: t.a.ns.clock, rng: t.a.ns.rng });
      untap();
    }
  });
});

describeInterop('UDP GSO and GRO on flannel.1 across two nodes', { udpSegmentation: true }, () => {
  let t: TwoNodes;
  beforeAll(async () => {
    t = await twoNodesOverVxlan();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('flannel.1 carries super-frames whole (tso on), the kernel cuts them for the wire, node-2 is handed runs', async () => {
    expect([t.n1.vxlan.udpSegmentationOff, t.n1.vxlan.carriesGso, t.n1.vxlan.offloadFeatures.tsoFixed]).toEqual([undefined, true, false]);
    const onFlannel = frameSizes(1450);
    const underlay = frameSizes(1450 + 50);
    const untaps = [t.n1.vxlan.tap(onFlannel), t.n1.vxlan.tapUnderlay(underlay)];
    const sent = { ...t.n1.vxlan.udpOffloadCounters };
    const got = { ...t.n2.vxlan.udpOffloadCounters };
    const dropsBefore = dropsOn(t.n2.host);
    try {
      const { received, client } = await transfer(t, 7101);
      expect(sha(received)).toBe(sha(body));
      // Nothing was lost or cut wrong: no frame dropped on node-2, and at most a tail-loss probe
      // (RFC 8985 §7, timing on a shared machine) among the retransmissions.
      expect(dropsOn(t.n2.host)).toBe(dropsBefore);
      expect(client.tcpInfo()?.retransmissions ?? 0).toBeLessThanOrEqual(1);
      // As tcpdump on a Linux flannel.1 whose NIC segments UDP tunnels: the super-frames themselves.
      expect(onFlannel.overMtu).toBeGreaterThan(0);
      expect(onFlannel.marked).toBe(onFlannel.overMtu);
      // The wire: every datagram within the MTU, one per segment.
      expect(underlay.overMtu).toBe(0);
      expect(underlay.count).toBeGreaterThan(BYTES / 1410);
      const after = t.n1.vxlan.udpOffloadCounters;
      const runs = (after?.gsoSends ?? 0) - (sent.gsoSends ?? 0);
      const inRuns = (after?.gsoDatagrams ?? 0) - (sent.gsoDatagrams ?? 0);
      expect(runs).toBeGreaterThan(0);
      // Most data datagrams left in runs, many datagrams per system call.
      expect(inRuns).toBeGreaterThan(BYTES / 1410 / 2);
      expect(inRuns / runs).toBeGreaterThan(4);
      // UDP GRO on node-2's socket: runs arrived as one message each and were cut back.
      const gotAfter = t.n2.vxlan.udpOffloadCounters;
      expect((gotAfter?.groMessages ?? 0) - (got.groMessages ?? 0)).toBeGreaterThan(0);
      expect((gotAfter?.groDatagrams ?? 0) - (got.groDatagrams ?? 0)).toBeGreaterThan(BYTES / 1410 / 2);
    } finally {
      for (const u of untaps) u();
    }
  });

  it('ethtool -K flannel.1 tso off: super-frames are cut before flannel.1 and no run is sent', async () => {
    const onFlannel = frameSizes(1450);
    const untap = t.n1.vxlan.tap(onFlannel);
    t.n1.vxlan.tso = false;
    const runsBefore = t.n1.vxlan.udpOffloadCounters?.gsoSends;
    try {
      const { received } = await transfer(t, 7102);
      expect(sha(received)).toBe(sha(body));
      expect(onFlannel.overMtu).toBe(0);
      expect(t.n1.vxlan.udpOffloadCounters?.gsoSends).toBe(runsBefore);
    } finally {
      t.n1.vxlan.tso = true;
      untap();
    }
  });
});
