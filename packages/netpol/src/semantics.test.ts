import { describe, expect, it } from 'vitest';
import { compilePolicy, effectivePolicyTypes, namespaceInfo, podInfo } from './semantics.js';
import type { NetworkPolicy } from './types.js';

const p = (spec: NetworkPolicy['spec']): NetworkPolicy => ({ metadata: { namespace: 'x', name: 'p' }, spec });

describe('NetworkPolicy semantics', () => {
  it('defaults policyTypes as the API does: Ingress always, Egress only with egress rules', () => {
    expect([...effectivePolicyTypes(p({ podSelector: {} }))]).toEqual(['Ingress']);
    expect([...effectivePolicyTypes(p({ podSelector: {}, egress: [] }))]).toEqual(['Ingress']);
    expect([...effectivePolicyTypes(p({ podSelector: {}, egress: [{}] }))]).toEqual(['Ingress', 'Egress']);
    expect([...effectivePolicyTypes(p({ podSelector: {}, policyTypes: ['Egress'] }))]).toEqual(['Egress']);
  });

  it('distinguishes empty from missing: [] rules allow nothing, [{}] allows every peer and port', () => {
    expect(compilePolicy(p({ podSelector: {}, ingress: [] }), [], new Map()).ingress).toEqual([]);
    expect(compilePolicy(p({ podSelector: {}, ingress: [{}] }), [], new Map()).ingress).toEqual([
      { index: 0, peers: [{ kind: 'any' }], ports: [{ kind: 'all' }] },
    ]);
    expect(compilePolicy(p({ podSelector: {}, ingress: [{ from: [], ports: [] }] }), [], new Map()).ingress[0]?.peers).toEqual([
      { kind: 'any' },
    ]);
    // A port entry without a port is every port of its protocol (TCP by default).
    expect(compilePolicy(p({ podSelector: {}, ingress: [{ ports: [{}] }] }), [], new Map()).ingress[0]?.ports).toEqual([
      { kind: 'protocol', protocol: 'TCP' },
    ]);
  });

  it('refuses what API validation refuses, naming the field', () => {
    const bad = (spec: NetworkPolicy['spec']) => () => compilePolicy(p(spec), [], new Map());
    expect(bad({ podSelector: {}, ingress: [{ from: [{}] }] })).toThrow(
      'NetworkPolicy x/p: spec.ingress[0].from[0]: a peer needs podSelector, namespaceSelector or ipBlock',
    );
    expect(bad({ podSelector: {}, ingress: [{ ports: [{ port: 90, endPort: 80 }] }] })).toThrow(
      /spec.ingress\[0\].ports\[0\].endPort: endPort 80 must be/,
    );
    expect(bad({ podSelector: {}, egress: [{ ports: [{ port: 'web', endPort: 80 }] }] })).toThrow(/named port "web"/);
    expect(bad({ podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] })).toThrow(
      /spec.egress\[0\].to\[0\].ipBlock.cidr/,
    );
    expect(bad({ podSelector: { matchExpressions: [{ key: 'a', operator: 'Has' }] } })).toThrow(/spec.podSelector: "Has" is not a valid/);
    expect(bad({ podSelector: {}, ingress: [{ ports: [{ protocol: 'ICMP' as 'TCP', port: 1 }] }] })).toThrow(
      /"ICMP" is not TCP, UDP or SCTP/,
    );
    expect(bad({ podSelector: {}, ingress: [{ ports: [{ port: 70000 }] }] })).toThrow(/70000 is not a port/);
  });

  it('reads pods: no IP, host network and finished pods cannot be selected; named ports keep their protocol', () => {
    const base = {
      metadata: { namespace: 'x', name: 'a' },
      spec: { nodeName: 'n', containers: [{ name: 'c', ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' as const }] }] },
    };
    expect(podInfo({ ...base, status: {} })).toBeUndefined();
    expect(podInfo({ ...base, spec: { ...base.spec, hostNetwork: true }, status: { podIP: '10.0.0.1' } })).toBeUndefined();
    expect(podInfo({ ...base, status: { podIP: '10.0.0.1', phase: 'Succeeded' } })).toBeUndefined();
    expect([...(podInfo({ ...base, status: { podIP: '10.0.0.1' } })?.namedPorts ?? [])]).toEqual([['dns/UDP', 53]]);
    expect(namespaceInfo({ metadata: { name: 'y', labels: { a: 'b' } } }).labels).toEqual({ 'kubernetes.io/metadata.name': 'y', a: 'b' });
  });
});
