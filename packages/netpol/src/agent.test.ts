// The policy agent against a real rule engine (packages/netfilter) standing in for the node:
// apply() is its iptables-restore, iptablesSave() its iptables-save -c, so the agent's payloads,
// stale-chain deletion, jump handling and drop counters are checked on rules that really exist.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Conntrack, Netfilter } from '../../netfilter/src/index.js';
import { TCP, tcpPacket } from '../../netfilter/src/testing/conntrack-packets.js';
import { FakeClock } from '../../wire/src/testing/fake-clock.js';
import { PolicyAgent, readSavedPolicyState } from './agent.js';
import { NetpolError } from './errors.js';
import type { Namespace, NetworkPolicy, Pod } from './types.js';

const ns = (name: string): Namespace => ({ metadata: { name, labels: { ns: name } } });
const pod = (namespace: string, name: string, ip: string, node = 'node-1'): Pod => ({
  metadata: { namespace, name, labels: { pod: name } },
  spec: { nodeName: node, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] },
  status: { phase: 'Running', podIP: ip },
});
const denyAll = (namespace: string): NetworkPolicy => ({ metadata: { namespace, name: 'deny-all' }, spec: { podSelector: {} } });

function setup(options: { withSave?: boolean } = {}) {
  const clock = new FakeClock(0);
  const nf = new Netfilter({ clock, conntrack: new Conntrack({ clock, gcIntervalMs: 0 }) });
  nf.restore(
    '*filter\n:KUBE-FORWARD - [0:0]\n-A FORWARD -j KUBE-FORWARD\n-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT\nCOMMIT\n',
  );
  const applied: string[] = [];
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
    ...(options.withSave === false ? {} : { iptablesSave: async () => nf.save({ table: 'filter', counters: true }) }),
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
  return { clock, nf, agent, applied, registry, feed, forward, failOnce: () => (failNext = true) };
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
    // A sync re-declares the chains (counters back to 0): drops before and after it still add up.
    expect(forward('10.244.2.12', '10.244.1.10', 31010)).toBe('drop');
    agent.onPodAdd(pod('x', 'd', '10.244.1.20'));
    await settle(agent, clock, 200);
    for (let i = 0; i < 2; i++) expect(forward('10.244.2.12', '10.244.1.10', 31020 + i)).toBe('drop');
    expect(await registry.metrics()).toMatch(/podnet_netpol_dropped_packets_total\{policy="x\/deny-all",direction="ingress"\} 6/);
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
