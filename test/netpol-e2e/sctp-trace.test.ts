// `podnet trace --proto sctp` (issues 6 and 8): the pod sends one SCTP INIT (the toolbox's
// `nc --sctp -z`) and the trace follows it through the nodes' netfilter, on a real 2-node
// `podnet up` cluster with the x/y/z model: delivered to x/b on cni0 without policies, and dropped
// with "default deny" naming the isolating policy once a policy allows only TCP 80 into x/b.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelCluster, podIps, startModelCluster } from './cluster.js';

let c: ModelCluster;
let ips: Map<string, string>;

describe('podnet trace --proto sctp', () => {
  beforeAll(async () => {
    c = await startModelCluster('sctp');
    ips = await podIps(c.client);
  }, 280_000);
  afterAll(async () => {
    await c?.down();
  }, 60_000);

  /** Traces x/a -> x/b:80 over SCTP until the output matches (policy to enforcement is bounded generously). */
  const traceUntil = async (want: RegExp) => {
    const until = Date.now() + 30_000;
    for (;;) {
      const r = await c.podnet('trace', '--from', 'a', '-n', 'x', '--to', `${ips.get('x/b')}:80`, '--proto', 'sctp');
      const out = `${r.stdout}\n${r.stderr}`;
      if ((r.exitCode === 0 && want.test(r.stdout)) || Date.now() > until) return { ...r, out };
      await sleep(500);
    }
  };

  it('without policies: the INIT is delivered to x/b on cni0 of its node', async () => {
    const b = ips.get('x/b') as string;
    const r = await traceUntil(/delivered to/);
    expect(r.exitCode, r.out).toBe(0);
    expect(r.stdout).toContain(`trace sctp ${ips.get('x/a')} (x/a on `);
    expect(r.stdout).toContain('[sent with: nc --sctp -z -w 2');
    // x/b's stack has no SCTP: it answers ICMP protocol unreachable, which nc reports as refused (exit 1).
    expect(r.stdout).toContain('; exit 1]');
    expect(r.stdout).toContain(`delivered to ${b}:80 on cni0 (a pod of this node)`);
    expect(r.stdout).toContain('ingress: no policy selects this pod for ingress');
    expect(r.stdout).not.toMatch(/dropped by/);
  }, 60_000);

  it('a policy allowing only TCP 80 into x/b: the SCTP INIT is dropped, default deny names that policy', async () => {
    await c.client.resource('networkpolicies').create(
      {
        metadata: { namespace: 'x', name: 'b-tcp-80-only' },
        spec: {
          podSelector: { matchLabels: { pod: 'b' } },
          policyTypes: ['Ingress'],
          ingress: [{ ports: [{ protocol: 'TCP', port: 80 }] }],
        },
      } as never,
      { namespace: 'x' },
    );
    const r = await traceUntil(/ingress: default deny/);
    expect(r.exitCode, r.out).toBe(0);
    expect(r.stdout).toContain(
      'ingress: default deny (ingress of x/b: no policy rule allows it); isolated by NetworkPolicy x/b-tcp-80-only',
    );
    expect(r.stdout).toMatch(/dropped by filter\/PODNET-PI-\S+ rule \d+/);
    expect(r.stdout).not.toContain('delivered to');
  }, 60_000);
});
