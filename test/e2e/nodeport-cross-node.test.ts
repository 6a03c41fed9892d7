// End to end: a pod calling ANOTHER node's IP:NodePort (process mode, 2 nodes, its own state
// directory, API port and transport addresses). On Linux the packet is not a LOCAL destination on
// the pod's node, so KUBE-SERVICES' `-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS` does not match;
// it is routed out eth0 (the node network's connected route) and flannel's POSTROUTING
// `-s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE` rewrites it to the node's IP; the other node
// then handles it in KUBE-NODEPORTS like any external client (kube-proxy pkg/proxy/iptables/proxier.go).
// Before the fix the eth0 wire had no peers under the vxlan backend and the SYN died on node-1.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '@podnet/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AGNHOST_IMAGE } from '../../packages/cli/src/cluster/demo-app.ts';
import { podExec } from '../../packages/cli/src/cluster/pod-exec.ts';
import type { ClusterRecord } from '../../packages/cli/src/cluster/state.ts';
// The client file alone: the package index would load the whole data plane into the test process.
import { CniAgentClient } from '../../packages/cni-agent/src/control/client.ts';
import { describeInterop } from '../support/interop.ts';
import { eventually, freePort, podnetRunner } from './helpers.ts';

interface Pod {
  status?: { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string }> };
}

const root = mkdtempSync(join(tmpdir(), 'podnet-e2e-npx-'));
const stateDir = join(root, 'state');
mkdirSync(root, { recursive: true });
// Transport addresses 127.<a>.<b>.N, unique per test process; a range apart from cluster.test.ts (200-249).
const prefix = `127.${150 + (process.pid % 40)}.${(process.pid >> 5) % 250}`;
const podnet = podnetRunner(stateDir);
const NODE_1_IP = '172.18.0.2';
const NODE_2_IP = '172.18.0.3';
const NODE_PORT_CLUSTER = 30180;
const NODE_PORT_LOCAL = 30181;
let client: KubeClient;
let record: ClusterRecord;
const agents = new Map<string, CniAgentClient>();
const podIPs = new Map<string, string>();

const curl = async (pod: string, url: string) => {
  const r = await podExec({
    kubeconfig: record.kubeconfig,
    namespace: 'default',
    pod,
    command: ['curl', '-s', '-m', '2', url],
    timeoutMs: 20_000,
  });
  return { exitCode: r.exitCode, body: r.stdout.trim() };
};
const filterSave = (node: string) => (agents.get(node) as CniAgentClient).iptablesSave({ table: 'filter', counters: true });
const natSave = (node: string) => (agents.get(node) as CniAgentClient).iptablesSave({ table: 'nat' });

const agnhost = (name: string, node: string, app: string) => ({
  metadata: { name, namespace: 'default', labels: { app, tier: 'web' } },
  spec: { nodeName: node, containers: [{ name: 'agnhost', image: AGNHOST_IMAGE, args: ['netexec', '--http-port=8080'] }] },
});
const toolbox = (name: string, node: string) => ({
  metadata: { name, namespace: 'default' },
  spec: { nodeName: node, containers: [{ name: 'toolbox', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
});
const nodePortService = (name: string, selector: Record<string, string>, nodePort: number, policy: 'Cluster' | 'Local') => ({
  metadata: { name, namespace: 'default' },
  spec: {
    type: 'NodePort',
    selector,
    externalTrafficPolicy: policy,
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort }],
  },
});

describeInterop('a pod calling another node’s IP:NodePort (2 nodes)', { commands: ['kubectl', 'curl'] }, () => {
  beforeAll(async () => {
    const apiPort = await freePort();
    const up = await podnet('up', '--nodes', '2', '--api-port', String(apiPort), '--transport-prefix', prefix, '--timeout', '120');
    expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
    record = (await import(join(stateDir, 'cluster.json'), { with: { type: 'json' } })).default as ClusterRecord;
    client = new KubeClient({ kubeconfig: record.kubeconfig });
    for (const n of record.nodes) agents.set(n.name, new CniAgentClient({ socketPath: n.controlSocket, timeoutMs: 10_000 }));
    expect(record.nodes.map((n) => n.nodeIp)).toEqual([NODE_1_IP, NODE_2_IP]);
    const pods = [
      agnhost('web-1', 'node-1', 'web-a'),
      agnhost('web-2', 'node-2', 'web-b'),
      toolbox('client-1', 'node-1'),
      toolbox('client-2', 'node-2'),
    ];
    for (const p of pods) await client.resource('pods').create(p as never);
    // Cluster policy: both replicas; Local policy: only web-2 (node-1 has no local endpoint).
    await client.resource('services').create(nodePortService('np-cluster', { tier: 'web' }, NODE_PORT_CLUSTER, 'Cluster') as never);
    await client.resource('services').create(nodePortService('np-local', { app: 'web-b' }, NODE_PORT_LOCAL, 'Local') as never);
    for (const p of pods) {
      const name = p.metadata.name;
      const ip = await eventually(
        `${name} running (Ready for agnhost)`,
        async () => {
          const pod = (await client.resource('pods').get(name, { namespace: 'default' })) as unknown as Pod;
          const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
          return pod.status?.phase === 'Running' && ready && pod.status.podIP ? pod.status.podIP : undefined;
        },
        90_000,
        250,
      );
      podIPs.set(name, ip);
    }
  }, 180_000);

  afterAll(async () => {
    for (const a of agents.values()) a.close();
    client?.close();
    await podnet('down', '--purge');
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('Cluster policy: node-2 answers from any endpoint, the pod source masqueraded twice (flannel on node-1, kube-proxy on node-2)', async () => {
    const url = `http://${NODE_2_IP}:${NODE_PORT_CLUSTER}`;
    const first = await eventually(
      `client-1 -> ${url}`,
      async () => {
        const r = await curl('client-1', `${url}/hostname`);
        return r.exitCode === 0 && r.body ? r.body : undefined;
      },
      30_000,
      250,
    );
    // kube-proxy's statistic chain picks 1/2 per new connection: both replicas show up within a bounded number of tries.
    const answeredBy = new Set([first]);
    for (let i = 0; i < 30 && answeredBy.size < 2; i++) {
      const r = await curl('client-1', `${url}/hostname`);
      expect(r.exitCode, `try ${i}`).toBe(0);
      answeredBy.add(r.body);
    }
    expect([...answeredBy].sort()).toEqual(['web-1', 'web-2']);
    // The endpoint sees node-2's own address on its way out (cni0 10.244.N.1 for web-2 beside it,
    // flannel.1 10.244.N.0 for web-1 back on node-1): KUBE-EXT's KUBE-MARK-MASQ + KUBE-POSTROUTING,
    // never the pod IP nor node-1's IP.
    const node2 = (await client.resource('nodes').get('node-2')) as unknown as { spec: { podCIDR: string } };
    const node2Net = node2.spec.podCIDR.replace(/\.0\/24$/, '');
    for (let i = 0; i < 4; i++) {
      const r = await curl('client-1', `${url}/clientip`);
      expect(r.exitCode).toBe(0);
      expect(r.body).toMatch(new RegExp(`^${node2Net.replace(/\./g, '\\.')}\\.[01]:\\d+$`));
    }
    // node-1 never took it for its own NodePort: no KUBE-NODEPORTS hit there for this port, and the
    // trace shows flannel's masquerade and the exit through eth0.
    const trace = await podnet('trace', '--from', 'client-1', '--to', `${NODE_2_IP}:${NODE_PORT_CLUSTER}`);
    expect(trace.exitCode, trace.stdout + trace.stderr).toBe(0);
    expect(trace.stdout).toContain('MASQUERADE in nat/FLANNEL-POSTRTG');
    expect(trace.stdout).toMatch(
      new RegExp(`routed to ${NODE_2_IP.replace(/\./g, '\\.')}:${NODE_PORT_CLUSTER} via eth0 \\(the underlay: node-2's node IP\\)`),
    );
    const node1Hop = trace.stdout.split(/^hop 2:/m)[0] as string;
    expect(node1Hop).toContain('hop 1: node-1');
    expect(node1Hop).not.toMatch(/nat:KUBE-NODEPORTS/);
  }, 120_000);

  it('Local policy: a pod source short-circuits to the Service on its own node; masqueraded across nodes it is Local traffic', async () => {
    const localUrl = (ip: string) => `http://${ip}:${NODE_PORT_LOCAL}/clientip`;
    // client-1 -> node-1 (no local endpoint): the source is still the pod IP, so KUBE-EXT's
    // `-s 10.244.0.0/16 -j KUBE-SVC-…` (kube-proxy's detect-local short-circuit) sends it to web-2,
    // unmasqueraded (KUBE-SVC's KUBE-MARK-MASQ is only for `! -s podCIDR`).
    const own = await eventually(
      'client-1 -> node-1 Local NodePort',
      async () => {
        const r = await curl('client-1', localUrl(NODE_1_IP));
        return r.exitCode === 0 && r.body ? r.body : undefined;
      },
      30_000,
      250,
    );
    expect(own).toMatch(new RegExp(`^${(podIPs.get('client-1') as string).replace(/\./g, '\\.')}:\\d+$`));
    const ext = (await natSave('node-1'))
      .split('\n')
      .find((l) => l.startsWith('-A KUBE-EXT-') && l.includes('"pod traffic for default/np-local:http external destinations"'));
    expect(ext).toMatch(/^-A KUBE-EXT-\S+ -s 10\.244\.0\.0\/16 .* -j KUBE-SVC-\S+$/);

    // client-1 -> node-2 (web-2 is local there): answered, the client seen as node-1's IP (flannel's
    // masquerade on node-1; eTP=Local adds none on node-2).
    const viaNode2 = await curl('client-1', localUrl(NODE_2_IP));
    expect(viaNode2.exitCode).toBe(0);
    expect(viaNode2.body).toMatch(new RegExp(`^${NODE_1_IP.replace(/\./g, '\\.')}:\\d+$`));

    // client-2 -> node-1 (no local endpoint): it arrives from node-2's IP, not the pod CIDR, so the
    // short-circuit does not apply; KUBE-EXT has no KUBE-SVL to jump to and filter
    // KUBE-EXTERNAL-SERVICES drops it ("has no local endpoints"): curl times out, the DROP counts.
    const dropRule = (save: string) =>
      save
        .split('\n')
        .find((l) => l.includes('"default/np-local:http has no local endpoints"') && l.includes(`--dport ${NODE_PORT_LOCAL}`));
    const before = dropRule(await filterSave('node-1'));
    expect(before).toMatch(/-A KUBE-EXTERNAL-SERVICES .*-m addrtype --dst-type LOCAL .* -j DROP$/);
    const packets = (line: string | undefined) => Number(/^\[(\d+):/.exec(line ?? '')?.[1] ?? Number.NaN);
    const dropped = await curl('client-2', localUrl(NODE_1_IP));
    expect(dropped.exitCode).toBe(28); // curl: operation timed out (a DROP, not a REJECT's refusal)
    expect(dropped.body).toBe('');
    expect(packets(dropRule(await filterSave('node-1')))).toBeGreaterThan(packets(before));
  }, 90_000);
});
