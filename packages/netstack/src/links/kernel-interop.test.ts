// Acceptance 4: interop with a real Linux vxlan device. The test makes two network namespaces
// joined by a veth pair: in K a kernel `flannel.1` (vxlan id 1, nolearning) programmed the flannel
// way towards the emulated node (route via 10.244.2.0 onlink, permanent neighbour, FDB entry to the
// emulated node's IP); in E the emulated node (node-process.mjs under `ip netns exec`), whose VXLAN
// socket binds E's veth address (a socket on a 127.x address could not reach another namespace).
// Ping both ways and UDP both ways cross the kernel's encapsulation and ours.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../../../../test/support/interop.ts';
import { type KernelVxlanPeer, kernelVxlanPeer, sh } from '../testing/kernel-vxlan.js';

describeInterop(
  'emulated VXLAN against a Linux vxlan device',
  { root: true, commands: ['ip', 'ping', 'ethtool', 'bridge', 'python3'] },
  () => {
    let peer: KernelVxlanPeer;
    let K: string;
    beforeAll(async () => {
      peer = await kernelVxlanPeer();
      K = peer.kernelNs;
    });
    afterAll(async () => {
      await peer?.close();
    });

    it('the kernel pings the emulated node', () => {
      const out = sh(['ip', 'netns', 'exec', K, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.244.2.0']);
      expect(out).toMatch(/3 packets transmitted, 3 received/);
    });

    it('the kernel pings an emulated pod behind cni0 (routed by the emulated node)', () => {
      const out = sh(['ip', 'netns', 'exec', K, 'ping', '-c', '2', '-i', '0.2', '-W', '2', peer.podIp]);
      expect(out).toMatch(/2 packets transmitted, 2 received/);
      // The emulated node forwarded the reply once: TTL 64 − 1.
      expect(out).toMatch(/ttl=63/);
    });

    it('an emulated pod pings the kernel through its node', async () => {
      const r = await peer.node.call<{ results: Array<{ from: string; ttl: number }> }>('ping', { ns: 'pod', dst: '10.244.1.0' });
      expect(r.results[0]).toMatchObject({ from: '10.244.1.0', ttl: 63 });
    });

    it('the emulated node pings the kernel', async () => {
      const r = await peer.node.call<{ results: Array<{ from: string; ttl: number }> }>('ping', {
        ns: 'node-2',
        dst: '10.244.1.0',
        count: 3,
      });
      expect(r.results.map((x) => x.from)).toEqual(['10.244.1.0', '10.244.1.0', '10.244.1.0']);
      expect(r.results[0]?.ttl).toBe(64);
    });

    it('UDP from the kernel to an emulated socket and back', async () => {
      await peer.node.call('udp-echo', { ns: 'node-2', port: 7777 });
      const py = [
        'import socket',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        's.settimeout(5)',
        "s.sendto(b'from-kernel', ('10.244.2.0', 7777))",
        'data, addr = s.recvfrom(2048)',
        'print(data.decode(), addr[0], addr[1])',
      ].join('\n');
      expect(sh(['ip', 'netns', 'exec', K, 'python3', '-c', py]).trim()).toBe('echo:from-kernel 10.244.2.0 7777');
    });

    it('UDP from an emulated socket to the kernel and back', async () => {
      const py = [
        'import socket',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        "s.bind(('10.244.1.0', 7778))",
        's.settimeout(10)',
        'data, addr = s.recvfrom(2048)',
        "s.sendto(b'kernel:' + data, addr)",
      ].join('\n');
      const server = spawn('ip', ['netns', 'exec', K, 'python3', '-c', py]);
      const exited = new Promise<number | null>((resolve) => server.on('exit', resolve));
      // Give the server a moment to bind; the request retries by being sent again on timeout.
      let reply: { reply: string; from: { address: string; port: number } } | undefined;
      for (let i = 0; i < 20 && reply === undefined; i++) {
        await new Promise((r) => setTimeout(r, 100));
        reply = await peer.node
          .call<typeof reply & object>('udp-request', { ns: 'node-2', dst: '10.244.1.0', port: 7778, data: 'hi', timeoutMs: 1000 })
          .catch(() => undefined);
      }
      expect(reply).toMatchObject({ reply: 'kernel:hi', from: { address: '10.244.1.0', port: 7778 } });
      expect(await exited).toBe(0);
    });
  },
);
