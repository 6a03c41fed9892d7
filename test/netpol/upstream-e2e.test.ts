// The upstream NetworkPolicy conformance cases (kubernetes test/e2e/network/netpol/network_policy.go),
// ported onto the e2e model of model.ts: each case applies its policies, then probes all 81 cells
// with NEW packets through the nodes' rule engines and compares the matrix with the expected one
// built as upstream builds it (Reachability.ExpectPeer ...). The names are upstream's `ginkgo.It` titles.
import { describe, expect, it } from 'vitest';
import type { NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, PolicyType } from '../../packages/netpol/src/index.ts';
import { ALL_PODS, Cluster, type Protocol, Reachability } from './model.ts';

type Spec = NetworkPolicy['spec'];
const policy = (ns: string, name: string, spec: Spec): NetworkPolicy => ({ metadata: { namespace: ns, name }, spec });
const pod = (name: string) => ({ matchLabels: { pod: name } });
const ingressTo = (ns: string, name: string, target: Spec['podSelector'], ingress: NetworkPolicyIngressRule[], types?: PolicyType[]) =>
  policy(ns, name, { podSelector: target, ingress, ...(types ? { policyTypes: types } : {}) });
const egressFrom = (ns: string, name: string, target: Spec['podSelector'], egress: NetworkPolicyEgressRule[]) =>
  policy(ns, name, { podSelector: target, egress, policyTypes: ['Egress'] });
const ipOf = (c: Cluster, p: string) => `${c.ip(p)}/32`;

interface Case {
  name: string;
  run(c: Cluster, check: (port: number, protocol: Protocol, expected: Reachability) => void): void;
}

const onlyFrom = (target: string, allowed: string[]) => {
  const r = new Reachability(true).expectPeer('', target, false);
  for (const a of allowed) r.expectPeer(a, target, true);
  return r.allowLoopback();
};
const onlyTo = (source: string, allowed: string[]) => {
  const r = new Reachability(true).expectPeer(source, '', false);
  for (const a of allowed) r.expectPeer(source, a, true);
  return r.allowLoopback();
};

const CASES: Case[] = [
  {
    name: "should support a 'default-deny-ingress' policy",
    run(c, check) {
      c.apply(ingressTo('x', 'deny-ingress', {}, [], ['Ingress']));
      check(80, 'TCP', new Reachability(true).expectPeer('', 'x', false).allowLoopback());
    },
  },
  {
    name: "should support a 'default-deny-all' policy",
    run(c, check) {
      c.apply(policy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
      const r = new Reachability(true).expectPeer('', 'x', false).expectPeer('x', '', false).allowLoopback();
      check(80, 'TCP', r);
      check(80, 'UDP', r);
    },
  },
  {
    name: 'should enforce policy to allow traffic from pods within server namespace based on PodSelector',
    run(c, check) {
      c.apply(ingressTo('x', 'x-a-allows-x-b', pod('a'), [{ from: [{ podSelector: pod('b') }] }]));
      check(80, 'TCP', onlyFrom('x/a', ['x/b']));
    },
  },
  {
    name: 'should enforce policy to allow ingress traffic for a target',
    run(c, check) {
      c.apply(ingressTo('x', 'deny-ingress', {}, [], ['Ingress']));
      c.apply(ingressTo('x', 'allow-all-to-a', pod('a'), [{}]));
      check(80, 'TCP', new Reachability(true).expectPeer('', 'x/b', false).expectPeer('', 'x/c', false).allowLoopback());
    },
  },
  {
    name: 'should enforce policy to allow ingress traffic from pods in all namespaces',
    run(c, check) {
      c.apply(ingressTo('x', 'allow-from-all-ns', pod('a'), [{ from: [{ namespaceSelector: {} }] }]));
      check(80, 'TCP', new Reachability(true));
    },
  },
  {
    name: 'should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector',
    run(c, check) {
      c.apply(ingressTo('x', 'allow-y', pod('a'), [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }]));
      check(80, 'TCP', onlyFrom('x/a', ['y']));
    },
  },
  {
    name: 'should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label',
    run(c, check) {
      c.apply(
        ingressTo('x', 'allow-y-default-label', pod('a'), [
          { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] },
        ]),
      );
      check(80, 'TCP', onlyFrom('x/a', ['y']));
    },
  },
  {
    name: 'should enforce policy based on PodSelector with MatchExpressions',
    run(c, check) {
      c.apply(
        ingressTo('x', 'in-b', pod('a'), [
          { from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] } }] },
        ]),
      );
      check(80, 'TCP', onlyFrom('x/a', ['x/b']));
    },
  },
  {
    name: 'should enforce policy based on NamespaceSelector with MatchExpressions',
    run(c, check) {
      c.apply(
        ingressTo('x', 'ns-in-y', pod('a'), [
          { from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'In', values: ['y'] }] } }] },
        ]),
      );
      check(80, 'TCP', onlyFrom('x/a', ['y']));
    },
  },
  {
    name: 'should enforce policy based on PodSelector or NamespaceSelector',
    run(c, check) {
      c.apply(
        ingressTo('x', 'or', pod('a'), [
          {
            from: [
              { namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] } },
              { podSelector: pod('b') },
            ],
          },
        ]),
      );
      check(80, 'TCP', onlyFrom('x/a', ['y', 'z', 'x/b']));
    },
  },
  {
    name: 'should enforce policy based on PodSelector and NamespaceSelector',
    run(c, check) {
      c.apply(
        ingressTo('x', 'and', pod('a'), [
          { from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] }, podSelector: pod('b') }] },
        ]),
      );
      check(80, 'TCP', onlyFrom('x/a', ['y/b', 'z/b']));
    },
  },
  {
    name: 'should enforce policy based on Multiple PodSelectors and NamespaceSelectors',
    run(c, check) {
      c.apply(
        ingressTo('x', 'multi', pod('a'), [
          {
            from: [
              {
                namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] },
                podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }] },
              },
            ],
          },
        ]),
      );
      check(80, 'TCP', onlyFrom('x/a', ['y/b', 'y/c', 'z/b', 'z/c']));
    },
  },
  {
    name: 'should enforce policy based on any PodSelectors',
    run(c, check) {
      c.apply(ingressTo('x', 'any-pod', pod('a'), [{ from: [{ podSelector: pod('b') }, { podSelector: pod('c') }] }]));
      check(80, 'TCP', onlyFrom('x/a', ['x/b', 'x/c']));
    },
  },
  {
    name: 'should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector',
    run(c, check) {
      c.apply(ingressTo('x', 'y-a', pod('a'), [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: pod('a') }] }]));
      check(80, 'TCP', onlyFrom('x/a', ['y/a']));
    },
  },
  {
    name: 'should enforce policy based on Ports',
    run(c, check) {
      c.apply(ingressTo('x', 'y-81', pod('a'), [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 81 }] }]));
      check(80, 'TCP', onlyFrom('x/a', []));
      check(81, 'TCP', onlyFrom('x/a', ['y']));
    },
  },
  {
    name: 'should enforce multiple, stacked policies with overlapping podSelectors',
    run(c, check) {
      c.apply(ingressTo('x', 'y-81', pod('a'), [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 81 }] }]));
      check(80, 'TCP', onlyFrom('x/a', []));
      c.apply(ingressTo('x', 'y-80', pod('a'), [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80 }] }]));
      check(80, 'TCP', onlyFrom('x/a', ['y']));
      check(81, 'TCP', onlyFrom('x/a', ['y']));
    },
  },
  {
    name: "should support an 'allow-all' policy",
    run(c, check) {
      c.apply(ingressTo('x', 'allow-all', {}, [{}]));
      check(80, 'TCP', new Reachability(true));
      check(81, 'UDP', new Reachability(true));
    },
  },
  {
    name: 'should allow ingress access on one named port',
    run(c, check) {
      c.apply(ingressTo('x', 'named-81', {}, [{ ports: [{ port: 'serve-81-tcp' }] }]));
      check(81, 'TCP', new Reachability(true));
      check(80, 'TCP', new Reachability(true).expectPeer('', 'x', false).allowLoopback());
    },
  },
  {
    name: 'should allow ingress access from namespace on one named port',
    run(c, check) {
      c.apply(
        ingressTo('x', 'y-named-80', {}, [
          { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 'serve-80-tcp' }] },
        ]),
      );
      check(80, 'TCP', new Reachability(true).expectPeer('', 'x', false).expectPeer('y', 'x', true).allowLoopback());
      check(81, 'TCP', new Reachability(true).expectPeer('', 'x', false).allowLoopback());
    },
  },
  {
    name: 'should allow egress access on one named port',
    run(c, check) {
      c.apply(egressFrom('x', 'egress-named-80', pod('a'), [{ ports: [{ port: 'serve-80-tcp' }, { protocol: 'UDP', port: 53 }] }]));
      check(80, 'TCP', new Reachability(true));
      check(81, 'TCP', onlyTo('x/a', []));
      // The name is serve-80-tcp: the UDP port of the same number is another container port.
      check(80, 'UDP', onlyTo('x/a', []));
    },
  },
  {
    name: 'should enforce updated policy',
    run(c, check) {
      c.apply(ingressTo('x', 'allow-all-mutate-to-deny-all', {}, [{}]));
      check(81, 'TCP', new Reachability(true));
      c.apply(ingressTo('x', 'allow-all-mutate-to-deny-all', {}, [], ['Ingress']));
      check(81, 'TCP', new Reachability(true).expectPeer('', 'x', false).allowLoopback());
    },
  },
  {
    name: 'should allow ingress access from updated namespace',
    run(c, check) {
      c.apply(ingressTo('x', 'from-ns2-updated', pod('a'), [{ from: [{ namespaceSelector: { matchLabels: { ns2: 'updated' } } }] }]));
      check(80, 'TCP', onlyFrom('x/a', []));
      const y = c.namespaces.get('y');
      if (y) y.metadata.labels = { ...y.metadata.labels, ns2: 'updated' };
      c.sync();
      check(80, 'TCP', onlyFrom('x/a', ['y']));
    },
  },
  {
    name: 'should allow ingress access from updated pod',
    run(c, check) {
      c.apply(ingressTo('x', 'from-pod-b-new', pod('a'), [{ from: [{ podSelector: { matchLabels: { pod: 'b', ready: 'true' } } }] }]));
      check(80, 'TCP', onlyFrom('x/a', []));
      const b = c.pods.get('x/b');
      if (b) b.metadata.labels = { ...b.metadata.labels, ready: 'true' };
      c.sync();
      check(80, 'TCP', onlyFrom('x/a', ['x/b']));
    },
  },
  {
    name: 'should deny ingress access to updated pod',
    run(c, check) {
      c.apply(ingressTo('x', 'deny-isolated', { matchLabels: { target: 'isolated' } }, [], ['Ingress']));
      check(80, 'TCP', new Reachability(true));
      const a = c.pods.get('x/a');
      if (a) a.metadata.labels = { ...a.metadata.labels, target: 'isolated' };
      c.sync();
      check(80, 'TCP', onlyFrom('x/a', []));
    },
  },
  {
    name: 'should deny ingress from pods on other namespaces',
    run(c, check) {
      c.apply(ingressTo('x', 'same-ns-only', {}, [{ from: [{ podSelector: {} }] }]));
      check(80, 'TCP', new Reachability(true).expectPeer('y', 'x', false).expectPeer('z', 'x', false));
    },
  },
  {
    name: 'should deny egress from pods based on PodSelector',
    run(c, check) {
      c.apply(egressFrom('x', 'deny-egress-a', pod('a'), []));
      check(80, 'TCP', onlyTo('x/a', []));
    },
  },
  {
    name: 'should deny egress from all pods in a namespace',
    run(c, check) {
      c.apply(egressFrom('x', 'deny-egress-ns', {}, []));
      check(80, 'TCP', new Reachability(true).expectPeer('x', '', false).allowLoopback());
    },
  },
  {
    name: 'should work with Ingress, Egress specified together',
    run(c, check) {
      c.apply(
        policy('x', 'both', {
          podSelector: pod('a'),
          policyTypes: ['Ingress', 'Egress'],
          ingress: [{ from: [{ podSelector: pod('b') }] }],
          egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
        }),
      );
      const r = new Reachability(true)
        .expectPeer('', 'x/a', false)
        .expect('x/b', 'x/a', true)
        .expectPeer('x/a', '', false)
        .expectPeer('x/a', 'y', true);
      check(80, 'TCP', r.allowLoopback());
    },
  },
  {
    name: 'should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)',
    run(c, check) {
      c.apply(
        egressFrom('x', 'x-a-to-y-a', pod('a'), [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: pod('a') }] }]),
      );
      c.apply(
        ingressTo('y', 'y-b-from-x-a', pod('b'), [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } }, podSelector: pod('a') }] }]),
      );
      const r = onlyTo('x/a', ['y/a']).expectPeer('', 'y/b', false).allowLoopback();
      check(80, 'TCP', r);
    },
  },
  {
    name: 'should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector',
    run(c, check) {
      c.apply(egressFrom('x', 'to-y-b', pod('a'), [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: pod('b') }] }]));
      check(80, 'TCP', onlyTo('x/a', ['y/b']));
    },
  },
  {
    name: 'should enforce ingress policy allowing any port traffic to a server on a specific protocol',
    run(c, check) {
      c.apply(ingressTo('x', 'tcp-any-port', pod('a'), [{ ports: [{ protocol: 'TCP' }] }]));
      check(80, 'TCP', new Reachability(true));
      check(81, 'TCP', new Reachability(true));
      check(80, 'UDP', onlyFrom('x/a', []));
    },
  },
  {
    name: 'should enforce multiple ingress policies with ingress allow-all policy taking precedence',
    run(c, check) {
      c.apply(ingressTo('x', 'only-80', pod('a'), [{ ports: [{ port: 80 }] }]));
      check(81, 'TCP', onlyFrom('x/a', []));
      c.apply(ingressTo('x', 'allow-all', pod('a'), [{}]));
      check(81, 'TCP', new Reachability(true));
    },
  },
  {
    name: 'should enforce multiple egress policies with egress allow-all policy taking precedence',
    run(c, check) {
      c.apply(egressFrom('x', 'only-80', pod('a'), [{ ports: [{ port: 80 }] }]));
      check(81, 'TCP', onlyTo('x/a', []));
      c.apply(egressFrom('x', 'allow-all', pod('a'), [{}]));
      check(81, 'TCP', new Reachability(true));
    },
  },
  {
    name: 'should stop enforcing policies after they are deleted',
    run(c, check) {
      c.apply(policy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
      check(80, 'TCP', new Reachability(true).expectPeer('', 'x', false).expectPeer('x', '', false).allowLoopback());
      c.delete('x/deny-all');
      check(80, 'TCP', new Reachability(true));
      for (const n of c.nodes.values()) expect(n.nf.save({ table: 'filter' })).not.toMatch(/PODNET-P[IERPB]-/);
    },
  },
  {
    name: 'should allow egress access to server in CIDR block',
    run(c, check) {
      c.apply(egressFrom('x', 'to-cidr', pod('a'), [{ to: [{ ipBlock: { cidr: ipOf(c, 'y/b') } }] }]));
      check(80, 'TCP', onlyTo('x/a', ['y/b']));
    },
  },
  {
    name: 'should enforce except clause while egress access to server in CIDR block',
    run(c, check) {
      c.apply(egressFrom('x', 'cidr-except', pod('a'), [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: [ipOf(c, 'y/b')] } }] }]));
      check(80, 'TCP', new Reachability(true).expect('x/a', 'y/b', false));
    },
  },
  {
    name: 'should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed',
    run(c, check) {
      c.apply(egressFrom('x', 'cidr-except', pod('a'), [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: [ipOf(c, 'y/b')] } }] }]));
      check(80, 'TCP', new Reachability(true).expect('x/a', 'y/b', false));
      c.apply(egressFrom('x', 'to-y-b', pod('a'), [{ to: [{ ipBlock: { cidr: ipOf(c, 'y/b') } }] }]));
      check(80, 'TCP', new Reachability(true));
    },
  },
  {
    name: 'should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector',
    run(c, check) {
      c.apply(egressFrom('x', 'a-no-egress', pod('a'), []));
      c.apply(ingressTo('x', 'b-no-ingress', pod('b'), [], ['Ingress']));
      check(80, 'TCP', new Reachability(true).expectPeer('x/a', '', false).expectPeer('', 'x/b', false).allowLoopback());
    },
  },
  {
    name: "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP",
    run(c, check) {
      c.apply(ingressTo('x', 'sctp-80', pod('a'), [{ ports: [{ protocol: 'SCTP', port: 80 }] }]));
      check(80, 'TCP', onlyFrom('x/a', []));
      check(80, 'SCTP', new Reachability(true));
      check(81, 'SCTP', onlyFrom('x/a', []));
    },
  },
  {
    name: 'should properly isolate pods that are serving both TCP and UDP',
    run(c, check) {
      c.apply(ingressTo('x', 'udp-81', pod('a'), [{ ports: [{ protocol: 'UDP', port: 81 }] }]));
      check(81, 'UDP', new Reachability(true));
      check(81, 'TCP', onlyFrom('x/a', []));
      check(80, 'UDP', onlyFrom('x/a', []));
    },
  },
  {
    name: 'should support allow traffic with port range (endPort) [ingress]',
    run(c, check) {
      c.apply(
        ingressTo('x', 'range-81-82', pod('a'), [
          { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 81, endPort: 82 }] },
        ]),
      );
      check(80, 'TCP', onlyFrom('x/a', []));
      check(81, 'TCP', onlyFrom('x/a', ['y']));
    },
  },
  {
    name: 'should enforce egress policy with a port range (endPort)',
    run(c, check) {
      c.apply(egressFrom('x', 'range-80-81', pod('a'), [{ ports: [{ port: 80, endPort: 81 }] }]));
      check(80, 'TCP', new Reachability(true));
      check(81, 'TCP', new Reachability(true));
      check(81, 'UDP', onlyTo('x/a', []));
    },
  },
  {
    name: 'selectors: NotIn matches pods without the key; Exists and DoesNotExist',
    run(c, check) {
      c.apply(
        ingressTo('x', 'notin', pod('a'), [
          { from: [{ podSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] } }] },
        ]),
      );
      check(80, 'TCP', onlyFrom('x/a', ['x']));
      const b = c.pods.get('x/b');
      if (b) b.metadata.labels = { ...b.metadata.labels, tier: 'web' };
      c.sync();
      check(80, 'TCP', onlyFrom('x/a', ['x/c']));
      c.delete('x/notin');
      c.apply(
        ingressTo('x', 'exists', pod('c'), [{ from: [{ podSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] } }] }]),
      );
      c.apply(
        ingressTo('x', 'not-exists', pod('a'), [
          { from: [{ podSelector: { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] } }] },
        ]),
      );
      check(80, 'TCP', onlyFrom('x/c', ['x/b']).expectPeer('', 'x/a', false).expect('x/c', 'x/a', true).allowLoopback());
    },
  },
];

describe('upstream NetworkPolicy e2e cases through the rule engine', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, testCase) => {
    const cluster = new Cluster();
    let checks = 0;
    testCase.run(cluster, (port, protocol, expected) => {
      checks++;
      const got = cluster.matrix(port, protocol);
      expect(`${protocol}/${port}\n${got}`).toBe(`${protocol}/${port}\n${expected.print()}`);
    });
    expect(checks).toBeGreaterThan(0);
  });

  it('ports at least 20 upstream cases over the 81-cell model', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(20);
    expect(ALL_PODS).toHaveLength(9);
  });
});
