// The policy agent a cni-agent process hosts runs with the --netpol-min-sync-period and
// --netpol-sync-period it was given (what `podnet up` passes to every node), and says so once
// enforcing; without the flags it runs with netpol's defaults (100 ms least interval, 30 s periodic sync).
// A real cni-agent process against the real API server process; with a 0 least interval a policy
// created through the API is in its netfilter table (iptables-save over the control socket).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '@podnet/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServerProcess, startApiServerProcess } from '../../../client/src/testing/apiserver-process.js';
import { type AgentProcess, startAgentProcess, waitFor } from '../testing/agent-process.js';

const dir = mkdtempSync(join(tmpdir(), `podnet-cni-minsync-${process.pid}-`));
const ENFORCING = 'netpol: policies, pods and namespaces listed; enforcing';
let api: ApiServerProcess;
let kube: KubeClient;
const agents: AgentProcess[] = [];

/** The JSON log line of the agent saying it enforces, parsed. */
function enforcingLine(agent: AgentProcess): { minSyncPeriodMs?: number; syncPeriodMs?: number } | undefined {
  const line = agent
    .logs()
    .split('\n')
    .find((l) => l.includes(ENFORCING));
  return line === undefined ? undefined : JSON.parse(line);
}

beforeAll(async () => {
  api = await startApiServerProcess();
  kube = new KubeClient({ kubeconfig: api.kubeconfigPath });
  const nodes = kube.resource('nodes');
  for (const [i, name] of ['ms-node-1', 'ms-node-2'].entries()) {
    const created = await nodes.create({
      metadata: { name, annotations: { 'podnet.dev/transport-address': `127.0.1.${7 + i}` } },
      spec: { podCIDR: `10.244.${31 + i}.0/24`, podCIDRs: [`10.244.${31 + i}.0/24`] },
    } as never);
    await nodes.updateStatus({
      ...(created as object),
      status: { addresses: [{ type: 'InternalIP', address: `172.18.0.${2 + i}` }] },
    } as never);
  }
  const common = { kubeconfig: api.kubeconfigPath, dir, backend: 'vxlan' as const, reconcileMs: 5000 };
  agents.push(
    await startAgentProcess({
      ...common,
      node: 'ms-node-1',
      transportAddress: '127.0.1.7',
      nodeIp: '172.18.0.2',
      extraArgs: ['--netpol-min-sync-period', '0', '--netpol-sync-period', '45s'],
    }),
    await startAgentProcess({ ...common, node: 'ms-node-2', transportAddress: '127.0.1.8', nodeIp: '172.18.0.3' }),
  );
}, 90_000);

afterAll(async () => {
  for (const a of agents) await a.stop();
  kube?.close();
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('cni-agent --netpol-min-sync-period and --netpol-sync-period', () => {
  it('reach the policy agent: it enforces with the periods given, or with the defaults', async () => {
    await waitFor('both agents enforcing', async () => agents.every((a) => enforcingLine(a) !== undefined));
    expect(enforcingLine(agents[0] as AgentProcess)).toMatchObject({ minSyncPeriodMs: 0, syncPeriodMs: 45_000, component: 'cni-agent' });
    expect(enforcingLine(agents[1] as AgentProcess)).toMatchObject({ minSyncPeriodMs: 100, syncPeriodMs: 30_000 });
  });

  it('with 0, a policy created through the API lands in the node table', async () => {
    await kube.resource('namespaces').create({ metadata: { name: 'ms' } } as never);
    await kube.resource('pods').create(
      {
        metadata: { namespace: 'ms', name: 'web', labels: { app: 'web' } },
        spec: { nodeName: 'ms-node-1', containers: [{ name: 'c', image: 'podnet/agnhost' }] },
      } as never,
      { namespace: 'ms' },
    );
    const pod = await kube.resource('pods').get('web', { namespace: 'ms' });
    await kube
      .resource('pods')
      .updateStatus({ ...(pod as object), status: { phase: 'Running', podIP: '10.244.31.9', podIPs: [{ ip: '10.244.31.9' }] } } as never, {
        namespace: 'ms',
      });
    await kube.resource('networkpolicies').create(
      {
        metadata: { namespace: 'ms', name: 'from-tests' },
        spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.200.7.0/24' } }] }] },
      } as never,
      { namespace: 'ms' },
    );
    const agent = agents[0] as AgentProcess;
    await waitFor('the policy in ms-node-1 table', async () =>
      (await agent.client.iptablesSave({ table: 'filter' })).includes(
        '-s 10.200.7.0/24 -m comment --comment "ms/from-tests ingress rule 0: allow"',
      ),
    );
  });
});
