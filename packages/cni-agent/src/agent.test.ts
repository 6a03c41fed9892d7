// Two cni-agent processes (node-1 on 127.0.1.1, node-2 on 127.0.1.2) against the real API server
// process: for both backends, a pod namespace attached to node-1 pings and TCP-connects to a pod
// on node-2; `bridge fdb del` of the VTEP entry breaks the pair until the reconcile restores it;
// deleting a Node removes its routes.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeClient } from '@podnet/client';
import { IptablesProxier } from '@podnet/kube-proxy';
import { udpSegmentationState } from '@podnet/netstack';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServerProcess, startApiServerProcess } from '../../client/src/testing/apiserver-process.js';
import { type AgentProcess, attachPod, startAgentProcess, type TestPod, waitFor } from './testing/agent-process.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), `podnet-cni-agent-${process.pid}-`));
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
  await nodes.updateStatus({
    ...(created as object),
    status: {
      addresses: [
        { type: 'InternalIP', address: nodeIp },
        { type: 'Hostname', address: name },
      ],
    },
  } as never);
}

async function echoServer(pod: TestPod, port: number): Promise<void> {
  const server = pod.ns.tcp.createServer((s) => {
    s.on('data', (d: Buffer) => s.write(Buffer.concat([Buffer.from('echo:'), d])));
    s.on('end', () => s.end());
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
}

async function tcpExchange(from: TestPod, toIp: string, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = from.ns.tcp.connect({ host: toIp, port });
    let got = '';
    const timer = setTimeout(() => reject(new Error(`TCP ${toIp}:${port} timed out (got "${got}")`)), 10_000);
    s.on('connect', () => s.end(text));
    s.on('data', (d: Buffer) => {
      got += d.toString();
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

async function pingOk(pod: TestPod, ip: string, timeoutMs = 2000): Promise<boolean> {
  try {
    await pod.ns.ping(ip, { timeoutMs });
    return true;
  } catch {
    return false;
  }
}

for (const backend of ['vxlan', 'host-gw'] as const) {
  describe(`two cni-agent processes, ${backend}`, () => {
    const n = backend === 'vxlan' ? 1 : 3;
    const names = [`${backend}-node-1`, `${backend}-node-2`];
    const cidrs = [`10.244.${n}.0/24`, `10.244.${n + 1}.0/24`];
    const nodeIps = ['172.18.0.2', '172.18.0.3'];
    const transports = ['127.0.1.1', '127.0.1.2'];
    const agents: AgentProcess[] = [];
    const pods: TestPod[] = [];

    beforeAll(async () => {
      for (let i = 0; i < 2; i++) await createNode(names[i] as string, cidrs[i] as string, nodeIps[i] as string, transports[i] as string);
      for (let i = 0; i < 2; i++) {
        agents.push(
          await startAgentProcess({
            node: names[i] as string,
            kubeconfig: api.kubeconfigPath,
            transportAddress: transports[i] as string,
            nodeIp: nodeIps[i] as string,
            dir,
            backend,
            reconcileMs: 5000,
          }),
        );
      }
      for (const [i, a] of agents.entries()) {
        await waitFor(`${names[i]} ready with its peer`, async () => {
          const s = await a.client.status();
          return s.ready && s.peers.includes(names[1 - i] as string);
        });
      }
    });

    afterAll(async () => {
      for (const p of pods) await p.ns.close();
      for (const a of agents) await a.stop();
      for (const name of names)
        await kube
          .resource('nodes')
          .delete(name)
          .catch(() => {});
    });

    it('publishes the backend annotations and the pod MTU', async () => {
      const node = (await kube.resource('nodes').get(names[0] as string)) as { metadata: { annotations: Record<string, string> } };
      const a = node.metadata.annotations;
      expect(a['flannel.alpha.coreos.com/backend-type']).toBe(backend);
      expect(a['flannel.alpha.coreos.com/public-ip']).toBe('172.18.0.2');
      expect(a['podnet.dev/transport-address']).toBe('127.0.1.1');
      // Every backend publishes its eth0 wire port: the node network joins the nodes under vxlan too
      // (a pod's packet to another node's IP leaves by eth0, host/node-network-peers.ts).
      expect(a['podnet.dev/uplink-port']).toMatch(/^[1-9]\d*$/);
      const status = await agents[0]?.client.status();
      expect(status?.podCidr).toBe(cidrs[0]);
      if (backend === 'vxlan') {
        expect(JSON.parse(a['flannel.alpha.coreos.com/backend-data'] ?? '{}')).toEqual({ VNI: 1, VtepMAC: status?.vtepMac });
        expect(status?.mtu).toBe(1450);
      } else expect(status?.mtu).toBe(1500);
    });

    it('a pod on node-1 pings and TCP-connects to a pod on node-2', async () => {
      const a = await attachPod(agents[0]?.client as never, `${backend}-a`);
      const b = await attachPod(agents[1]?.client as never, `${backend}-b`);
      pods.push(a, b);
      expect(a.ip).toBe(`10.244.${n}.2`);
      expect(b.ip).toBe(`10.244.${n + 1}.2`);
      expect((a.result.interfaces as Array<{ mtu?: number }>)[2]?.mtu).toBe(backend === 'vxlan' ? 1450 : 1500);
      await echoServer(b, 8080);
      await waitFor('ping a → b', () => pingOk(a, b.ip));
      expect(await tcpExchange(a, b.ip, 8080, 'hello')).toBe('echo:hello');
      const routes = await agents[0]?.client.exec(['ip', 'route']);
      expect(routes?.stdout).toContain(
        backend === 'vxlan' ? `${cidrs[1]} via 10.244.${n + 1}.0 dev flannel.1 onlink` : `${cidrs[1]} via 172.18.0.3 dev eth0`,
      );
    });

    if (backend === 'vxlan') {
      it('a capture of flannel.1 underlay decodes in tshark as VXLAN with the inner TCP session', async () => {
        const [a, b] = pods as [TestPod, TestPod];
        const path = join(dir, 'vxlan.pcap');
        const id = await agents[0]?.client.captureStart({ iface: 'flannel.1', path, underlay: true });
        expect(await tcpExchange(a, b.ip, 8080, 'captured')).toBe('echo:captured');
        const done = await agents[0]?.client.captureStop(id as string);
        expect(done?.packets).toBeGreaterThanOrEqual(6);
        // The test agents bind free ports, so tell tshark which UDP ports are VXLAN (4789 is decoded by default).
        const decodeAs: string[] = [];
        for (const name of names) {
          const node = (await kube.resource('nodes').get(name)) as { metadata: { annotations: Record<string, string> } };
          decodeAs.push('-d', `udp.port==${node.metadata.annotations['podnet.dev/vxlan-port']},vxlan`);
        }
        const { stdout } = await run('tshark', [
          '-r',
          path,
          ...decodeAs,
          '-Y',
          'vxlan && tcp',
          '-T',
          'fields',
          '-e',
          'ip.src',
          '-e',
          'vxlan.vni',
          '-e',
          'tcp.dstport',
        ]);
        const rows = stdout.trim().split('\n');
        // Outer 172.18.0.2 → 172.18.0.3, VNI 1, inner port 8080 (ip.src lists outer then inner).
        expect(
          rows.some((r) => /^172\.18\.0\.2,10\.244\.1\.2\t1\t8080$/.test(r)),
          stdout,
        ).toBe(true);
      });

      it('bridge fdb del of the VTEP entry breaks the pair until the reconcile restores it', async () => {
        const [a, b] = pods as [TestPod, TestPod];
        const agent = agents[0] as AgentProcess;
        const fdb = (await agent.client.exec(['bridge', 'fdb', 'show'])).stdout;
        const line = fdb.split('\n').find((l) => l.includes('dev flannel.1 dst 172.18.0.3'));
        expect(line, fdb).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2} dev flannel\.1 dst 172\.18\.0\.3 self permanent$/);
        const mac = (line as string).split(' ')[0] as string;
        // Delete right after a reconcile, so the next one is seconds away.
        await waitFor('a fresh reconcile period', async () => (await agent.client.status()).nextReconcileMs > 3500, 10_000, 20);
        const del = await agent.client.exec(['bridge', 'fdb', 'del', mac, 'dev', 'flannel.1']);
        expect(del.exitCode, del.stderr).toBe(0);
        expect(await pingOk(a, b.ip, 1000)).toBe(false);
        expect((await agent.client.exec(['bridge', 'fdb', 'show'])).stdout).not.toContain(mac);
        await waitFor(
          'the agent restores the FDB entry',
          async () => (await agent.client.exec(['bridge', 'fdb', 'show'])).stdout.includes(mac),
          15_000,
        );
        await waitFor('ping a → b again', () => pingOk(a, b.ip));
        expect(agent.logs()).toContain('restored backend state for remote node');
      });

      it('ethtool -k / -K shows and switches the offloads of the node links, and refuses a fixed one', async () => {
        const agent = agents[0] as AgentProcess;
        // flannel.1 takes super-frames whole where its socket has UDP GSO (the addon), else it cannot.
        const tso = udpSegmentationState().available ? 'on' : 'off [fixed]';
        const show = await agent.client.exec(['ethtool', '-k', 'flannel.1']);
        expect(show.stdout).toBe(
          `Features for flannel.1:\ntcp-segmentation-offload: ${tso}\ngeneric-segmentation-offload: on [fixed]\ngeneric-receive-offload: on\n`,
        );
        expect((await agent.client.exec(['ethtool', '-k', 'cni0'])).stdout).toContain('tcp-segmentation-offload: on\n');
        const fixed = await agent.client.exec(['ethtool', '-K', 'flannel.1', 'gro', 'off', 'gso', 'off']);
        expect(fixed.exitCode).toBe(1);
        expect(fixed.stderr).toBe('Cannot change generic-segmentation-offload\nCould not change any device features\n');
        // Nothing of the refused request was applied.
        expect((await agent.client.exec(['ethtool', '-k', 'flannel.1'])).stdout).toContain('generic-receive-offload: on\n');
        expect((await agent.client.exec(['ethtool', '-K', 'flannel.1', 'gro', 'off'])).exitCode).toBe(0);
        expect((await agent.client.exec(['ethtool', '-k', 'flannel.1'])).stdout).toContain('generic-receive-offload: off\n');
        expect((await agent.client.exec(['ethtool', '-K', 'flannel.1', 'gro', 'on'])).exitCode).toBe(0);
        if (tso === 'on') {
          expect((await agent.client.exec(['ethtool', '-K', 'flannel.1', 'tso', 'off'])).exitCode).toBe(0);
          expect((await agent.client.exec(['ethtool', '-k', 'flannel.1'])).stdout).toContain('tcp-segmentation-offload: off\n');
          expect((await agent.client.exec(['ethtool', '-K', 'flannel.1', 'tso', 'on'])).exitCode).toBe(0);
        }
        const missing = await agent.client.exec(['ethtool', '-k', 'eth9']);
        expect([missing.exitCode, missing.stderr]).toEqual([1, 'netlink error: no device matches name (eth9)\n']);
      });
    }

    it('same node over cni0, a ClusterIP Service and a NodePort to the pod on node-2 (kube-proxy rules on node-1)', async () => {
      const [a, b] = pods as [TestPod, TestPod];
      const a2 = await attachPod(agents[0]?.client as never, `${backend}-a2`);
      pods.push(a2);
      await waitFor('ping a → a2 over cni0', () => pingOk(a, a2.ip));
      const svc = (await kube.resource('services').create({
        metadata: { name: `${backend}-echo`, namespace: 'default' },
        spec: { type: 'NodePort', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] },
      } as never)) as { spec: { clusterIP: string; ports: Array<{ nodePort: number }> } };
      const proxier = new IptablesProxier({
        ...(agents[0] as AgentProcess).client.proxierHooks(),
        hostname: names[0] as string,
        nodeIP: '172.18.0.2',
        clusterCIDR: '10.244.0.0/16',
        registry: new Registry(),
        minSyncPeriodMs: 10,
      });
      try {
        proxier.onServiceAdd(svc as never);
        proxier.onEndpointSliceAdd({
          metadata: { name: `${backend}-echo-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': `${backend}-echo` } },
          addressType: 'IPv4',
          endpoints: [{ addresses: [b.ip], conditions: { ready: true }, nodeName: names[1] }],
          ports: [{ name: '', port: 8080, protocol: 'TCP' }],
        } as never);
        proxier.onServicesSynced();
        proxier.onEndpointSlicesSynced();
        proxier.start();
        await waitFor('rules', async () => (await agents[0]?.client.iptablesSave({ table: 'nat' }))?.includes(`${svc.spec.clusterIP}/32`));
        // Pod → ClusterIP on node-1 → DNAT → the backend → pod on node-2, replies un-DNATed by conntrack.
        expect(await tcpExchange(a, svc.spec.clusterIP, 80, 'via service')).toBe('echo:via service');
        // Real client → node-1's NodePort → masqueraded → pod on node-2.
        const port = svc.spec.ports[0]?.nodePort as number;
        await waitFor('listener', async () => ((await agents[0]?.client.status())?.nodePorts ?? 0) >= 1);
        const reply = await new Promise<string>((resolve, reject) => {
          const c = netConnect({ host: '127.0.1.1', port }, () => c.end('from outside'));
          let got = '';
          c.on('data', (d: Buffer) => {
            got += d.toString();
          });
          c.on('close', () => resolve(got));
          c.on('error', reject);
        });
        expect(reply).toBe('echo:from outside');
      } finally {
        proxier.stop();
        await kube
          .resource('services')
          .delete(`${backend}-echo`, { namespace: 'default' } as never)
          .catch(() => {});
      }
    });

    it('deleting node-2 removes its routes on node-1', async () => {
      await kube.resource('nodes').delete(names[1] as string);
      await waitFor(
        'route to node-2 gone',
        async () => !(await agents[0]?.client.exec(['ip', 'route']))?.stdout.includes(cidrs[1] as string),
      );
      const s = await agents[0]?.client.status();
      expect(s?.peers).not.toContain(names[1]);
      if (backend === 'vxlan') expect((await agents[0]?.client.exec(['bridge', 'fdb', 'show']))?.stdout).not.toContain('dst 172.18.0.3');
    });
  });
}
