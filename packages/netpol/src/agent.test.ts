// The policy agent against a real rule engine (packages/netfilter) standing in for the node:
// apply() is its iptables-restore, iptablesSave() its iptables-save -c, so the agent's payloads,
// stale-chain deletion, jump handling and drop counters are checked on rules that really exist.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Conntrack, Netfilter } from '../../netfilter/src/index.js';
import { TCP, tcpPacket } from '../../netfilter/src/testing/conntrack-packets.js';
import { FakeClock } from '../../wire/src/testing/fake-clock.js';
import { PolicyAgent, readSavedPolicyState } from './agent.js';
import { POLICY_CHAIN, podIngressChain } from './chain-names.js';
import { NetpolError } from './errors.js';
import type { Namespace, NetworkPolicy, Pod } from './types.js';

const ns = (name: string): Namespace => ({ metadata: { name, labels: { ns: name } } });
const pod = (namespace: string, name: string, ip: string, node = 'node-1'): Pod => ({
  metadata: { namespace, name, labels: { pod: name } },
  spec: { nodeName: node, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] },
  status: { phase: 'Running', podIP: ip },
});
const denyAll = (namespace: string): NetworkPolicy => ({ metadata: { namespace, name: 'deny-all' }, spec: { podSelector: {} } });
/** Ingress to x/<pod> from 10.200.<n>.0/24. */
const allowTo = (target: string, n: number): NetworkPolicy => ({
  metadata: { namespace: 'x', name: `allow-${target}-${n}` },
  spec: { podSelector: { matchLabels: { pod: target } }, ingress: [{ from: [{ ipBlock: { cidr: `10.200.${n}.0/24` } }] }] },
});
/** The chains a payload declares (writes or deletes), in order. */
const declared = (payload: string | undefined) =>
  (payload ?? '').split('\n').flatMap((l) => (l.startsWith(':') ? [l.slice(1).split(' ')[0]] : []));
const metricCount = async (registry: Registry, name: string) => {
  const m = new RegExp(`^${name}_count (\\d+)$`, 'm').exec(await registry.metrics());
  return m ? Number(m[1]) : Number.NaN;
};

function setup(options: { withSave?: boolean } = {}) {
  const clock = new FakeClock(0);
  const nf = new Netfilter({ clock, conntrack: new Conntrack({ clock, gcIntervalMs: 0 }) });
  nf.restore(
    '*filter\n:KUBE-FORWARD - [0:0]\n-A FORWARD -j KUBE-FORWARD\n-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT\nCOMMIT\n',
  );
  const applied: string[] = [];
  /** Whether each iptables-save asked for counters (-c). */
  const saves: boolean[] = [];
  let failNext = false;
  const registry = new Registry();
  const agent = new PolicyAgent({
    node: 'node-1',
    clock,
    registry,
    minSyncPeriodMs: 100,
    syncPeriodMs: 10_000,
    apply: async (payload, { noflush }) => {
      if (failNext) {
        failNext = false;
        throw new Error('iptables-restore: line 3 failed');
      }
      applied.push(payload);
      nf.restore(payload, { noflush });
    },
    ...(options.withSave === false
      ? {}
      : {
          iptablesSave: async ({ counters }: { counters: boolean }) => {
            saves.push(counters);
            return nf.save({ table: 'filter', counters });
          },
        }),
  });
  const feed = () => {
    agent.onNamespaceAdd(ns('x'));
    agent.onPodAdd(pod('x', 'a', '10.244.1.10'));
    agent.onPodAdd(pod('x', 'b', '10.244.1.11'));
    agent.onPodAdd(pod('x', 'c', '10.244.2.12', 'node-2'));
    agent.onNamespacesSynced();
    agent.onPodsSynced();
    agent.onPoliciesSynced();
  };
  const forward = (src: string, dst: string, sport: number) => {
    const p = tcpPacket({ src, sport, dst, dport: 80, flags: TCP.SYN, seq: 1 });
    const ctx = {
      hook: 'FORWARD' as const,
      bridged: true,
      inInterface: 'cni0',
      outInterface: 'cni0',
      isLocalAddress: () => false,
      interfaceAddress: () => undefined,
    };
    return nf.run('FORWARD', p, ctx, { mark: 0, trace: false }).kind;
  };
  return { clock, nf, agent, applied, saves, registry, feed, forward, failOnce: () => (failNext = true) };
}

const settle = async (agent: PolicyAgent, clock: FakeClock, ms = 0) => {
  await agent.runner.settled();
  if (ms > 0) clock.advance(ms);
  await agent.runner.settled();
};

describe('PolicyAgent', () => {
  it('does not apply anything before policies, pods and namespaces are all listed', async () => {
    const { agent, applied, clock } = setup();
    agent.start();
    agent.onPolicyAdd(denyAll('x'));
    agent.onPodsSynced();
    agent.onNamespacesSynced();
    await settle(agent, clock, 1000);
    expect(applied).toEqual([]);
    expect(agent.initialized).toBe(false);
    agent.stop();
  });

  it('applies the policy payload with --noflush, puts its jump first in FORWARD, and enforces it', async () => {
    const { agent, applied, clock, nf, feed, forward } = setup();
    agent.start();
    feed();
    agent.onPolicyAdd(denyAll('x'));
    await settle(agent, clock, 200);
    expect(applied.length).toBeGreaterThan(0);
    const saved = nf.save({ table: 'filter' });
    expect(saved.split('\n').filter((l) => l.startsWith('-A FORWARD'))[0]).toBe(
      '-A FORWARD -m comment --comment "podnet network policy" -j PODNET-POLICY',
    );
    expect(saved).toContain('-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT');
    for (const p of applied) expect(p).not.toMatch(/KUBE-|FLANNEL-/);
    expect(forward('10.244.1.11', '10.244.1.10', 30000)).toBe('drop');
    agent.stop();
  });

  it('drops no-op changes and coalesces bursts into few syncs', async () => {
    const { agent, applied, clock, feed } = setup();
    agent.start();
    feed();
    await settle(agent, clock, 200);
    const before = applied.length;
    const a = pod('x', 'a', '10.244.1.10');
    agent.onPodUpdate(a, { ...a, metadata: { ...a.metadata, resourceVersion: '99' }, status: { ...a.status, phase: 'Running' } });
    expect(agent.tracker.pendingCount).toBe(0);
    await settle(agent, clock, 200);
    expect(applied.length).toBe(before);
    for (let i = 0; i < 50; i++)
      agent.onPolicyAdd({ metadata: { namespace: 'x', name: `p${i}` }, spec: { podSelector: { matchLabels: { pod: 'a' } } } });
    await settle(agent, clock, 150);
    await settle(agent, clock, 150);
    expect(applied.length - before).toBeLessThanOrEqual(3);
    const drops = [...(agent.lastOutcome?.rendered?.drops.values() ?? [])];
    expect(drops.map((d) => d.pod)).toEqual(['x/a']);
    expect(drops[0]?.policies).toHaveLength(50);
    agent.stop();
  });

  it('deletes stale chains and re-inserts its jump when kube-proxy prepended its own', async () => {
    const { agent, clock, nf, feed } = setup();
    agent.start();
    feed();
    agent.onPolicyAdd(denyAll('x'));
    await settle(agent, clock, 200);
    expect(readSavedPolicyState(nf.save({ table: 'filter' })).chains.length).toBe(3);
    nf.iptables('-I FORWARD 1 -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD');
    agent.onPolicyDelete(denyAll('x'));
    await settle(agent, clock, 200);
    const state = readSavedPolicyState(nf.save({ table: 'filter' }));
    expect(state.chains).toEqual(['PODNET-POLICY']);
    expect(state.jumpPosition).toBe(1);
    expect(nf.save({ table: 'filter' }).match(/-j PODNET-POLICY/g)).toHaveLength(1);
    agent.stop();
  });

  it('writes only the chains whose rules changed (a partial sync), and every chain on the first sync', async () => {
    const { agent, clock, nf, feed, registry } = setup();
    agent.start();
    feed();
    agent.onPolicyAdd(denyAll('x'));
    await settle(agent, clock, 200);
    expect(agent.lastOutcome?.full).toBe(true);
    const all = agent.lastOutcome?.rendered?.chains ?? [];
    expect(declared(agent.lastOutcome?.payload)).toEqual(all);
    // x/a gets an allow rule: its ingress chain and the new peer chain change; x/b's chain and the top chain do not.
    agent.onPolicyAdd(allowTo('a', 1));
    await settle(agent, clock, 200);
    const o = agent.lastOutcome;
    expect(o?.ok).toBe(true);
    expect(o?.full).toBe(false);
    const written = declared(o?.payload);
    expect(written).toContain(podIngressChain('x/a'));
    expect(written).not.toContain(podIngressChain('x/b'));
    expect(written).not.toContain(POLICY_CHAIN);
    expect(written.filter((n) => n?.startsWith('PODNET-PP-'))).toHaveLength(1);
    expect(o?.payload).not.toContain('-I FORWARD');
    // The node holds the union: the untouched chains are still there and the new rule is in force.
    const saved = nf.save({ table: 'filter' });
    expect(saved).toContain('x/b default deny ingress');
    expect(saved).toContain('-s 10.200.1.0/24 -m comment --comment "x/allow-a-1 ingress rule 0: allow"');
    // Deleting it deletes the peer chain (-X) and rewrites x/a's chain only.
    agent.onPolicyDelete(allowTo('a', 1));
    await settle(agent, clock, 200);
    expect(agent.lastOutcome?.deleted).toHaveLength(1);
    expect(agent.lastOutcome?.payload).toContain(`-X ${agent.lastOutcome?.deleted?.[0]}`);
    expect(agent.lastOutcome?.written).toEqual([podIngressChain('x/a')]);
    expect(readSavedPolicyState(nf.save({ table: 'filter' })).chains.sort()).toEqual([...all].sort());
    expect(await metricCount(registry, 'podnet_netpol_sync_full_duration_seconds')).toBe(1);
    expect(await metricCount(registry, 'podnet_netpol_sync_partial_duration_seconds')).toBe(2);
    agent.stop();
  });

  it('restores nothing when nothing changed, and reads iptables-save without counters then', async () => {
    const { agent, clock, feed, applied, saves, registry } = setup();
    agent.start();
    feed();
    agent.onPolicyAdd(denyAll('x'));
    await settle(agent, clock, 200);
    const before = applied.length;
    saves.length = 0;
    agent.sync(); // what kube-proxy's restore triggers through the host
    await settle(agent, clock, 200);
    expect(agent.lastOutcome?.ok).toBe(true);
    expect(agent.lastOutcome?.payload).toBeUndefined();
    expect(applied.length).toBe(before);
    expect(saves).toEqual([false]);
    expect(await registry.metrics()).toMatch(/^podnet_netpol_sync_chains_written 0$/m);
    agent.stop();
  });

  it('a rule deleted by hand is put back by the next sync, which sees the rule counts differ', async () => {
    const { agent, clock, nf, feed, forward } = setup();
    agent.start();
    feed();
    agent.onPolicyAdd(denyAll('x'));
    await settle(agent, clock, 200);
    nf.iptables(`-D ${podIngressChain('x/a')} 1`);
    expect(forward('10.244.2.12', '10.244.1.10', 30001)).toBe('accept');
    agent.sync();
    await settle(agent, clock, 200);
    expect(agent.lastOutcome?.full).toBe(true);
    expect(declared(agent.lastOutcome?.payload)).toEqual(agent.lastOutcome?.rendered?.chains);
    expect(forward('10.244.2.12', '10.244.1.10', 30002)).toBe('drop');
    agent.stop();
  });

  it('a failed restore makes the next sync a full one', async () => {
    const { agent, clock, feed, failOnce } = setup();
    agent.start();
    feed();
    agent.onPolicyAdd(denyAll('x'));
    await settle(agent, clock, 200);
    failOnce();
    agent.onPolicyAdd(allowTo('a', 2));
    await settle(agent, clock);
    expect(agent.lastOutcome?.ok).toBe(false);
    expect(agent.lastOutcome?.full).toBe(false);
    await settle(agent, clock, 200);
    await settle(agent, clock, 200);
    expect(agent.lastOutcome?.ok).toBe(true);
    expect(agent.lastOutcome?.full).toBe(true);
    expect(declared(agent.lastOutcome?.payload)).toEqual(agent.lastOutcome?.rendered?.chains);
    agent.stop();
  });

  it('moves only its FORWARD jump back to the top when kube-proxy prepended its own', async () => {
    const { agent, clock, nf, feed } = setup();
    agent.start();
    feed();
    agent.onPolicyAdd(denyAll('x'));
    await settle(agent, clock, 200);
    nf.iptables('-I FORWARD 1 -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD');
    agent.sync();
    await settle(agent, clock, 200);
    expect(agent.lastOutcome?.full).toBe(false);
    expect(agent.lastOutcome?.payload).toBe(
      '*filter\n-D FORWARD -m comment --comment "podnet network policy" -j PODNET-POLICY\n-I FORWARD 1 -m comment --comment "podnet network policy" -j PODNET-POLICY\nCOMMIT\n',
    );
    expect(readSavedPolicyState(nf.save({ table: 'filter' })).jumpPosition).toBe(1);
    agent.stop();
  });

  it('restores a rule deleted by hand on its periodic (full) sync, also without iptables-save', async () => {
    const { agent, clock, nf, feed, forward } = setup({ withSave: false });
    agent.start();
    feed();
    agent.onPolicyAdd(denyAll('x'));
    await settle(agent, clock, 200);
    nf.iptables(`-D ${podIngressChain('x/a')} 1`);
    // An unrelated change: a partial sync, which cannot see the deletion without iptables-save.
    agent.onPolicyAdd(allowTo('b', 3));
    await settle(agent, clock, 200);
    expect(agent.lastOutcome?.full).toBe(false);
    expect(forward('10.244.2.12', '10.244.1.10', 30001)).toBe('accept');
    await settle(agent, clock, 10_001);
    expect(agent.lastOutcome?.full).toBe(true);
    expect(forward('10.244.2.12', '10.244.1.10', 30002)).toBe('drop');
    agent.stop();
  });

  it('restores a rule deleted by hand on its periodic sync', async () => {
    const { agent, clock, nf, feed, forward } = setup();
    agent.start();
    feed();
    agent.onPolicyAdd(denyAll('x'));
    await settle(agent, clock, 200);
    expect(forward('10.244.2.12', '10.244.1.10', 30001)).toBe('drop');
    const jump = nf
      .save({ table: 'filter' })
      .split('\n')
      .find((l) => l.startsWith('-A PODNET-POLICY -d 10.244.1.10/32'));
    expect(jump).toBeDefined();
    nf.iptables((jump as string).replace('-A ', '-D '));
    expect(forward('10.244.2.12', '10.244.1.10', 30002)).toBe('accept');
    await settle(agent, clock, 10_001);
    expect(forward('10.244.2.12', '10.244.1.10', 30003)).toBe('drop');
    agent.stop();
  });

  it('counts default-deny drops per isolating policy from the rule counters', async () => {
    const { agent, clock, feed, forward, registry } = setup();
    agent.start();
    feed();
    agent.onPolicyAdd(denyAll('x'));
    await settle(agent, clock, 200);
    for (let i = 0; i < 3; i++) expect(forward('10.244.2.12', '10.244.1.10', 31000 + i)).toBe('drop');
    // The scrape itself reads the rule counters (an async collect); a second scrape adds nothing.
    await registry.metrics();
    const text = await registry.metrics();
    expect(text).toMatch(/podnet_netpol_dropped_packets_total\{policy="x\/deny-all",direction="ingress"\} 3/);
    expect(text).toMatch(/podnet_netpol_sync_duration_seconds_count [1-9]/);
    expect(text).toMatch(/podnet_netpol_rules [1-9]/);
    // A partial sync that leaves x/a's chain alone keeps its counters: drops add up.
    expect(forward('10.244.2.12', '10.244.1.10', 31010)).toBe('drop');
    agent.onPodAdd(pod('x', 'd', '10.244.1.20'));
    await settle(agent, clock, 200);
    expect(agent.lastOutcome?.written).not.toContain(podIngressChain('x/a'));
    for (let i = 0; i < 2; i++) expect(forward('10.244.2.12', '10.244.1.10', 31020 + i)).toBe('drop');
    expect(await registry.metrics()).toMatch(/podnet_netpol_dropped_packets_total\{policy="x\/deny-all",direction="ingress"\} 6/);
    // One that rewrites it (counters back to 0) reads them first (iptables-save -c): still no drop lost.
    expect(forward('10.244.2.12', '10.244.1.10', 31030)).toBe('drop');
    agent.onPolicyAdd(allowTo('a', 4));
    await settle(agent, clock, 200);
    expect(agent.lastOutcome?.written).toContain(podIngressChain('x/a'));
    expect(forward('10.244.2.12', '10.244.1.10', 31031)).toBe('drop');
    expect(await registry.metrics()).toMatch(/podnet_netpol_dropped_packets_total\{policy="x\/deny-all",direction="ingress"\} 8/);
    agent.stop();
  });

  it('reports a refused payload with a coded error, keeps the old rules, and retries', async () => {
    const { agent, clock, feed, failOnce, nf } = setup({ withSave: false });
    agent.start();
    feed();
    await settle(agent, clock, 200);
    const before = nf.save({ table: 'filter' });
    failOnce();
    agent.onPolicyAdd(denyAll('x'));
    await settle(agent, clock);
    expect(nf.save({ table: 'filter' })).toBe(before);
    expect(agent.lastOutcome?.ok).toBe(false);
    expect(agent.lastOutcome?.error).toBeInstanceOf(NetpolError);
    expect(agent.lastOutcome?.error?.code).toBe('PODNET_ERR_NETPOL_APPLY');
    await settle(agent, clock, 200);
    await settle(agent, clock, 200);
    expect(agent.lastOutcome?.ok).toBe(true);
    expect(nf.save({ table: 'filter' })).toContain('x/a default deny ingress');
    // Without iptables-save, the jump is not inserted twice.
    expect(nf.save({ table: 'filter' }).match(/-j PODNET-POLICY/g)).toHaveLength(1);
    agent.stop();
  });

  it('refuses unusable options with clear errors', () => {
    const apply = async () => {};
    expect(() => new PolicyAgent({ node: '', apply, registry: new Registry() })).toThrow(/node is empty/);
    expect(() => new PolicyAgent({ node: 'n', apply })).toThrow(/Registry/);
    expect(() => new PolicyAgent({ node: 'n', apply, registry: new Registry(), markBit: 0x4000 })).toThrow(/0x4000/);
    expect(() => new PolicyAgent({ node: 'n', apply, registry: new Registry(), markBit: 3 })).toThrow(/one bit/);
  });

  it('cleanup removes every PODNET chain and the jump', async () => {
    const { agent, clock, feed, nf } = setup();
    agent.start();
    feed();
    agent.onPolicyAdd(denyAll('x'));
    await settle(agent, clock, 200);
    agent.stop();
    await agent.cleanup();
    expect(nf.save({ table: 'filter' })).not.toContain('PODNET');
    expect(nf.save({ table: 'filter' })).toContain('-A FORWARD -j KUBE-FORWARD');
  });
});
