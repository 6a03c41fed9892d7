// `podnet trace` names the NetworkPolicy that decided a packet, read from the rules the packet hit
// on the nodes it crossed (decidedBy): on a real 2-node `podnet up` cluster with the x/y/z model.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelCluster, podIps, startModelCluster } from './cluster.js';

let c: ModelCluster;
let ips: Map<string, string>;

describe('podnet trace names the deciding NetworkPolicy', () => {
  beforeAll(async () => {
    c = await startModelCluster('trace');
    ips = await podIps(c.client);
  }, 280_000);
  afterAll(async () => {
    await c?.down();
  }, 60_000);

  /** Traces x/a -> x/b:80 until the policy line matches (policy to enforcement is bounded generously). */
  const traceUntil = async (want: RegExp) => {
    const until = Date.now() + 30_000;
    for (;;) {
      const r = await c.podnet('trace', '--from', 'a', '-n', 'x', '--to', `${ips.get('x/b')}:80`, '--proto', 'tcp');
      const out = `${r.stdout}\n${r.stderr}`;
      if ((r.exitCode === 0 && want.test(r.stdout)) || Date.now() > until) return { ...r, out };
      await sleep(500);
    }
  };

  it('without policies: no policy selects this pod, both directions', async () => {
    const r = await traceUntil(/ingress: no policy selects this pod for ingress/);
    expect(r.exitCode, r.out).toBe(0);
    expect(r.stdout).toContain('policy:');
    expect(r.stdout).toContain('egress: no policy selects this pod for egress');
    expect(r.stdout).toContain('ingress: no policy selects this pod for ingress');
  }, 60_000);

  it('default-deny ingress in x: "default deny" naming the policy that isolates x/b', async () => {
    await c.client
      .resource('networkpolicies')
      .create({ metadata: { namespace: 'x', name: 'deny-all-ingress' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } } as never, {
        namespace: 'x',
      });
    const r = await traceUntil(/ingress: default deny/);
    expect(r.exitCode, r.out).toBe(0);
    expect(r.stdout).toContain(
      'ingress: default deny (ingress of x/b: no policy rule allows it); isolated by NetworkPolicy x/deny-all-ingress',
    );
    expect(r.stdout).toContain('egress: no policy selects this pod for egress');
    expect(r.stdout).toMatch(/dropped by filter\/PODNET-PI-\S+ rule \d+/);
  }, 60_000);

  it('with an allow rule: names the allowing policy and its rule index', async () => {
    await c.client.resource('networkpolicies').create(
      {
        metadata: { namespace: 'x', name: 'allow-a-to-b' },
        spec: {
          podSelector: { matchLabels: { pod: 'b' } },
          ingress: [
            { from: [{ podSelector: { matchLabels: { pod: 'c' } } }] },
            { from: [{ podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 80 }] },
          ],
        },
      } as never,
      { namespace: 'x' },
    );
    const r = await traceUntil(/ingress: allowed by/);
    expect(r.exitCode, r.out).toBe(0);
    expect(r.stdout).toContain('ingress: allowed by NetworkPolicy x/allow-a-to-b ingress rule 1');
    expect(r.stdout).not.toContain('default deny');
    expect(r.stdout).toContain('delivered to');
  }, 60_000);
  it('an egress default deny of the source: names its isolating policy, ingress not evaluated; --json carries it', async () => {
    for (const name of ['deny-all-ingress', 'allow-a-to-b']) await c.client.resource('networkpolicies').delete(name, { namespace: 'x' });
    await c.client.resource('networkpolicies').create(
      {
        metadata: { namespace: 'x', name: 'a-no-egress' },
        spec: { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'] },
      } as never,
      { namespace: 'x' },
    );
    const r = await traceUntil(/egress: default deny/);
    expect(r.exitCode, r.out).toBe(0);
    expect(r.stdout).toContain('egress: default deny (egress of x/a: no policy rule allows it); isolated by NetworkPolicy x/a-no-egress');
    expect(r.stdout).toContain('ingress: not evaluated (dropped by egress policy first)');
    const j = await c.podnet('trace', '--from', 'a', '-n', 'x', '--to', `${ips.get('x/b')}:80`, '--json');
    expect(j.exitCode, j.stderr).toBe(0);
    const body = JSON.parse(j.stdout) as { policy: { verdict: { egress: { verdict: string } }; isolatedBy: { egress?: string[] } } };
    expect(body.policy.verdict.egress.verdict).toBe('denied');
    expect(body.policy.isolatedBy.egress).toEqual(['x/a-no-egress']);
  }, 60_000);
});
