// Acceptance 4's harness, for this package's interop test and the TCP helper's HTTP one: two
// network namespaces joined by a veth pair. K holds a real Linux `flannel.1` (vxlan id 1,
// nolearning, 10.244.1.0/32) programmed the flannel way towards the emulated node; E runs the
// emulated node (node-process.mjs under `ip netns exec E`) as namespace "node-2" with an emulated
// flannel.1 (10.244.2.0/32) whose real UDP socket binds E's veth address on port 4789, and behind
// its cni0 (10.244.2.1/24) one pod, namespace "pod" (10.244.2.5, MTU 1450), wired as the CNI bridge plugin does.
// Needs root, ip, ethtool, bridge. Namespace names carry the pid, so parallel runs do not collide.
import { spawnSync } from 'node:child_process';
import { type NodeProcess, spawnNodeProcess } from './node-process.js';

export interface KernelVxlanPeer {
  /** The kernel namespace (run commands in it with `ip netns exec`). */
  kernelNs: string;
  /** The namespace the emulated node runs in, and its end of the underlay veth. */
  emulatedNs: string;
  emulatedVeth: string;
  /** The emulated node process; its namespace is "node-2". */
  node: NodeProcess;
  /** Addresses: kernel flannel.1 10.244.1.0, emulated flannel.1 10.244.2.0. */
  kernelIp: string;
  emulatedIp: string;
  /** An emulated pod (namespace "pod" in the node process) behind the emulated node's cni0. */
  podIp: string;
  /** Runs a command, throwing with its stderr when it fails (unless allowFail). */
  sh(cmd: string[], allowFail?: boolean): string;
  close(): Promise<void>;
}

export function sh(cmd: string[], allowFail = false): string {
  const r = spawnSync(cmd[0] as string, cmd.slice(1), { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export async function kernelVxlanPeer(options: { tag?: string } = {}): Promise<KernelVxlanPeer> {
  const tag = options.tag ?? `${process.pid % 100000}`;
  const K = `pnk${tag}`;
  const E = `pne${tag}`;
  const VK = `vk${tag}`;
  const VE = `ve${tag}`;
  const underlay = `10.199.${(process.pid % 200) + 20}`;
  const kIp = `${underlay}.1`;
  const eIp = `${underlay}.2`;
  const kMac = '0a:58:0a:f4:01:00';
  const eMac = '0a:58:0a:f4:02:00';
  const cleanup = () => {
    sh(['ip', 'netns', 'del', K], true);
    sh(['ip', 'netns', 'del', E], true);
  };
  cleanup();
  try {
    sh(['ip', 'netns', 'add', K]);
    sh(['ip', 'netns', 'add', E]);
    sh(['ip', 'link', 'add', VK, 'netns', K, 'type', 'veth', 'peer', 'name', VE, 'netns', E]);
    for (const [ns, dev, ip] of [
      [K, VK, kIp],
      [E, VE, eIp],
    ] as const) {
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      sh(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', dev]);
      sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
      // Real checksums in every frame: veth would leave them to an offload that never happens.
      sh(['ip', 'netns', 'exec', ns, 'ethtool', '-K', dev, 'tx', 'off'], true);
    }
    // flannel's vxlan backend: the device, then per remote node a route, a neighbour and an FDB entry.
    sh(['ip', '-n', K, 'link', 'add', 'flannel.1', 'type', 'vxlan', 'id', '1', 'local', kIp, 'dev', VK, 'dstport', '4789', 'nolearning']);
    sh(['ip', '-n', K, 'link', 'set', 'flannel.1', 'address', kMac, 'mtu', '1450', 'up']);
    sh(['ip', 'netns', 'exec', K, 'ethtool', '-K', 'flannel.1', 'tx', 'off'], true);
    sh(['ip', '-n', K, 'addr', 'add', '10.244.1.0/32', 'dev', 'flannel.1']);
    sh(['ip', '-n', K, 'route', 'add', '10.244.2.0/24', 'via', '10.244.2.0', 'dev', 'flannel.1', 'onlink']);
    sh(['ip', '-n', K, 'neigh', 'replace', '10.244.2.0', 'lladdr', eMac, 'dev', 'flannel.1', 'nud', 'permanent']);
    sh(['bridge', '-n', K, 'fdb', 'append', eMac, 'dev', 'flannel.1', 'dst', eIp]);
    const node = await spawnNodeProcess({ wrap: ['ip', 'netns', 'exec', E], env: { PODNET_GUARD_ALLOW: `${underlay}.0/24` } });
    await node.call('create-namespace', { name: 'node-2' });
    await node.call('add-vxlan', { ns: 'node-2', mac: eMac, nodeIp: eIp, localAddress: eIp, port: 4789 });
    await node.call('add-address', { ns: 'node-2', dev: 'flannel.1', cidr: '10.244.2.0/32' });
    await node.call('add-vxlan-peer', {
      ns: 'node-2',
      podCidr: '10.244.1.0/24',
      vtepMac: kMac,
      nodeIp: kIp,
      transport: { address: kIp, port: 4789 },
    });
    // A pod behind the emulated node's cni0, as the CNI bridge plugin would wire it.
    await node.call('set-forward', { ns: 'node-2' });
    await node.call('add-bridge', { ns: 'node-2', mac: '0a:58:0a:f4:02:01' });
    await node.call('add-address', { ns: 'node-2', dev: 'cni0', cidr: '10.244.2.1/24' });
    await node.call('create-namespace', { name: 'pod' });
    await node.call('add-veth-pair', {
      a: { ns: 'pod', dev: 'eth0', mac: '0a:58:0a:f4:02:05', mtu: 1450 },
      b: { ns: 'node-2', dev: 'vethpod', mac: '0e:00:0a:f4:02:05', mtu: 1450 },
      bridge: 'cni0',
    });
    await node.call('add-address', { ns: 'pod', dev: 'eth0', cidr: '10.244.2.5/24' });
    await node.call('add-route', { ns: 'pod', dst: 'default', via: '10.244.2.1', dev: 'eth0' });
    return {
      kernelNs: K,
      emulatedNs: E,
      emulatedVeth: VE,
      node,
      kernelIp: '10.244.1.0',
      emulatedIp: '10.244.2.0',
      podIp: '10.244.2.5',
      sh,
      close: async () => {
        await node.close();
        cleanup();
      },
    };
  } catch (error) {
    cleanup();
    throw error;
  }
}
