// Acceptance (4) of issue 3 for TCP: HTTP in both directions between a real Linux namespace and an
// emulated node, over the kernel-vxlan harness (testing/kernel-vxlan.ts): a kernel `flannel.1`
// in namespace K, the emulated node (its own process, inside namespace E) with an emulated
// flannel.1. Real curl and a real Node http server run in K with `ip netns exec`; the emulated side
// runs Node's http over the emulated TCP (test/netstack/tcp-http-plugin.mjs).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop, interopRequired } from '../../../test/support/interop.ts';
import { udpSegmentationState } from './links/udp-segmentation.js';
import { type KernelVxlanPeer, kernelVxlanPeer, sh } from './testing/kernel-vxlan.js';

const plugin = fileURLToPath(new URL('../../../test/netstack/tcp-http-plugin.mjs', import.meta.url));
const BIG = 2 << 20;

function bigBody(bytes: number): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 131 + (i >>> 10)) & 0xff;
  return b;
}

describeInterop('emulated TCP against the Linux kernel over VXLAN', { root: true, commands: ['ip', 'ethtool', 'bridge', 'curl'] }, () => {
  let peer: KernelVxlanPeer;

  /** GET /big from the kernel namespace's server on `port`, from namespace `ns` of the emulated node: BIG bytes, byte-exact. */
  async function expectBigFromKernel(ns: string, port: number): Promise<void> {
    const big = await peer.node.call<{ status: number; bytes: number; sha256: string }>(
      'tcp-http-get',
      { ns, host: '10.244.1.0', port, path: '/big', timeoutMs: 30_000 },
      40_000,
    );
    expect(big.bytes).toBe(BIG);
    expect(big.sha256).toBe(createHash('sha256').update(bigBody(BIG)).digest('hex'));
  }
  beforeAll(async () => {
    peer = await kernelVxlanPeer({ tag: `t${process.pid % 10000}` });
    await peer.node.call('plugin', { module: plugin });
  });
  afterAll(async () => {
    await peer?.close();
  });

  it('real curl in the kernel namespace GETs from Node http on the emulated TCP', async () => {
    await peer.node.call('tcp-http-serve', { ns: 'node-2', port: 8080, bigBytes: BIG });
    const out = sh([
      'ip',
      'netns',
      'exec',
      peer.kernelNs,
      'curl',
      '-sS',
      '--max-time',
      '20',
      '-d',
      'kernel-data',
      'http://10.244.2.0:8080/hello',
    ]);
    expect(out).toBe('emulated 10.244.2.0:8080 answers POST /hello from 10.244.1.0 with kernel-data');
    // 2 MiB through the kernel's TCP receiver: segmentation, windows and ACKs against Linux.
    const digest = sh(['sh', '-c', `ip netns exec ${peer.kernelNs} curl -sS --max-time 30 http://10.244.2.0:8080/big | sha256sum`]);
    expect(digest.split(' ')[0]).toBe(createHash('sha256').update(bigBody(BIG)).digest('hex'));
  });

  it('Node http on the emulated TCP GETs from a real Node http server in the kernel namespace', async () => {
    const server = await kernelHttpServer(peer.kernelNs, 8081);
    try {
      const small = await peer.node.call<{ status: number; body: string; mss: number }>('tcp-http-get', {
        ns: 'node-2',
        host: '10.244.1.0',
        port: 8081,
        path: '/from-emulated',
      });
      expect(small.status).toBe(200);
      expect(small.body).toBe('kernel 10.244.1.0 answers /from-emulated from 10.244.2.0');
      await expectBigFromKernel('node-2', 8081);
    } finally {
      server.stop();
    }
  });

  // A pod behind the emulated node's cni0: its TCP hands the veth 64 KiB super-frames (TSO), the
  // emulated flannel.1 cuts them into MTU-sized segments for the kernel (GSO), and what the kernel
  // sends is merged again on the way in (GRO) and crosses the veth whole. Linux's TCP checks every
  // segment's checksum, sequence and length, so a wrong cut fails the transfer.
  it('a pod behind cni0 serves 2 MiB to real curl: super-frames on its veth, MTU-sized segments to the kernel', async () => {
    await peer.node.call('tap-largest', { ns: 'pod', dev: 'eth0' });
    const offloadBefore = await peer.node.call<{ counters: { gsoSends: number } | null; off: string | null }>('udp-offload', {
      ns: 'node-2',
      dev: 'flannel.1',
    });
    await peer.node.call('tcp-http-serve', { ns: 'pod', port: 8090, bigBytes: BIG });
    const digest = sh(['sh', '-c', `ip netns exec ${peer.kernelNs} curl -sS --max-time 30 http://${peer.podIp}:8090/big | sha256sum`]);
    expect(digest.split(' ')[0]).toBe(createHash('sha256').update(bigBody(BIG)).digest('hex'));
    const { largest } = await peer.node.call<{ largest: Record<string, number> }>('largest-frames', {});
    expect(largest['pod/eth0']).toBeGreaterThan(1450 + 14);
    // The kernel's flannel.1 took every segment the emulated one cut (none over its MTU, no bad checksum).
    const out = sh(['ip', 'netns', 'exec', peer.kernelNs, 'ip', '-s', '-j', 'link', 'show', 'flannel.1']);
    expect(JSON.parse(out)[0].stats64.rx.errors).toBe(0);
    // With the UDP offloads the emulated flannel.1 sent those segments in UDP GSO runs, which the
    // kernel cut on the veth's way into its own vxlan socket: Linux took them as ordinary datagrams.
    if (udpSegmentationState().available) {
      const after = await peer.node.call<{ counters: { gsoSends: number } | null }>('udp-offload', { ns: 'node-2', dev: 'flannel.1' });
      expect(offloadBefore.off).toBeNull();
      expect((after.counters?.gsoSends ?? 0) - (offloadBefore.counters?.gsoSends ?? 0)).toBeGreaterThan(0);
    }
  });

  it('a pod behind cni0 GETs 2 MiB from a real Node server in the kernel namespace: merged by GRO, whole over the veth', async () => {
    const server = await kernelHttpServer(peer.kernelNs, 8082);
    try {
      await peer.node.call('tap-largest', { ns: 'node-2', dev: 'vethpod' });
      await expectBigFromKernel('pod', 8082);
      const { largest } = await peer.node.call<{ largest: Record<string, number> }>('largest-frames', {});
      // The kernel's MTU-sized segments, merged on the emulated flannel.1, left cni0 for the pod as super-frames.
      expect(largest['node-2/vethpod']).toBeGreaterThan(1450 + 14);
    } finally {
      server.stop();
    }
  });

  // Linux's UDP GRO (udp_gro_receive, with GRO on the veth so it runs NAPI) coalesces the kernel
  // vxlan's datagrams of one flow for a socket with UDP_GRO set: the emulated flannel.1 is handed
  // runs of Linux's own datagrams, and cutting them at the inner IPv4 lengths must give every one back.
  it('with GRO on the underlay veth, Linux hands the emulated flannel.1 runs of its vxlan datagrams, cut back exactly', async () => {
    const state = udpSegmentationState();
    if (!state.available) {
      if (interopRequired) throw new Error(`UDP offloads are required here: ${state.reason}`);
      return;
    }
    sh(['ip', 'netns', 'exec', peer.emulatedNs, 'ethtool', '-K', peer.emulatedVeth, 'gro', 'on']);
    const server = await kernelHttpServer(peer.kernelNs, 8083);
    try {
      type Offload = { counters: { groMessages: number; groDatagrams: number } };
      const before = await peer.node.call<Offload>('udp-offload', { ns: 'node-2', dev: 'flannel.1' });
      await expectBigFromKernel('pod', 8083);
      const after = await peer.node.call<Offload>('udp-offload', { ns: 'node-2', dev: 'flannel.1' });
      const messages = after.counters.groMessages - before.counters.groMessages;
      const datagrams = after.counters.groDatagrams - before.counters.groDatagrams;
      expect(messages).toBeGreaterThan(0);
      expect(datagrams / messages).toBeGreaterThan(2);
      // Most of the 2 MiB came in runs (≈ 1,500 datagrams of 1,398 payload bytes).
      expect(datagrams).toBeGreaterThan(BIG / 1450 / 2);
    } finally {
      server.stop();
      sh(['ip', 'netns', 'exec', peer.emulatedNs, 'ethtool', '-K', peer.emulatedVeth, 'gro', 'off'], true);
    }
  });
});

/**
 * A real Node http server in the kernel namespace on 10.244.1.0:`port`: GET /big answers BIG bytes of
 * bigBody, anything else says who answered whom. Resolves once it listens; stop() ends it.
 */
async function kernelHttpServer(ns: string, port: number): Promise<{ stop(): void }> {
  const script = [
    "const http = require('node:http');",
    `const big = Buffer.allocUnsafe(${BIG}); for (let i = 0; i < big.length; i++) big[i] = (i * 131 + (i >>> 10)) & 0xff;`,
    'http.createServer((req, res) => {',
    "  if (req.url === '/big') return res.end(big);",
    "  res.end('kernel ' + req.socket.localAddress + ' answers ' + req.url + ' from ' + req.socket.remoteAddress);",
    `}).listen(${port}, '10.244.1.0', () => console.log('listening'));`,
    'setTimeout(() => process.exit(0), 60000).unref();',
    "process.stdin.on('end', () => process.exit(0)); process.stdin.resume();",
  ].join('\n');
  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const stop = () => {
    server.stdin.end();
    server.kill();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('listening')) resolve();
      });
      server.on('exit', (code) => reject(new Error(`the kernel-side server exited (${code})`)));
    });
  } catch (error) {
    stop();
    throw error;
  }
  return { stop };
}
