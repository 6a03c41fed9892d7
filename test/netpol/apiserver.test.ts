// The agent fed by real informers (@podnet/client, protobuf watch frames by default) from the real
// API server process: NetworkPolicies, Pods and Namespaces created, relabelled and deleted through
// the API take effect in the node's rule engine, probed with NEW packets. This also checks that
// the protobuf projection keeps what NetworkPolicy semantics need (empty selectors, named ports).
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer, KubeClient, type KubeObject } from '../../packages/client/src/index.ts';
import { type ApiServerProcess, startApiServerProcess } from '../../packages/client/src/testing/apiserver-process.ts';
import { Conntrack, Netfilter } from '../../packages/netfilter/src/index.ts';
import { TCP, tcpPacket } from '../../packages/netfilter/src/testing/conntrack-packets.ts';
import { connectInformers, type Namespace, type NetworkPolicy, type Pod, PolicyAgent } from '../../packages/netpol/src/index.ts';
import { systemClock } from '../../packages/wire/src/index.ts';

let api: ApiServerProcess;
let kube: KubeClient;
const informers: Array<Informer<KubeObject>> = [];
let agent: PolicyAgent;
const conntrack = new Conntrack({ clock: systemClock, gcIntervalMs: 0 });
const nf = new Netfilter({ clock: systemClock, conntrack });
const IPS: Record<string, string> = { 'x/a': '10.244.1.10', 'x/b': '10.244.1.11', 'y/a': '10.244.1.12' };
let sport = 20000;

function probe(from: string, to: string, port = 80): boolean {
  const p = tcpPacket({ src: IPS[from] as string, sport: sport++, dst: IPS[to] as string, dport: port, flags: TCP.SYN, seq: 1 });
  const ctx = {
    hook: 'FORWARD' as const,
    bridged: true,
    inInterface: 'cni0',
    outInterface: 'cni0',
    isLocalAddress: () => false,
    interfaceAddress: () => undefined,
  };
  return nf.run('FORWARD', p, ctx, { mark: 0, trace: false }).kind === 'accept';
}

async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`not within ${ms} ms: ${what}\n${nf.save({ table: 'filter' })}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  api = await startApiServerProcess();
  kube = new KubeClient({ kubeconfig: api.kubeconfigPath });
  for (const name of ['x', 'y']) await kube.resource('namespaces').create({ metadata: { name, labels: { ns: name } } } as never);
  for (const [key, ip] of Object.entries(IPS)) {
    const [namespace, name] = key.split('/') as [string, string];
    const pods = kube.resource('pods');
    const created = await pods.create(
      {
        metadata: { namespace, name, labels: { pod: name } },
        spec: {
          nodeName: 'node-1',
          containers: [{ name: 'c', image: 'podnet/agnhost', ports: [{ name: 'serve-80-tcp', containerPort: 80, protocol: 'TCP' }] }],
        },
      } as never,
      { namespace },
    );
    await pods.updateStatus({ ...(created as object), status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } as never, { namespace });
  }
  agent = new PolicyAgent({
    node: 'node-1',
    registry: new Registry(),
    apply: async (payload, o) => void nf.restore(payload, o),
    iptablesSave: async () => nf.save({ table: 'filter', counters: true }),
  });
  const policyInformer = new Informer(kube.resource('networkpolicies'), { component: 'netpol-test' });
  const podInformer = new Informer(kube.resource('pods'), { component: 'netpol-test' });
  const nsInformer = new Informer(kube.resource('namespaces'), { component: 'netpol-test' });
  informers.push(policyInformer, podInformer, nsInformer);
  for (const i of informers) i.start();
  agent.start();
  await connectInformers(agent, {
    policies: policyInformer as unknown as Informer<KubeObject & NetworkPolicy>,
    pods: podInformer as unknown as Informer<KubeObject & Pod>,
    namespaces: nsInformer as unknown as Informer<KubeObject & Namespace>,
  });
});

afterAll(async () => {
  agent?.stop();
  for (const i of informers) await i.stop();
  kube?.close();
  await api?.stop();
});

describe('PolicyAgent with informers on the real API server', () => {
  it('policy create, namespace relabel, pod relabel and delete take effect on the node', async () => {
    await waitFor('the agent installed its chains', () => nf.save({ table: 'filter' }).includes('-j PODNET-POLICY'));
    expect(probe('y/a', 'x/a')).toBe(true);
    const policies = kube.resource('networkpolicies');
    await policies.create(
      {
        metadata: { namespace: 'x', name: 'a-from-y' },
        spec: {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 'serve-80-tcp' }] }],
        },
      } as never,
      { namespace: 'x' },
    );
    await waitFor('x/b denied to x/a', () => !probe('x/b', 'x/a'));
    expect(probe('y/a', 'x/a')).toBe(true);
    expect(probe('y/a', 'x/a', 81)).toBe(false);

    await kube.resource('namespaces').patch('y', { metadata: { labels: { ns: 'y-moved' } } }, { type: 'merge' });
    await waitFor('y/a denied after the namespace relabel', () => !probe('y/a', 'x/a'));

    // An empty podSelector peer ({}: every pod of the namespace) must survive the watch encoding.
    await policies.create(
      { metadata: { namespace: 'x', name: 'same-ns' }, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] } } as never,
      { namespace: 'x' },
    );
    await waitFor('x/b allowed to x/a by same-ns', () => probe('x/b', 'x/a'));
    expect(probe('y/a', 'x/a')).toBe(false);

    await policies.delete('same-ns', { namespace: 'x' });
    await policies.delete('a-from-y', { namespace: 'x' });
    await waitFor('open again after the deletes', () => probe('y/a', 'x/a') && probe('x/b', 'x/a'));
    expect(nf.save({ table: 'filter' })).not.toMatch(/PODNET-P[IE]-/);

    // A pod relabelled into a policy's podSelector becomes isolated, and free again when relabelled out.
    await policies.create(
      {
        metadata: { namespace: 'x', name: 'locked' },
        spec: { podSelector: { matchLabels: { role: 'locked' } }, policyTypes: ['Ingress'] },
      } as never,
      { namespace: 'x' },
    );
    await waitFor(
      'the locked policy is rendered',
      () => (agent.lastOutcome?.rendered?.isolated.ingress.length ?? -1) === 0 && probe('y/a', 'x/a'),
    );
    const pods = kube.resource('pods');
    await pods.patch('a', { metadata: { labels: { role: 'locked' } } }, { namespace: 'x', type: 'merge' });
    await waitFor('x/a isolated after its relabel', () => !probe('y/a', 'x/a'));
    await pods.patch('a', { metadata: { labels: { role: null } } }, { namespace: 'x', type: 'merge' });
    await waitFor('x/a free after the label is removed', () => probe('y/a', 'x/a'));
  });
});
