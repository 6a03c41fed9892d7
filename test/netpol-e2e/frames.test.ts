// The answers come from frames: the probe's verdicts are the rules in the nodes' netfilter. On a
// real 2-node `podnet up` cluster with the x/y/z model and a default-deny-ingress policy in x, the
// rendered default-deny DROP of x/b's ingress chain (PODNET-PI-*) is deleted by hand with
// `podnet node exec NODE -- iptables -D CHAIN N` (N read from iptables-save): the probe then shows
// x/b open while x/a and x/c stay closed; the policy agent's periodic sync (the cni-agent's default
// --netpol-sync-period, 30 s, which this cluster keeps; hence the bound of 50 s here) re-renders its
// chains and the probe shows x/b closed again — as kube-router's and Calico's periodic resyncs restore
// rules removed behind their back.

import { buildMatrix, formatMatrix } from '@podnet/netpol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelCluster, NAMESPACES, PODS, startModelCluster } from './cluster.js';

let c: ModelCluster;
const KEYS = NAMESPACES.flatMap((ns) => PODS.map((p) => `${ns}/${p}`));
const table = (allowed: (from: string, to: string) => boolean) => formatMatrix(buildMatrix(KEYS, (f, t) => f === t || allowed(f, t)));
const CLOSED = table((_f, t) => !t.startsWith('x/'));
const B_OPEN = table((_f, t) => !t.startsWith('x/') || t === 'x/b');

/** The chain and 1-based rule number of x/b's rendered default-deny ingress DROP, from iptables-save. */
function findDenyRule(save: string): { chain: string; ruleNumber: number } | undefined {
  const perChain = new Map<string, number>();
  for (const line of save.split('\n')) {
    const m = /^-A (\S+) /.exec(line);
    if (!m) continue;
    const chain = m[1] as string;
    const n = (perChain.get(chain) ?? 0) + 1;
    perChain.set(chain, n);
    if (chain.startsWith('PODNET-PI-') && line.includes('x/b default deny ingress') && / -j DROP\b/.test(line))
      return { chain, ruleNumber: n };
  }
  return undefined;
}

describe('the probe answers come from the rules in the nodes', () => {
  beforeAll(async () => {
    c = await startModelCluster('frames');
  }, 280_000);
  afterAll(async () => {
    await c?.down();
  }, 60_000);

  it('a hand-deleted default-deny DROP opens x/b until the agent periodic sync restores it', async () => {
    await c.client
      .resource('networkpolicies')
      .create({ metadata: { namespace: 'x', name: 'deny-ingress' }, spec: { podSelector: {}, ingress: [] } } as never, { namespace: 'x' });
    const closed = await c.probeUntil('closed', CLOSED);
    expect(closed.exitCode, closed.out).toBe(0);

    const pod = (await c.client.resource('pods').get('b', { namespace: 'x' })) as { spec?: { nodeName?: string } };
    const node = pod.spec?.nodeName as string;
    expect(node).toBeTruthy();
    // Delete the rule, then probe once; if a periodic sync happened to land in between (the rule is
    // back), delete it again — bounded to three tries.
    let opened: { exitCode: number; out: string } | undefined;
    for (let attempt = 0; attempt < 3 && opened?.exitCode !== 0; attempt++) {
      const save = await c.podnet('node', 'exec', node, '--', 'iptables-save', '-t', 'filter');
      expect(save.exitCode, save.stderr).toBe(0);
      const rule = findDenyRule(save.stdout);
      expect(rule, save.stdout).toBeDefined();
      const del = await c.podnet('node', 'exec', node, '--', 'iptables', '-D', rule?.chain as string, String(rule?.ruleNumber));
      expect(del.exitCode, del.stderr).toBe(0);
      const after = await c.podnet('node', 'exec', node, '--', 'iptables-save', '-t', 'filter');
      expect(findDenyRule(after.stdout)).toBeUndefined();
      opened = await c.probeUntil(`b-open-${attempt}`, B_OPEN, [], 0);
    }
    expect(opened?.exitCode, opened?.out).toBe(0);
    expect(opened?.out).toContain('all cells as expected');

    // The agent's periodic sync (syncPeriodMs, 30 s by default) re-renders the chains.
    const restored = await c.probeUntil('restored', CLOSED, [], 50_000);
    expect(restored.exitCode, restored.out).toBe(0);
    const save = await c.podnet('node', 'exec', node, '--', 'iptables-save', '-t', 'filter');
    expect(findDenyRule(save.stdout)).toBeDefined();
  }, 150_000);
});
