// What `podnet trace` says about NetworkPolicy: the verdict per direction comes only from the
// rules the traced packet hit on every node it crossed (`decidedBy` over the events of all hops:
// egress is decided on the source's node, ingress on the destination's). A default deny DROP
// names the pod it isolates (the rendered comment is per pod, as kube-router's per-pod firewall
// chain); which NetworkPolicies isolate that pod is read from the API (a policy with no rules
// leaves no rule of its own in the frames), with upstream's selection semantics: same namespace,
// podSelector matching, policyTypes defaulted (k8s.io/api/networking/v1 types.go).
import type { KubeClient } from '@podnet/client';
import {
  compilePolicy,
  decidedBy,
  effectivePolicyTypes,
  type NetworkPolicy,
  type Pod,
  type PolicyDecision,
  type PolicyTraceEvent,
  type PolicyVerdict,
  podInfo,
  selectsPod,
} from '@podnet/netpol';

export interface TracePolicyReport {
  verdict: PolicyVerdict;
  /** For a denied direction: the NetworkPolicies (namespace/name) that isolate the pod in that direction. */
  isolatedBy: { ingress?: string[]; egress?: string[] };
}

/** The NetworkPolicies that select pod `namespace/name` for `direction` (empty when the pod is gone). */
export async function isolatingPolicies(client: KubeClient, podKey: string, direction: 'ingress' | 'egress'): Promise<string[]> {
  const [namespace, name] = podKey.split('/') as [string, string];
  let pod: Pod;
  try {
    pod = (await client.resource('pods').get(name, { namespace })) as unknown as Pod;
  } catch {
    return [];
  }
  const info = podInfo(pod);
  if (!info) return [];
  const policies = (await client.resource('networkpolicies').list({ namespace })).items as unknown as NetworkPolicy[];
  const type = direction === 'ingress' ? 'Ingress' : 'Egress';
  const out: string[] = [];
  for (const p of policies) {
    if (!effectivePolicyTypes(p).has(type)) continue;
    try {
      // Peers do not matter for selection: compile against no pods and namespaces.
      if (selectsPod(compilePolicy(p, [], new Map()), info)) out.push(`${namespace}/${p.metadata.name}`);
    } catch {
      // A policy the agent refuses (PODNET_ERR_NETPOL_INVALID_POLICY) isolates nothing.
    }
  }
  return out.sort();
}

export async function tracePolicy(client: KubeClient, events: readonly PolicyTraceEvent[]): Promise<TracePolicyReport> {
  const verdict = decidedBy(events);
  const isolatedBy: TracePolicyReport['isolatedBy'] = {};
  for (const d of [verdict.egress, verdict.ingress]) {
    if (d.verdict === 'denied' && d.pod) isolatedBy[d.direction] = await isolatingPolicies(client, d.pod, d.direction);
  }
  return { verdict, isolatedBy };
}

function line(d: PolicyDecision, isolatedBy: string[] | undefined): string {
  if (d.verdict !== 'denied' || !isolatedBy) return `    ${d.direction}: ${d.text}`;
  const by = isolatedBy.length > 0 ? `; isolated by NetworkPolicy ${isolatedBy.join(', ')}` : '';
  return `    ${d.direction}: ${d.text}${by}`;
}

/** The lines `podnet trace` prints under "policy:". */
export function formatTracePolicy(r: TracePolicyReport): string[] {
  const { verdict } = r;
  if (verdict.established || !verdict.policyChainSeen) return ['policy:', `    ${verdict.summary}`];
  return ['policy:', line(verdict.egress, r.isolatedBy.egress), line(verdict.ingress, r.isolatedBy.ingress)];
}
