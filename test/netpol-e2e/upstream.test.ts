// Cases ported from kubernetes test/e2e/network/netpol/network_policy.go on ONE real 2-node
// `podnet up` cluster (vxlan) holding the upstream model (namespaces x, y, z × pods a, b, c,
// serving 80 and 81 on TCP and UDP). Each case applies its policies through the API, then runs
// `podnet netpol probe --expect FILE` — real connection attempts from inside every pod through both
// nodes' netfilter — until the probe exits 0 (bounded generously; policy-to-enforcement is fast);
// the probe's exit status and printed diff decide. Policies are deleted between cases. Most cases
// probe TCP 80 only (a 9×9 matrix of parallel 1 s attempts); 81 and UDP only where a case needs them.
import { buildMatrix, formatMatrix } from '@podnet/netpol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ModelCluster, NAMESPACES, PODS, podIps, startModelCluster } from './cluster.js';

let c: ModelCluster;
let ips: Map<string, string>;
const KEYS = NAMESPACES.flatMap((ns) => PODS.map((p) => `${ns}/${p}`));

interface Peer {
  ns: string;
  pod: string;
}
const peer = (key: string): Peer => {
  const [ns, pod] = key.split('/') as [string, string];
  return { ns, pod };
};

/** An upstream-style truth table: `allowed(from, to)` for every ordered pair (a pod reaches itself). */
function table(allowed: (from: Peer, to: Peer) => boolean): string {
  return formatMatrix(buildMatrix(KEYS, (f, t) => f === t || allowed(peer(f), peer(t))));
}
const ALL = () => true;

async function policy(ns: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await c.client.resource('networkpolicies').create({ metadata: { namespace: ns, name }, spec } as never, { namespace: ns });
}

async function check(name: string, expected: string, extra: string[] = []): Promise<void> {
  const r = await c.probeUntil(name, expected, extra, 40_000);
  expect(r.exitCode, r.out).toBe(0);
  expect(r.out).toContain('all cells as expected');
}

describe('upstream NetworkPolicy e2e cases through podnet netpol probe', () => {
  beforeAll(async () => {
    c = await startModelCluster('upstream');
    ips = await podIps(c.client);
  }, 280_000);

  afterEach(async () => {
    for (const ns of NAMESPACES) {
      const items = (await c.client.resource('networkpolicies').list({ namespace: ns })).items as Array<{ metadata: { name: string } }>;
      for (const p of items) await c.client.resource('networkpolicies').delete(p.metadata.name, { namespace: ns });
    }
  }, 30_000);

  afterAll(async () => {
    await c?.down();
  }, 60_000);

  it('without policies every pod reaches every other', async () => {
    await check('open', table(ALL));
  }, 60_000);

  it('should support a default-deny-ingress policy', async () => {
    await policy('x', 'deny-ingress', { podSelector: {}, ingress: [] });
    await check(
      'deny-ingress',
      table((_f, t) => t.ns !== 'x'),
    );
  }, 60_000);

  it('should support a default-deny-egress policy', async () => {
    await policy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] });
    await check(
      'deny-egress',
      table((f) => f.ns !== 'x'),
    );
  }, 60_000);

  it('should support a default-deny-all policy (ingress and egress)', async () => {
    await policy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    await check(
      'deny-all',
      table((f, t) => f.ns !== 'x' && t.ns !== 'x'),
    );
  }, 60_000);

  it('should enforce policy to allow traffic from pods within server namespace based on PodSelector', async () => {
    await policy('x', 'x-a-from-b', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
    });
    await check(
      'pod-selector',
      table((f, t) => !(t.ns === 'x' && t.pod === 'a') || (f.ns === 'x' && f.pod === 'b')),
    );
  }, 60_000);

  it('should enforce policy to allow ingress traffic for a target (allow all ingress [{}])', async () => {
    await policy('x', 'deny-ingress', { podSelector: {}, ingress: [] });
    await policy('x', 'allow-all-ingress', { podSelector: {}, ingress: [{}] });
    await check('allow-all-ingress', table(ALL));
  }, 60_000);

  it('should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector', async () => {
    await policy('x', 'from-y', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] });
    await check(
      'namespace-selector',
      table((f, t) => t.ns !== 'x' || f.ns === 'y'),
    );
  }, 60_000);

  it('should enforce policy based on NamespaceSelector with MatchExpressions (NotIn)', async () => {
    await policy('x', 'not-from-y', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['y'] }] } }] }],
    });
    await check(
      'namespace-notin',
      table((f, t) => !(t.ns === 'x' && t.pod === 'a') || f.ns !== 'y'),
    );
  }, 60_000);

  it('should enforce policy based on PodSelector with MatchExpressions (In)', async () => {
    await policy('x', 'from-b-or-c', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }] } }] }],
    });
    await check(
      'pod-in',
      table((f, t) => !(t.ns === 'x' && t.pod === 'a') || (f.ns === 'x' && f.pod !== 'a')),
    );
  }, 60_000);

  it('should enforce policy based on PodSelector and NamespaceSelector in one peer (AND)', async () => {
    await policy('x', 'from-y-b', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'In', values: ['y'] }] },
              podSelector: { matchLabels: { pod: 'b' } },
            },
          ],
        },
      ],
    });
    await check(
      'pod-and-namespace',
      table((f, t) => !(t.ns === 'x' && t.pod === 'a') || (f.ns === 'y' && f.pod === 'b')),
    );
  }, 60_000);

  it('should enforce policy based on any PodSelector or NamespaceSelector (multiple peers, OR)', async () => {
    await policy('x', 'b-or-y', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }, { namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
    });
    await check(
      'multiple-peers',
      table((f, t) => !(t.ns === 'x' && t.pod === 'a') || f.ns === 'y' || (f.ns === 'x' && f.pod === 'b')),
    );
  }, 60_000);

  it('should enforce policy to allow traffic from pods in all namespaces with a pod label (namespaceSelector {})', async () => {
    await policy('x', 'any-ns-pod-b', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }] }],
    });
    await check(
      'all-namespaces-pod-b',
      table((f, t) => !(t.ns === 'x' && t.pod === 'a') || f.pod === 'b'),
    );
  }, 60_000);

  it('should work with Ingress, Egress specified together (stacked policies add up)', async () => {
    await policy('x', 'a-from-y', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
    });
    await policy('x', 'a-from-z', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }] }],
    });
    await check(
      'stacked',
      table((f, t) => !(t.ns === 'x' && t.pod === 'a') || f.ns !== 'x'),
    );
  }, 60_000);

  it('should enforce egress policy allowing traffic to a namespace only', async () => {
    await policy('x', 'egress-to-y', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
    });
    await check(
      'egress-to-y',
      table((f, t) => f.ns !== 'x' || t.ns === 'y'),
    );
  }, 60_000);

  it('should enforce ingress AND egress: both ends must allow', async () => {
    // x/a may send only to x/b; x/b admits only x/c: so x/a -> x/b is denied by x/b's ingress.
    await policy('x', 'a-egress-to-b', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
    });
    await policy('x', 'b-from-c', {
      podSelector: { matchLabels: { pod: 'b' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'c' } } }] }],
    });
    await check(
      'egress-and-ingress',
      table((f, t) => {
        if (f.ns === 'x' && f.pod === 'a') return false; // only to x/b, which refuses it
        if (t.ns === 'x' && t.pod === 'b') return f.ns === 'x' && f.pod === 'c';
        return true;
      }),
    );
  }, 60_000);

  it('should allow ingress access from an ipBlock, with except', async () => {
    const except = `${ips.get('y/b')}/32`;
    await policy('x', 'ipblock-except', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: [except] } }] }],
    });
    await check(
      'ipblock-except',
      table((f, t) => !(t.ns === 'x' && t.pod === 'a') || !(f.ns === 'y' && f.pod === 'b')),
    );
  }, 60_000);

  it('should enforce except clause while egress access to server in CIDR block', async () => {
    const server = ips.get('y/a') as string;
    await policy('x', 'egress-cidr-except', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: `${server.split('.').slice(0, 3).join('.')}.0/24`, except: [`${server}/32`] } }] }],
    });
    const sameNet = (k: string) => (ips.get(k) ?? '').split('.').slice(0, 3).join('.') === server.split('.').slice(0, 3).join('.');
    await check(
      'egress-ipblock-except',
      table((f, t) => !(f.ns === 'x' && f.pod === 'a') || (sameNet(`${t.ns}/${t.pod}`) && `${t.ns}/${t.pod}` !== 'y/a')),
    );
  }, 60_000);

  it('should allow ingress access on one named port', async () => {
    await policy('x', 'named-81', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] });
    const isXa = (t: Peer) => t.ns === 'x' && t.pod === 'a';
    await check('named-port', `tcp/80:\n${table((_f, t) => !isXa(t))}\ntcp/81:\n${table(ALL)}`, ['--ports', '80,81']);
  }, 60_000);

  it('should enforce policy based on endPort (ports 81-82 open, 80 closed)', async () => {
    await policy('x', 'end-port', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ ports: [{ protocol: 'TCP', port: 81, endPort: 82 }] }],
    });
    const isXa = (t: Peer) => t.ns === 'x' && t.pod === 'a';
    await check('end-port', `tcp/80:\n${table((_f, t) => !isXa(t))}\ntcp/81:\n${table(ALL)}`, ['--ports', '80,81']);
  }, 60_000);

  it('should enforce ingress policy allowing any port traffic to a server on a specific protocol (UDP-only still isolates TCP)', async () => {
    await policy('x', 'udp-only', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'UDP', port: 80 }] }] });
    const isXa = (t: Peer) => t.ns === 'x' && t.pod === 'a';
    await check('udp-isolation', `tcp/80:\n${table((_f, t) => !isXa(t))}\nudp/80:\n${table(ALL)}`, ['--protocols', 'tcp,udp']);
  }, 90_000);

  it('should enforce updated policy', async () => {
    await policy('x', 'updated', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] });
    await check(
      'before-update',
      table((f, t) => t.ns !== 'x' || f.ns === 'y'),
    );
    const current = (await c.client.resource('networkpolicies').get('updated', { namespace: 'x' })) as Record<string, unknown> & {
      spec: Record<string, unknown>;
    };
    current.spec = { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }] }] };
    await c.client.resource('networkpolicies').update(current as never, { namespace: 'x' });
    await check(
      'after-update',
      table((f, t) => t.ns !== 'x' || f.ns === 'z'),
    );
  }, 90_000);

  it('should allow access again after the isolating policy is deleted', async () => {
    await policy('x', 'deny-ingress', { podSelector: {}, ingress: [] });
    await check(
      'before-delete',
      table((_f, t) => t.ns !== 'x'),
    );
    await c.client.resource('networkpolicies').delete('deny-ingress', { namespace: 'x' });
    await check('after-delete', table(ALL));
  }, 90_000);

  it('should enforce policy based on a pod label change (updated pod)', async () => {
    await policy('x', 'from-pod-b', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
    });
    await check(
      'before-pod-label',
      table((f, t) => !(t.ns === 'x' && t.pod === 'a') || (f.ns === 'x' && f.pod === 'b')),
    );
    await c.client.resource('pods').patch('c', { metadata: { labels: { pod: 'b' } } }, { namespace: 'x' });
    try {
      await check(
        'after-pod-label',
        table((f, t) => !(t.ns === 'x' && t.pod === 'a') || (f.ns === 'x' && f.pod !== 'a')),
      );
    } finally {
      await c.client.resource('pods').patch('c', { metadata: { labels: { pod: 'c' } } }, { namespace: 'x' });
    }
  }, 90_000);

  it('should enforce policy based on a namespace label change (updated namespace)', async () => {
    await policy('x', 'from-team-blue', {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } } }] }],
    });
    await check(
      'before-ns-label',
      table((_f, t) => t.ns !== 'x'),
    );
    await c.client.resource('namespaces').patch('z', { metadata: { labels: { team: 'blue' } } });
    try {
      await check(
        'after-ns-label',
        table((f, t) => t.ns !== 'x' || f.ns === 'z'),
      );
    } finally {
      await c.client.resource('namespaces').patch('z', { metadata: { labels: { team: null } } });
    }
  }, 90_000);

  it('should deny all egress from a namespace but keep ingress into it open', async () => {
    await policy('y', 'deny-egress-y', { podSelector: {}, policyTypes: ['Egress'], egress: [] });
    await check(
      'deny-egress-y',
      table((f) => f.ns !== 'y'),
    );
  }, 60_000);
});
