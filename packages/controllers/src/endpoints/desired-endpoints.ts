// What a Service's EndpointSlices and Endpoints should contain, as pure functions of the Service
// and its pods. Mirrors pkg/controller/endpointslice (reconciler.go, utils.go) and
// pkg/controller/endpoint (endpoints_controller.go):
// - a pod takes part once it has an IP and is not Succeeded/Failed (`ShouldPodBeInEndpoints`);
// - conditions (KEP-1672, GA in 1.26): ready = Ready condition and not terminating;
//   serving = Ready condition (kept while terminating); terminating = deletionTimestamp set;
//   a Service with publishNotReadyAddresses marks every endpoint ready and serving;
// - ports: each Service port resolved on each pod (`podutil.FindPort`: a numeric targetPort as
//   is, a named one by the container port of that name and protocol); a port that does not
//   resolve on a pod is left out for that pod, so pods group by their resolved port set, and each
//   group gets its own slices (an EndpointSlice has one port list);
// - at most 100 endpoints per slice (`maxEndpointsPerSlice` default in kube-controller-manager).
import { type Endpoint, type EndpointPort, type EndpointSubset, isPodReady, type Pod, type Service } from '../kube-types.js';

export const MAX_ENDPOINTS_PER_SLICE = 100;

export function shouldPodBeInEndpoints(pod: Pod): boolean {
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return false;
  return Boolean(pod.status?.podIP);
}

/** podutil.FindPort: the container port a Service port's targetPort names on this pod. */
export function findPort(pod: Pod, target: number | string | undefined, port: number, protocol: string): number | undefined {
  if (target === undefined) return port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  for (const c of pod.spec.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === target && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
  }
  return undefined;
}

export function endpointPorts(svc: Service, pod: Pod): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const sp of svc.spec.ports ?? []) {
    const protocol = sp.protocol ?? 'TCP';
    const port = findPort(pod, sp.targetPort, sp.port, protocol);
    if (port === undefined) continue;
    const ep: EndpointPort = { name: sp.name ?? '', port, protocol };
    if (sp.appProtocol) ep.appProtocol = sp.appProtocol;
    out.push(ep);
  }
  return out;
}

/**
 * One pod as an endpoint (endpointslice utils.go `podToEndpoint`): serving = ready or the Service
 * publishes not-ready addresses; ready = serving and not terminating, or publishNotReadyAddresses.
 */
export function podEndpoint(pod: Pod, publishNotReadyAddresses = false): Endpoint {
  const terminating = Boolean(pod.metadata.deletionTimestamp);
  const serving = publishNotReadyAddresses || isPodReady(pod);
  const ep: Endpoint = {
    addresses: [pod.status?.podIP ?? ''],
    conditions: { ready: publishNotReadyAddresses || (serving && !terminating), serving, terminating },
    targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
  };
  if (pod.spec.nodeName) ep.nodeName = pod.spec.nodeName;
  return ep;
}

/** A stable key for a port list (the "endpoint set" of endpointslice utils `portsHash`). */
export function portsKey(ports: readonly EndpointPort[]): string {
  return ports
    .map((p) => `${p.name ?? ''}/${p.protocol ?? 'TCP'}/${p.port ?? ''}/${p.appProtocol ?? ''}`)
    .sort()
    .join(',');
}

export interface DesiredSlice {
  portsKey: string;
  ports: EndpointPort[];
  endpoints: Endpoint[];
}

/**
 * The slices a Service should have, grouped by resolved ports and packed ≤ max per slice, with
 * endpoints ordered by pod name (so packing is stable across syncs and diffs stay small).
 */
export function desiredSlices(svc: Service, pods: readonly Pod[], max = MAX_ENDPOINTS_PER_SLICE): DesiredSlice[] {
  const groups = new Map<string, { ports: EndpointPort[]; pods: Pod[] }>();
  for (const pod of pods) {
    if (!shouldPodBeInEndpoints(pod)) continue;
    const ports = endpointPorts(svc, pod);
    const key = portsKey(ports);
    const g = groups.get(key) ?? { ports: [...ports].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')), pods: [] };
    g.pods.push(pod);
    groups.set(key, g);
  }
  const out: DesiredSlice[] = [];
  for (const [key, g] of [...groups.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    g.pods.sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
    for (let i = 0; i < g.pods.length; i += max) {
      const publish = svc.spec.publishNotReadyAddresses === true;
      out.push({ portsKey: key, ports: g.ports, endpoints: g.pods.slice(i, i + max).map((p) => podEndpoint(p, publish)) });
    }
  }
  return out;
}

/**
 * core/v1 Endpoints subsets (endpoints_controller.go `syncService`): ready pods in `addresses`,
 * not-ready ones in `notReadyAddresses`, terminating pods left out (unless the Service publishes
 * not-ready addresses); one subset per resolved port set.
 */
export function desiredSubsets(svc: Service, pods: readonly Pod[]): EndpointSubset[] {
  const publishNotReady = svc.spec.publishNotReadyAddresses === true;
  const groups = new Map<string, EndpointSubset>();
  const sorted = [...pods].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  for (const pod of sorted) {
    if (!shouldPodBeInEndpoints(pod)) continue;
    if (pod.metadata.deletionTimestamp && !publishNotReady) continue;
    const ports = endpointPorts(svc, pod);
    if ((svc.spec.ports?.length ?? 0) > 0 && ports.length === 0) continue;
    const key = portsKey(ports);
    const subset = groups.get(key) ?? { ports: [...ports].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')) };
    groups.set(key, subset);
    const addr = {
      ip: pod.status?.podIP ?? '',
      ...(pod.spec.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
    };
    if (isPodReady(pod) || publishNotReady) subset.addresses = [...(subset.addresses ?? []), addr];
    else subset.notReadyAddresses = [...(subset.notReadyAddresses ?? []), addr];
  }
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, s]) => s);
}
