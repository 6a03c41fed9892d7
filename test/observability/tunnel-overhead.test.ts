// Acceptance (issue 7): after traffic between two nodes, the tunnel counters of both cni-agent
// processes say 50 bytes of overhead per frame for vxlan and 0 for host-gw, and they agree with
// the real UDP datagrams `tshark -i lo` captured during the same traffic (not podnet's own tap):
// the same number of frames each way, wire bytes = tshark's frame.len for vxlan (Ethernet 14 +
// IPv4 20 + UDP 8 + VXLAN 8 + inner frame), inner bytes = the datagram payload minus the VXLAN
// header (vxlan) or the payload itself (host-gw). The agents send with UDP GSO where they can, and
// loopback is captured before the kernel cuts a run into datagrams, so a captured run counts as
// the datagrams it carries (support.ts datagramsOf).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '@podnet/client';
import { udpSegmentationState } from '@podnet/netstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServerProcess, startApiServerProcess } from '../../packages/client/src/testing/apiserver-process.ts';
import {
  type AgentProcess,
  attachPod,
  startAgentProcess,
  type TestPod,
  waitFor,
} from '../../packages/cni-agent/src/testing/agent-process.ts';
import { describeInterop } from '../support/interop.ts';
import { type CapturedDatagram, captureLo, datagramsOf, scrape, sumOf } from './support.ts';

const dir = mkdtempSync(join(tmpdir(), `podnet-obs-tunnel-${process.pid}-`));
// Transport addresses unique to this test process (other suites use 127.0.1.x).
const base = `127.${150 + (process.pid % 40)}.${(process.pid >> 5) % 250}`;
let api: ApiServerProcess;
let kube: KubeClient;

beforeAll(async () => {
  api = await startApiServerProcess();
  kube = new KubeClient({ kubeconfig: api.kubeconfigPath });
});
afterAll(async () => {
  kube?.close();
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function createNode(name: string, podCIDR: string, nodeIp: string, transport: string): Promise<void> {
  const nodes = kube.resource('nodes');
  const created = await nodes.create({
    metadata: { name, annotations: { 'podnet.dev/transport-address': transport } },
    spec: { podCIDR, podCIDRs: [podCIDR] },
  } as never);
  await nodes.updateStatus({ ...(created as object), status: { addresses: [{ type: 'InternalIP', address: nodeIp }] } } as never);
}

async function tcpExchange(from: TestPod, toIp: string, port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = from.ns.tcp.connect({ host: toIp, port });
    let got = 0;
    const timer = setTimeout(() => reject(new Error(`TCP ${toIp}:${port} timed out after ${got} bytes`)), 20_000);
    s.on('connect', () => s.end(Buffer.alloc(bytes, 0x61)));
    s.on('data', (d: Buffer) => {
      got += d.length;
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

const OVERHEAD = { vxlan: 50, 'host-gw': 0 } as const;

describeInterop('tunnel overhead counters agree with tshark on lo', { commands: ['tshark'], root: true }, () => {
  for (const [k, backend] of (['vxlan', 'host-gw'] as const).entries()) {
    describe(backend, () => {
      const names = [`obs-${backend}-1`, `obs-${backend}-2`];
      const transports = [`${base}.${1 + 2 * k}`, `${base}.${2 + 2 * k}`];
      const agents: AgentProcess[] = [];
      const metricsUrls: string[] = [];
      const pods: TestPod[] = [];

      beforeAll(async () => {
        // Node IPs distinct across both backends: the four Nodes share one API server, and host-gw's
        // broadcasts go to every node it knows (a shared node IP would blur the per-peer counters).
        for (let i = 0; i < 2; i++)
          await createNode(names[i] as string, `10.244.${20 + 2 * k + i}.0/24`, `172.18.0.${2 + 2 * k + i}`, transports[i] as string);
        for (let i = 0; i < 2; i++) {
          const a = await startAgentProcess({
            node: names[i] as string,
            kubeconfig: api.kubeconfigPath,
            transportAddress: transports[i] as string,
            nodeIp: `172.18.0.${2 + 2 * k + i}`,
            dir,
            backend,
          });
          agents.push(a);
          metricsUrls.push(/"metrics":"([^"]+)"/.exec(a.logs())?.[1] as string);
        }
        for (const [i, a] of agents.entries())
          await waitFor(`${names[i]} ready with its peer`, async () => {
            const s = await a.client.status();
            return s.ready && s.peers.includes(names[1 - i] as string);
          });
        for (const [i, a] of agents.entries()) pods.push(await attachPod(a.client, `obs-${backend}-pod-${i}`));
        const server = (pods[1] as TestPod).ns.tcp.createServer((s) => {
          s.on('data', (d: Buffer) => s.write(d));
          s.on('end', () => s.end());
        });
        await new Promise<void>((r) => server.listen(7000, r));
        // Warm up ARP (host-gw) and the route so the measured window has only the traffic below.
        await waitFor('first ping', async () => {
          await (pods[0] as TestPod).ns.ping((pods[1] as TestPod).ip, { timeoutMs: 1000 });
          return true;
        });
      });
      afterAll(async () => {
        for (const p of pods) await p.ns.close?.();
        for (const a of agents) await a.stop();
      });

      it(`frames, wire bytes and ${OVERHEAD[backend]} bytes of overhead per frame match the captured datagrams`, async () => {
        expect(metricsUrls.every((u) => u?.startsWith('http://'))).toBe(true);
        const filter = `udp and net ${base}.0/24`;
        const [p0, p1] = pods as [TestPod, TestPod];
        const measure = async (attempt: number) => {
          const capture = await captureLo(filter, join(dir, `${backend}-${attempt}.pcap`), { from: `${base}.250`, to: `${base}.251` });
          const before = await Promise.all(metricsUrls.map((u) => scrape(u)));
          for (const size of [56, 500, 1000, 1300]) await p0.ns.ping(p1.ip, { size, timeoutMs: 3000 });
          expect(await tcpExchange(p0, p1.ip, 7000, 40_000)).toBe(40_000);
          await new Promise((r) => setTimeout(r, 300));
          const after = await Promise.all(metricsUrls.map((u) => scrape(u)));
          // A UDP GSO run is one captured packet on lo: counted as the datagrams it carries.
          const packets = await capture.stop();
          return { before, after, packets: packets.length, datagrams: datagramsOf(packets, backend === 'vxlan' ? 8 : 0) };
        };
        // On a loaded 2-core machine dumpcap occasionally misses a loopback packet without reporting
        // it. When the capture has fewer datagrams than BOTH the sender's tx and the receiver's rx
        // counters say (which agree: the datagram was delivered), the capture is incomplete and the
        // window is measured again (at most 3 windows); any other disagreement fails at once.
        let window = await measure(0);
        for (let attempt = 1; attempt < 3; attempt++) {
          const { before, after, datagrams } = window;
          const d = (node: 0 | 1, labels: Record<string, string>) =>
            sumOf(after[node] ?? [], 'podnet_tunnel_inner_frames_total', { backend, ...labels }) -
            sumOf(before[node] ?? [], 'podnet_tunnel_inner_frames_total', { backend, ...labels });
          const captureShort = ([0, 1] as const).some((from) => {
            const to = (1 - from) as 0 | 1;
            const tx = d(from, { peer: names[to] as string, direction: 'tx' });
            const rx = d(to, { peer: names[from] as string, direction: 'rx' });
            const seen = datagrams.filter((x) => x.src === transports[from] && x.dst === transports[to]).length;
            return tx === rx && seen < tx;
          });
          if (!captureShort) break;
          process.stdout.write(
            `[observability] ${backend}: tshark missed datagrams both agents counted; measuring window ${attempt + 1}\n`,
          );
          window = await measure(attempt);
        }
        const { before, after, datagrams, packets } = window;
        // With the UDP offloads the TCP exchange's super-frames left in runs: fewer packets than datagrams on lo.
        if (udpSegmentationState().available) expect(packets).toBeLessThan(datagrams.length);

        const delta = (node: 0 | 1, name: string, labels: Record<string, string>) =>
          sumOf(after[node] ?? [], name, { backend, ...labels }) - sumOf(before[node] ?? [], name, { backend, ...labels });
        const innerOf = (d: CapturedDatagram) => d.udpLength - 8 - (backend === 'vxlan' ? 8 : 0);
        for (const [from, to] of [
          [0, 1],
          [1, 0],
        ] as const) {
          const sent = datagrams.filter((d) => d.src === transports[from] && d.dst === transports[to]);
          expect(sent.length, `${names[from]} → ${names[to]} datagrams captured`).toBeGreaterThan(20);
          const peer = { peer: names[to] as string, direction: 'tx' };
          const frames = delta(from, 'podnet_tunnel_inner_frames_total', peer);
          const inner = delta(from, 'podnet_tunnel_inner_bytes_total', peer);
          const wire = delta(from, 'podnet_tunnel_wire_bytes_total', peer);
          const overhead = delta(from, 'podnet_tunnel_overhead_bytes_total', peer);
          process.stdout.write(
            `[observability] ${backend} ${names[from]} → ${names[to]}: ${frames} frames, inner ${inner} B, wire ${wire} B, overhead ${overhead} B; tshark ${sent.length} datagrams, ${sent.reduce((n, d) => n + d.frameLen, 0)} B on lo\n`,
          );
          const pairs = new Map<string, number>();
          for (const d of datagrams) pairs.set(`${d.src}>${d.dst}`, (pairs.get(`${d.src}>${d.dst}`) ?? 0) + 1);
          expect(frames, `captured by pair: ${JSON.stringify([...pairs])}`).toBe(sent.length);
          expect(overhead).toBe(OVERHEAD[backend] * frames);
          expect(inner).toBe(sent.reduce((n, d) => n + innerOf(d), 0));
          expect(wire).toBe(inner + overhead);
          // vxlan: the wire bytes are exactly what the capture counts (lo's Ethernet header stands in for eth0's).
          if (backend === 'vxlan') expect(wire).toBe(sent.reduce((n, d) => n + d.frameLen, 0));
          // And the receiver counted the same frames coming in.
          const rx = { peer: names[from] as string, direction: 'rx' };
          expect(delta(to, 'podnet_tunnel_inner_frames_total', rx)).toBe(sent.length);
          expect(delta(to, 'podnet_tunnel_overhead_bytes_total', rx)).toBe(OVERHEAD[backend] * sent.length);
          const ratio = sumOf(after[from] ?? [], 'podnet_tunnel_overhead_ratio', { backend, peer: names[to] as string });
          if (backend === 'vxlan') expect(ratio).toBeGreaterThan(0);
          else expect(ratio).toBe(0);
          expect(
            sumOf(after[from] ?? [], 'podnet_tunnel_encap_duration_seconds_count', { backend, peer: names[to] as string }),
          ).toBeGreaterThanOrEqual(frames);
        }
        // The data-plane metrics moved with the same traffic. The interface counts a super-frame it
        // sends in a UDP GSO run once, as Linux counts a GSO skb on a device: fewer than the datagrams.
        expect(
          sumOf(after[0] ?? [], 'podnet_interface_transmit_packets_total', { interface: backend === 'vxlan' ? 'flannel.1' : 'eth0' }),
        ).toBeGreaterThan(10);
        expect(sumOf(after[0] ?? [], 'podnet_netfilter_rules', { table: 'nat' })).toBeGreaterThan(0);
        expect(after[0]?.some((s) => s.name === 'podnet_conntrack_insert_failed_total')).toBe(true);
        expect(after[0]?.some((s) => s.name === 'podnet_tcp_retransmitted_segments_total')).toBe(true);
      });
    });
  }
});
