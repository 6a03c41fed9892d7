// The scheduler's decision for one pod, as a pure function. It mirrors the default plugins of
// kube-scheduler (pkg/scheduler/framework/plugins) that matter to podnet:
// - filters: NodeName (spec.nodeName pins the node), NodeUnschedulable (spec.unschedulable),
//   TaintToleration (NoSchedule and NoExecute taints need a toleration), NodeAffinity's
//   nodeSelector part, and node readiness (the scheduler only sees Ready nodes: the node
//   lifecycle controller taints NotReady ones, pkg/controller/nodelifecycle);
// - scores: SelectorSpread / PodTopologySpread's effect of spreading the pods of one owner over
//   nodes (fewest pods of the same controller), then the fewest pods overall (a stand-in for
//   NodeResourcesBalancedAllocation, since podnet pods request no resources), then the node name
//   so that the choice is deterministic.
import { controllerOf, type Node, nodeCondition, type Pod, type Taint, type Toleration } from '../kube-types.js';

export type ScheduleResult = { node: string } | { node?: undefined; message: string };

/** Does one toleration match the taint (core/v1 toleration.go `ToleratesTaint`)? */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if ((t.operator ?? 'Equal') === 'Exists') return !t.key || t.key === taint.key;
  return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
}

export function untoleratedTaint(pod: Pod, node: Node, effects: readonly string[]): Taint | undefined {
  const tolerations = pod.spec.tolerations ?? [];
  return (node.spec?.taints ?? []).find((taint) => effects.includes(taint.effect) && !tolerations.some((t) => tolerates(t, taint)));
}

function nodeReady(node: Node): boolean {
  return nodeCondition(node, 'Ready')?.status === 'True';
}

/** Why a node cannot take the pod, in kube-scheduler's wording; undefined when it can. */
export function unfitReason(pod: Pod, node: Node): string | undefined {
  if (!nodeReady(node)) return 'node(s) were not ready';
  if (node.spec?.unschedulable) return 'node(s) were unschedulable';
  const sel = pod.spec.nodeSelector ?? {};
  const labels = node.metadata.labels ?? {};
  if (Object.entries(sel).some(([k, v]) => labels[k] !== v)) return "node(s) didn't match Pod's node affinity/selector";
  const taint = untoleratedTaint(pod, node, ['NoSchedule', 'NoExecute']);
  if (taint) return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
  return undefined;
}

/**
 * Picks the node for `pod` among `nodes`, given the pods already bound (`boundPods`, any
 * namespace). Returns a FailedScheduling message in kube-scheduler's format
 * ("0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) were not ready.") otherwise.
 */
export function chooseNode(pod: Pod, nodes: readonly Node[], boundPods: readonly Pod[]): ScheduleResult {
  const reasons = new Map<string, number>();
  const feasible: Node[] = [];
  for (const node of nodes) {
    const why = unfitReason(pod, node);
    if (why) reasons.set(why, (reasons.get(why) ?? 0) + 1);
    else feasible.push(node);
  }
  if (feasible.length === 0) {
    if (nodes.length === 0) return { message: 'no nodes available to schedule pods' };
    const parts = [...reasons.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([why, n]) => `${n} ${why}`);
    return { message: `0/${nodes.length} nodes are available: ${parts.join(', ')}.` };
  }
  const owner = controllerOf(pod)?.uid;
  const total = new Map<string, number>();
  const sameOwner = new Map<string, number>();
  for (const p of boundPods) {
    const n = p.spec.nodeName;
    if (!n || p.metadata.uid === pod.metadata.uid) continue;
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    total.set(n, (total.get(n) ?? 0) + 1);
    // Spreading ignores terminating pods (selector_spread.go countMatchingPods), so a replacement
    // goes where the pod it replaces is leaving.
    if (owner && !p.metadata.deletionTimestamp && controllerOf(p)?.uid === owner) sameOwner.set(n, (sameOwner.get(n) ?? 0) + 1);
  }
  const name = (n: Node) => n.metadata.name ?? '';
  feasible.sort(
    (a, b) =>
      (sameOwner.get(name(a)) ?? 0) - (sameOwner.get(name(b)) ?? 0) ||
      (total.get(name(a)) ?? 0) - (total.get(name(b)) ?? 0) ||
      name(a).localeCompare(name(b)),
  );
  return { node: name(feasible[0]!) };
}
