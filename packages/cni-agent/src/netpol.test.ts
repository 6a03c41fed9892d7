// NetworkPolicy hosted in the cni-agent (issue 8): two cni-agent processes against the real API
// server process, a pod on each node (netstack namespaces attached through CNI ADD, with Pod
// objects carrying their IPs). A default-deny ingress policy created through the API makes a TCP
// connect from node-1's pod to node-2's time out (DROP, no reset), the rendered PODNET-* chains
// show in iptables-save over the control socket, /metrics serves the agent's metrics, a
// kube-proxy-style restore that prepends a FORWARD jump gets the policy jump put back first at
// once (not after the 30 s periodic sync), and deleting the policy restores reachability.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '@podnet/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServerProcess, startApiServerProcess } from '../../client/src/testing/apiserver-process.js';
import { type AgentProcess, attachPod, startAgentProcess, type TestPod, waitFor } from './testing/agent-process.js';

const dir = mkdtempSync(join(tmpdir(), `podnet-cni-netpol-${process.pid}-`));
const NS = 'np';
const names = ['np-node-1', 'np-node-2'];
const cidrs = ['10.244.21.0/24', '10.244.22.0/24'];
const nodeIps = ['172.18.0.2', '172.18.0.3'];
const transports = ['127.0.1.5', '127.0.1.6'];
let api: ApiServerProcess;
let kube: KubeClient;
const agents: AgentProcess[] = [];
const pods: TestPod[] = [];

type Outcome = { kind: 'exchanged'; text: string } | { kind: 'timeout' } | { kind: 'error'; message: string };

/** One TCP exchange from a pod; `timeout` when no SYN-ACK (and no RST) came back within timeoutMs. */
function tcpTry(from: TestPod, toIp: string, port: number, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = from.ns.tcp.connect({ host: toIp, port });
    let got = '';
    let connected = false;
    const timer = setTimeout(() => {
      if (!connected) {
        s.destroy();
        resolve({ kind: 'timeout' });
      }
    }, timeoutMs);
    s.on('connect', () => {
      connected = true;
      s.end('ping');
    });
    s.on('data', (d: Buffer) => {
      got += d.toString();
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      resolve({ kind: 'error', message: e.message });
    });
    s.on('close', () => {
      clearTimeout(timer);
      if (connected) resolve({ kind: 'exchanged', text: got });
    });
  });
}

async function createNode(name: string, podCIDR: string, nodeIp: string, transport: string): Promise<void> {
  const nodes = kube.resource('nodes');
  const created = await nodes.create({
    metadata: { name, annotations: { 'podnet.dev/transport-address': transport } },
    spec: { podCIDR, podCIDRs: [podCIDR] },
  } as never);
  await nodes.updateStatus({ ...(created as object), status: { addresses: [{ type: 'InternalIP', address: nodeIp }] } } as never);
}

async function createPodObject(name: string, node: string, ip: string): Promise<void> {
  const r = kube.resource('pods');
  const created = await r.create(
    {
      metadata: { namespace: NS, name, labels: { pod: name } },
      spec: { nodeName: node, containers: [{ name: 'c', image: 'podnet/agnhost' }] },
    } as never,
    { namespace: NS },
  );
  await r.updateStatus({ ...(created as object), status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } as never, { namespace: NS });
}

beforeAll(async () => {
  api = await startApiServerProcess();
  kube = new KubeClient({ kubeconfig: api.kubeconfigPath });
  for (let i = 0; i < 2; i++) await createNode(names[i] as string, cidrs[i] as string, nodeIps[i] as string, transports[i] as string);
  for (let i = 0; i < 2; i++) {
    agents.push(
      await startAgentProcess({
        node: names[i] as string,
        kubeconfig: api.kubeconfigPath,
        transportAddress: transports[i] as string,
        nodeIp: nodeIps[i] as string,
        dir,
        backend: 'vxlan',
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
  const a = await attachPod(agents[0]?.client as never, 'np-a');
  const b = await attachPod(agents[1]?.client as never, 'np-b');
  pods.push(a, b);
  const server = b.ns.tcp.createServer((s) => {
    s.on('data', (d: Buffer) => s.write(Buffer.concat([Buffer.from('echo:'), d])));
    s.on('end', () => s.end());
  });
  await new Promise<void>((resolve) => server.listen(8080, resolve));
  await kube.resource('namespaces').create({ metadata: { name: NS, labels: { ns: NS } } } as never);
  await createPodObject('a', names[0] as string, a.ip);
  await createPodObject('b', names[1] as string, b.ip);
}, 90_000);

afterAll(async () => {
  for (const p of pods) await p.ns.close();
  for (const a of agents) await a.stop();
  kube?.close();
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('NetworkPolicy enforced by the cni-agent', () => {
  const save = async (i: number) => (await agents[i]?.client.iptablesSave({ table: 'filter' })) ?? '';
  const firstForward = (text: string) => text.split('\n').find((l) => l.startsWith('-A FORWARD '));

  it('pods reach each other while no policy selects them', async () => {
    const [a, b] = pods as [TestPod, TestPod];
    await waitFor('a → b over TCP', async () => {
      const r = await tcpTry(a, b.ip, 8080, 2000);
      return r.kind === 'exchanged' && r.text === 'echo:ping';
    });
    // The agent has synced (all informers listed): its jump is FORWARD's first rule, no pod chains yet.
    await waitFor('policy jump installed on node-2', async () => firstForward(await save(1))?.includes('-j PODNET-POLICY'));
    expect(await save(1)).not.toMatch(/:PODNET-PI-/);
  });

  it('a default-deny ingress policy makes a connect time out (DROP); its chains show in iptables-save', async () => {
    const [a, b] = pods as [TestPod, TestPod];
    await kube
      .resource('networkpolicies')
      .create({ metadata: { namespace: NS, name: 'deny-ingress' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } } as never, {
        namespace: NS,
      });
    const saved = await waitFor('PODNET-PI chain for b on node-2', async () => {
      const t = await save(1);
      return /:PODNET-PI-/.test(t) ? t : undefined;
    });
    expect(firstForward(saved)).toBe('-A FORWARD -m comment --comment "podnet network policy" -j PODNET-POLICY');
    expect(saved).toMatch(
      new RegExp(`-A PODNET-POLICY -d ${b.ip.replace(/\./g, '\\.')}/32 -m comment --comment "np/b ingress" -j PODNET-PI-[A-Z2-7]{16}`),
    );
    expect(saved).toMatch(/-A PODNET-PI-[A-Z2-7]{16} -m comment --comment "np\/b default deny ingress" -j DROP/);
    // Each node renders for the pods it hosts: node-1 isolates a (podSelector {}), never b.
    const node1 = await waitFor('a isolated on node-1', async () => {
      const t = await save(0);
      return t.includes('"np/a default deny ingress" -j DROP') ? t : undefined;
    });
    expect(node1).not.toContain('np/b');
    expect(node1).not.toMatch(/:PODNET-PE-/);
    expect(await tcpTry(a, b.ip, 8080, 3000)).toEqual({ kind: 'timeout' });
    // The drop counter moved, and /metrics on node-2 serves the policy agent's metrics.
    const counted = await save(1).then(() => agents[1]?.client.iptablesSave({ table: 'filter', counters: true }));
    expect(counted).toMatch(/\[[1-9]\d*:\d+\] -A PODNET-PI-[A-Z2-7]{16} .*default deny ingress" -j DROP/);
    const url = /"metrics":"(http:\/\/127\.0\.1\.6:\d+\/metrics)"/.exec(agents[1]?.logs() ?? '')?.[1] as string;
    const metrics = await (await fetch(url)).text();
    expect(metrics).toMatch(/podnet_netpol_isolated_pods\{direction="ingress",component="cni-agent",node="np-node-2"\} 1/);
    expect(metrics).toMatch(/podnet_netpol_dropped_packets_total\{policy="np\/deny-ingress",direction="ingress",[^}]*\} [1-9]/);
  });

  it('a restore over the control socket (kube-proxy) that prepends a FORWARD jump gets the policy jump back first at once', async () => {
    const client = agents[1]?.client;
    await client?.iptablesRestore(
      '*filter\n:KUBE-FORWARD - [0:0]\n-I FORWARD 1 -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD\nCOMMIT\n',
      {
        noflush: true,
      },
    );
    // The periodic sync is 30 s; the agent syncs after the restore, so this holds within a few seconds.
    await waitFor('PODNET-POLICY first in FORWARD again', async () => firstForward(await save(1))?.includes('-j PODNET-POLICY'), 5000);
    expect(await save(1)).toContain('-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD');
  });

  it('deleting the policy restores reachability and removes the pod chains', async () => {
    const [a, b] = pods as [TestPod, TestPod];
    await kube.resource('networkpolicies').delete('deny-ingress', { namespace: NS });
    await waitFor('PODNET-PI chain gone on node-2', async () => !/:PODNET-PI-/.test(await save(1)));
    expect(await tcpTry(a, b.ip, 8080, 3000)).toEqual({ kind: 'exchanged', text: 'echo:ping' });
  });
});
