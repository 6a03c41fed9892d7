// Properties of the renderer over random valid policies on the e2e model: the payload is
// accepted by the rule engine's iptables-restore --noflush on top of kube-proxy's rules, it does
// not depend on the order of the inputs, it never names KUBE-*/FLANNEL-* chains, re-rendering
// over its own chains converges (existing chains only ever deleted when unused), and a policy
// that selects a pod for a direction always isolates it: a probe no rule can allow (TCP to port 9)
// (UDP to port 9) is denied whenever the destination is isolated for ingress or the source for
// egress, and passes when neither is.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { labelSelectorRequirements, matchesLabels } from '../../packages/api/src/index.ts';
import { effectivePolicyTypes, renderPolicies } from '../../packages/netpol/src/index.ts';
import { arbitraryPolicies } from '../../packages/netpol/src/testing/arbitrary-policies.ts';
import { ALL_PODS, Cluster } from './model.ts';

describe('renderer properties', () => {
  it('payloads restore, are order-independent and stay inside PODNET-*', () => {
    const model = new Cluster();
    const pods = [...model.pods.values()];
    const namespaces = [...model.namespaces.values()];
    fc.assert(
      fc.property(arbitraryPolicies(), (policies) => {
        for (const [node, n] of model.nodes) {
          const r = renderPolicies(
            { node, policies, pods, namespaces },
            { existingChains: n.chains, jumpRule: n.jump ? 'none' : 'insert' },
          );
          expect(r.invalid).toEqual([]);
          const reversed = renderPolicies(
            { node, policies: [...policies].reverse(), pods: [...pods].reverse(), namespaces: [...namespaces].reverse() },
            { existingChains: n.chains, jumpRule: n.jump ? 'none' : 'insert' },
          );
          expect(reversed.payload).toBe(r.payload);
          expect(r.payload).not.toMatch(/KUBE-|FLANNEL-/);
          n.nf.restore(r.payload, { noflush: true });
          n.chains = r.chains;
          n.jump = true;
          const saved = n.nf.save({ table: 'filter' });
          expect(saved.match(/-j PODNET-POLICY/g)).toHaveLength(1);
          expect(
            saved
              .split('\n')
              .filter((l) => l.startsWith(':PODNET-'))
              .map((l) => l.slice(1).split(' ')[0]),
          ).toEqual(r.chains);
        }
      }),
      { numRuns: 60, seed: 8 },
    );
  });

  it('isolation always holds: traffic no rule can allow passes exactly when neither end is isolated', () => {
    const checked = { open: 0, shut: 0 };
    fc.assert(
      fc.property(arbitraryPolicies(4), (policies) => {
        const c = new Cluster();
        for (const p of policies) c.policies.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
        c.sync();
        // Isolation, computed straight from the API objects with @podnet/api's selector matching.
        const isolated = (pod: string, type: 'Ingress' | 'Egress') =>
          policies.some(
            (p) =>
              p.metadata.namespace === pod.split('/')[0] &&
              effectivePolicyTypes(p).has(type) &&
              matchesLabels(labelSelectorRequirements(p.spec.podSelector), c.pods.get(pod)?.metadata.labels ?? {}),
          );
        // UDP port 9 is named by no generated port entry: only a rule with no ports, or a UDP entry
        // without a port, can allow it. Without such a rule, isolation alone decides every cell.
        const anyPortRule = policies.some((p) =>
          [...(p.spec.ingress ?? []), ...(p.spec.egress ?? [])].some(
            (r) => (r.ports ?? []).length === 0 || (r.ports ?? []).some((x) => x.port === undefined && x.protocol === 'UDP'),
          ),
        );
        for (const from of ALL_PODS) {
          for (const to of ALL_PODS) {
            if (from === to) continue;
            const ok = c.probe(from, to, 9, 'UDP');
            const shut = isolated(to, 'Ingress') || isolated(from, 'Egress');
            if (!shut) {
              expect(ok, `${from} -> ${to}`).toBe(true);
              checked.open++;
            } else if (!anyPortRule) {
              expect(ok, `${from} -> ${to}`).toBe(false);
              checked.shut++;
            }
          }
        }
      }),
      { numRuns: 40, seed: 3 },
    );
    // The property was exercised both ways (many cells each way with this seed).
    expect(checked.open).toBeGreaterThan(50);
    expect(checked.shut).toBeGreaterThan(50);
  });
});
