// Rolling-update arithmetic of the Deployment controller, as pure functions
// (pkg/controller/deployment/rolling.go and util/deployment_util.go):
// - ResolveFenceposts: maxSurge rounds up, maxUnavailable rounds down; both 0 ⇒ maxUnavailable 1;
// - reconcileNewReplicaSet: scale the new ReplicaSet up to at most desired + maxSurge pods in all;
// - reconcileOldReplicaSets: scale old ReplicaSets down while at least desired − maxUnavailable
//   pods stay available, first their unhealthy pods (cleanupUnhealthyReplicas), then healthy ones
//   oldest first (scaleDownOldReplicaSetsForRollingUpdate).
import type { IntOrString } from '../kube-types.js';

/** intstr.GetScaledValueFromIntOrPercent. */
export function scaledValue(v: IntOrString | undefined, total: number, roundUp: boolean, fallback: IntOrString): number {
  const x = v ?? fallback;
  if (typeof x === 'number') return x;
  const m = /^(\d+)%$/.exec(x);
  if (!m) {
    if (/^\d+$/.test(x)) return Number(x);
    throw new Error(`invalid value for IntOrString: "${x}" is neither an integer nor a percentage like "25%"`);
  }
  const scaled = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}

export interface Fenceposts {
  maxSurge: number;
  maxUnavailable: number;
}

export function resolveFenceposts(maxSurge: IntOrString | undefined, maxUnavailable: IntOrString | undefined, desired: number): Fenceposts {
  const surge = scaledValue(maxSurge, desired, true, '25%');
  let unavailable = scaledValue(maxUnavailable, desired, false, '25%');
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { maxSurge: surge, maxUnavailable: Math.min(unavailable, desired) };
}

export interface RsState {
  name: string;
  /** spec.replicas */
  replicas: number;
  /** available pods (ready for minReadySeconds) */
  available: number;
  /** creation order; smaller is older */
  created: number;
}

export type RollingStep =
  | { kind: 'none' }
  | { kind: 'scale'; targets: { name: string; replicas: number }[]; why: 'scale-up-new' | 'scale-down-new' | 'scale-down-old' };

/**
 * One step of a rolling update, as one sync of the real controller takes it: first the new
 * ReplicaSet scales (and the step ends), else the old ones scale down. `old` holds only the
 * active old ReplicaSets.
 */
export function rollingStep(desired: number, fp: Fenceposts, newRs: RsState, old: readonly RsState[]): RollingStep {
  const all = [...old, newRs];
  const total = all.reduce((s, r) => s + r.replicas, 0);
  // reconcileNewReplicaSet
  if (newRs.replicas > desired) return { kind: 'scale', why: 'scale-down-new', targets: [{ name: newRs.name, replicas: desired }] };
  if (newRs.replicas < desired) {
    const maxTotal = desired + fp.maxSurge;
    if (total < maxTotal) {
      const up = Math.min(maxTotal - total, desired - newRs.replicas);
      return { kind: 'scale', why: 'scale-up-new', targets: [{ name: newRs.name, replicas: newRs.replicas + up }] };
    }
  }
  // reconcileOldReplicaSets
  const oldCount = old.reduce((s, r) => s + r.replicas, 0);
  if (oldCount === 0) return { kind: 'none' };
  const minAvailable = desired - fp.maxUnavailable;
  const newUnavailable = newRs.replicas - newRs.available;
  const maxScaledDown = total - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return { kind: 'none' };
  const byAge = [...old].sort((a, b) => a.created - b.created);
  const replicas = new Map(byAge.map((r) => [r.name, r.replicas]));
  // cleanupUnhealthyReplicas: pods that are not available cost nothing to remove.
  let cleaned = 0;
  for (const rs of byAge) {
    if (cleaned >= maxScaledDown) break;
    const unhealthy = rs.replicas - rs.available;
    if (rs.replicas === 0 || unhealthy <= 0) continue;
    const n = Math.min(maxScaledDown - cleaned, unhealthy);
    replicas.set(rs.name, rs.replicas - n);
    cleaned += n;
  }
  // scaleDownOldReplicaSetsForRollingUpdate: healthy pods, oldest ReplicaSet first.
  const available = all.reduce((s, r) => s + Math.min(r.available, replicas.get(r.name) ?? r.replicas), 0);
  let scaledDown = 0;
  if (available > minAvailable) {
    const budget = available - minAvailable;
    for (const rs of byAge) {
      if (scaledDown >= budget) break;
      const cur = replicas.get(rs.name) ?? 0;
      if (cur === 0) continue;
      const n = Math.min(cur, budget - scaledDown);
      replicas.set(rs.name, cur - n);
      scaledDown += n;
    }
  }
  const targets = byAge.filter((r) => replicas.get(r.name) !== r.replicas).map((r) => ({ name: r.name, replicas: replicas.get(r.name)! }));
  return targets.length === 0 ? { kind: 'none' } : { kind: 'scale', why: 'scale-down-old', targets };
}

export interface ScaledRs {
  name: string;
  replicas: number;
  created: number;
  /** deployment.kubernetes.io/max-replicas when this ReplicaSet was last scaled */
  maxReplicasAnnotation: number | undefined;
}

/**
 * Proportional scaling (sync.go `scale`): a Deployment scaled while several ReplicaSets are
 * active spreads the change over them in proportion to their sizes, so a rollout in progress
 * keeps its shape. Each gets `replicas × (desired + maxSurge) / max-replicas-annotation`
 * (`getReplicaSetFraction`, rounded), bounded by what is left to add or remove; the rounding
 * leftover goes to the largest one (newest on ties when growing, oldest when shrinking).
 */
export function proportionalScale(desired: number, maxSurge: number, active: readonly ScaledRs[]): Map<string, number> {
  const out = new Map(active.map((r) => [r.name, r.replicas]));
  const allowed = desired > 0 ? desired + maxSurge : 0;
  const current = active.reduce((s, r) => s + r.replicas, 0);
  const toAdd = allowed - current;
  if (toAdd === 0 || active.length === 0) return out;
  const sorted = [...active].sort((a, b) => b.replicas - a.replicas || (toAdd > 0 ? b.created - a.created : a.created - b.created));
  let added = 0;
  for (const rs of sorted) {
    if (toAdd !== 0 && added === toAdd) break;
    let fraction: number;
    if (desired === 0) fraction = -rs.replicas;
    else {
      const annotated = rs.maxReplicasAnnotation && rs.maxReplicasAnnotation > 0 ? rs.maxReplicasAnnotation : current;
      fraction = Math.round((rs.replicas * allowed) / annotated) - rs.replicas;
    }
    const left = toAdd - added;
    const proportion = toAdd > 0 ? Math.min(fraction, left) : Math.max(fraction, left);
    out.set(rs.name, rs.replicas + proportion);
    added += proportion;
  }
  // The rounding leftover goes to the largest ReplicaSet, never below zero.
  const first = sorted[0]!;
  out.set(first.name, Math.max(0, (out.get(first.name) ?? 0) + (toAdd - added)));
  return out;
}
