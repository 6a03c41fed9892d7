// fast-check generators of valid NetworkPolicies over the upstream e2e model (namespaces x, y, z;
// pods a, b, c; named ports serve-80-tcp ...), for property tests of the renderer and the kernel
// interop test: every field the API has, in combinations the API server accepts.
import fc from 'fast-check';
import type { LabelSelector, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, PolicyType } from '../types.js';

const labelSelector: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  fc.constantFrom('a', 'b', 'c').map((p) => ({ matchLabels: { pod: p } })),
  fc
    .tuple(fc.constantFrom('In', 'NotIn'), fc.subarray(['a', 'b', 'c'], { minLength: 1 }))
    .map(([operator, values]) => ({ matchExpressions: [{ key: 'pod', operator, values }] })),
  fc.constantFrom('Exists', 'DoesNotExist').map((operator) => ({ matchExpressions: [{ key: 'tier', operator }] })),
);
const nsSelector: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  fc.constantFrom('x', 'y', 'z').map((n) => ({ matchLabels: { ns: n } })),
  fc.constantFrom('x', 'y', 'z').map((n) => ({ matchLabels: { 'kubernetes.io/metadata.name': n } })),
  fc.constantFrom('x', 'y', 'z').map((n) => ({ matchExpressions: [{ key: 'ns', operator: 'NotIn', values: [n] }] })),
);
const octet = fc.integer({ min: 0, max: 255 });
const peer: fc.Arbitrary<NetworkPolicyPeer> = fc.oneof(
  labelSelector.map((podSelector) => ({ podSelector })),
  nsSelector.map((namespaceSelector) => ({ namespaceSelector })),
  fc.tuple(labelSelector, nsSelector).map(([podSelector, namespaceSelector]) => ({ podSelector, namespaceSelector })),
  fc.tuple(fc.constantFrom(1, 2), octet, fc.boolean()).map(([node, host, except]) => ({
    ipBlock: except
      ? { cidr: '10.244.0.0/16', except: [`10.244.${node}.0/24`, `10.244.3.${host}/32`] }
      : { cidr: `10.244.${node}.${host}/32` },
  })),
  fc.constant({ ipBlock: { cidr: '0.0.0.0/0' } }),
);
const protocol = fc.constantFrom(undefined, 'TCP' as const, 'UDP' as const, 'SCTP' as const);
const port: fc.Arbitrary<NetworkPolicyPort> = fc.oneof(
  protocol.map((p) => (p ? { protocol: p } : {})),
  fc.tuple(protocol, fc.constantFrom(80, 81, 53)).map(([p, n]) => ({ ...(p ? { protocol: p } : {}), port: n })),
  fc
    .tuple(protocol, fc.constantFrom(80, 81), fc.constantFrom(81, 82, 1000))
    .map(([p, n, e]) => ({ ...(p ? { protocol: p } : {}), port: n, endPort: e })),
  fc
    .tuple(fc.constantFrom(80, 81), fc.constantFrom('tcp', 'udp', 'sctp'))
    .map(([n, p]) => ({ protocol: p.toUpperCase() as 'TCP', port: `serve-${n}-${p}` })),
);
const rule = fc.record({
  peers: fc.option(fc.array(peer, { maxLength: 3 }), { nil: undefined }),
  ports: fc.option(fc.array(port, { maxLength: 3 }), { nil: undefined }),
});

export const arbitraryPolicy: fc.Arbitrary<NetworkPolicy> = fc
  .record({
    ns: fc.constantFrom('x', 'y', 'z'),
    id: fc.integer({ min: 0, max: 5 }),
    podSelector: labelSelector,
    types: fc.option(fc.subarray<PolicyType>(['Ingress', 'Egress'], { minLength: 1 }), { nil: undefined }),
    ingress: fc.option(fc.array(rule, { maxLength: 3 }), { nil: undefined }),
    egress: fc.option(fc.array(rule, { maxLength: 3 }), { nil: undefined }),
  })
  .map(({ ns, id, podSelector, types, ingress, egress }) => ({
    metadata: { namespace: ns, name: `p${id}` },
    spec: {
      podSelector,
      ...(types ? { policyTypes: types } : {}),
      ...(ingress
        ? { ingress: ingress.map((r) => ({ ...(r.peers ? { from: r.peers } : {}), ...(r.ports ? { ports: r.ports } : {}) })) }
        : {}),
      ...(egress ? { egress: egress.map((r) => ({ ...(r.peers ? { to: r.peers } : {}), ...(r.ports ? { ports: r.ports } : {}) })) } : {}),
    },
  }));

/** Up to `max` policies with distinct namespace/name. */
export const arbitraryPolicies = (max = 6): fc.Arbitrary<NetworkPolicy[]> =>
  fc.uniqueArray(arbitraryPolicy, { maxLength: max, selector: (p) => `${p.metadata.namespace}/${p.metadata.name}` });
