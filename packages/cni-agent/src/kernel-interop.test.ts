// Interop with the Linux kernel: a real `flannel.1` (vxlan id 1, nolearning) in a network
// namespace K plays a remote node programmed the flannel way, and the cni-agent process runs in
// namespace E (joined to K by a veth; the API server runs in E too, so the agent reaches it on
// E's loopback). The agent learns the kernel node from its Node object (VtepMAC, public-ip) and
// programs route, neighbour and FDB; the test programs the kernel from the agent's VTEP MAC.
// The kernel pings and curls a pod attached to the agent (the pod lives in this test process,
// behind the agent's cni0 through its unix-socket veth), and the pod pings the kernel.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../../../test/support/interop.ts';
import { type AgentProcess, attachPod, startAgentProcess, type TestPod, waitFor } from './testing/agent-process.js';

const run = promisify(execFile);
const APISERVER = join(import.meta.dirname, '..', '..', 'apiserver', 'dist', 'main.js');

/** Async, for commands whose peer is the pod in this very process (spawnSync would block its event loop). */
async function shAsync(cmd: string[]): Promise<string> {
  const { stdout } = await run(cmd[0] as string, cmd.slice(1), { timeout: 30_000 });
  return stdout;
}

function sh(cmd: string[], options: { allowFail?: boolean; input?: string } = {}): string {
  const r = spawnSync(cmd[0] as string, cmd.slice(1), { encoding: 'utf8', timeout: 30_000, input: options.input });
  if (r.status !== 0 && !options.allowFail) throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

describeInterop(
  'cni-agent against a Linux vxlan device',
  { root: true, commands: ['ip', 'ping', 'ethtool', 'bridge', 'kubectl', 'curl'] },
  () => {
    const tag = `${process.pid % 100000}`;
    const K = `pnck${tag}`;
    const E = `pnce${tag}`;
    const underlay = `10.198.${(process.pid % 200) + 20}`;
    const kIp = `${underlay}.1`;
    const eIp = `${underlay}.2`;
    const kMac = '0a:58:0a:f4:01:00';
    const dir = mkdtempSync(join(tmpdir(), `podnet-cni-kernel-${process.pid}-`));
    const guardEnv = { PODNET_GUARD_ALLOW: `${underlay}.0/24`, PODNET_ALLOW_NON_LOOPBACK: '1' };
    let api: ChildProcess | undefined;
    let agent: AgentProcess | undefined;
    let pod: TestPod | undefined;
    let kubeconfig = '';

    const cleanup = () => {
      sh(['ip', 'netns', 'del', K], { allowFail: true });
      sh(['ip', 'netns', 'del', E], { allowFail: true });
    };
    const kubectl = (args: string[], input?: string) =>
      sh(['ip', 'netns', 'exec', E, 'kubectl', '--kubeconfig', kubeconfig, ...args], input === undefined ? {} : { input });

    beforeAll(async () => {
      cleanup();
      sh(['ip', 'netns', 'add', K]);
      sh(['ip', 'netns', 'add', E]);
      sh(['ip', 'link', 'add', `ck${tag}`, 'netns', K, 'type', 'veth', 'peer', 'name', `ce${tag}`, 'netns', E]);
      for (const [ns, dev, ip] of [
        [K, `ck${tag}`, kIp],
        [E, `ce${tag}`, eIp],
      ] as const) {
        sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
        sh(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', dev]);
        sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
        // Real checksums in every frame: veth would leave them to an offload that never happens.
        sh(['ip', 'netns', 'exec', ns, 'ethtool', '-K', dev, 'tx', 'off'], { allowFail: true });
      }
      sh([
        'ip',
        '-n',
        K,
        'link',
        'add',
        'flannel.1',
        'type',
        'vxlan',
        'id',
        '1',
        'local',
        kIp,
        'dev',
        `ck${tag}`,
        'dstport',
        '4789',
        'nolearning',
      ]);
      sh(['ip', '-n', K, 'link', 'set', 'flannel.1', 'address', kMac, 'mtu', '1450', 'up']);
      sh(['ip', 'netns', 'exec', K, 'ethtool', '-K', 'flannel.1', 'tx', 'off'], { allowFail: true });
      sh(['ip', '-n', K, 'addr', 'add', '10.244.1.0/32', 'dev', 'flannel.1']);

      // The API server inside E.
      const apiDir = join(dir, 'api');
      const child = spawn(
        'ip',
        ['netns', 'exec', E, process.execPath, APISERVER, '--data-dir', apiDir, '--port', '0', '--log-level', 'warn'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, ...guardEnv },
        },
      );
      api = child;
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const t = setTimeout(() => reject(new Error(`API server did not start:\n${out}`)), 30_000);
        child.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          if (/listening on https:\/\//.test(out)) {
            clearTimeout(t);
            resolve();
          }
        });
        child.stderr?.on('data', (d: Buffer) => {
          out += d.toString();
        });
        child.once('exit', (code) => reject(new Error(`API server exited ${code}:\n${out}`)));
      });
      kubeconfig = join(apiDir, 'kubeconfig');
      const nodes = [
        {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name: 'kernel-node',
            annotations: {
              'podnet.dev/transport-address': kIp,
              'flannel.alpha.coreos.com/backend-type': 'vxlan',
              'flannel.alpha.coreos.com/backend-data': JSON.stringify({ VNI: 1, VtepMAC: kMac }),
              'flannel.alpha.coreos.com/public-ip': kIp,
            },
          },
          spec: { podCIDR: '10.244.1.0/24' },
        },
        {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: { name: 'agent-node', annotations: { 'podnet.dev/transport-address': eIp } },
          spec: { podCIDR: '10.244.2.0/24' },
        },
      ];
      for (const n of nodes) kubectl(['create', '-f', '-'], JSON.stringify(n));

      agent = await startAgentProcess({
        node: 'agent-node',
        kubeconfig,
        transportAddress: eIp,
        nodeIp: eIp,
        dir,
        backend: 'vxlan',
        vxlanPort: 4789,
        wrap: ['ip', 'netns', 'exec', E],
        env: guardEnv,
      });
      const status = await waitFor('agent programmed the kernel node', async () => {
        const s = await agent?.client.status();
        return s?.ready && s.peers.includes('kernel-node') ? s : undefined;
      });
      // The kernel side, from the agent's published VTEP MAC (flannel's handleSubnetEvents on the kernel node).
      sh(['ip', '-n', K, 'route', 'add', '10.244.2.0/24', 'via', '10.244.2.0', 'dev', 'flannel.1', 'onlink']);
      sh(['ip', '-n', K, 'neigh', 'replace', '10.244.2.0', 'lladdr', status.vtepMac, 'dev', 'flannel.1', 'nud', 'permanent']);
      sh(['bridge', '-n', K, 'fdb', 'append', status.vtepMac, 'dev', 'flannel.1', 'dst', eIp]);
      pod = await attachPod(agent.client, 'kpod');
      const web = http.createServer((req, res) => res.end(`pod kpod saw ${req.socket.remoteAddress}\n`));
      await new Promise<void>((resolve) => pod?.ns.tcp.createServer((s) => web.emit('connection', s)).listen(8080, resolve));
    }, 120_000);

    afterAll(async () => {
      await pod?.ns.close();
      await agent?.stop();
      if (api && api.exitCode === null) {
        const exited = new Promise<void>((r) => api?.once('exit', () => r()));
        api.kill('SIGTERM');
        await exited;
      }
      cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('the agent published the flannel annotations the kernel side needs', () => {
      const out = kubectl(['get', 'node', 'agent-node', '-o', 'jsonpath={.metadata.annotations}']);
      const a = JSON.parse(out) as Record<string, string>;
      expect(a['flannel.alpha.coreos.com/backend-type']).toBe('vxlan');
      expect(JSON.parse(a['flannel.alpha.coreos.com/backend-data'] ?? '{}')).toMatchObject({ VNI: 1 });
      expect(a['flannel.alpha.coreos.com/public-ip']).toBe(eIp);
    });

    it("the kernel pings a pod behind the agent (through the agent's flannel.1 and cni0)", async () => {
      const out = await shAsync(['ip', 'netns', 'exec', K, 'ping', '-c', '2', '-i', '0.2', '-W', '2', pod?.ip as string]);
      expect(out).toMatch(/2 packets transmitted, 2 received/);
      // The agent's host namespace forwarded the reply once: TTL 64 − 1.
      expect(out).toMatch(/ttl=63/);
    });

    it('the kernel curls the pod: a real TCP stack on one end, netstack on the other', async () => {
      const out = await shAsync(['ip', 'netns', 'exec', K, 'curl', '-s', '-m', '10', `http://${pod?.ip}:8080/`]);
      // Pod to pod inside the cluster CIDR: no masquerade (FLANNEL-POSTRTG RETURN).
      expect(out).toBe('pod kpod saw 10.244.1.0\n');
    });

    it('the pod pings the kernel node', async () => {
      const r = await pod?.ns.ping('10.244.1.0', { timeoutMs: 3000 });
      expect(r).toMatchObject({ from: '10.244.1.0', ttl: 63 });
    });
  },
);
