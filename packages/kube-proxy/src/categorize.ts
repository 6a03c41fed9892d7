// Which endpoints each traffic policy uses (pkg/proxy/topology.go CategorizeEndpoints).
// Cluster policy: the ready endpoints; if there are none, the serving-and-terminating ones
// (KEP-1669 ProxyTerminatingEndpoints: a rolling update with no ready pod yet still answers).
// Local policy: the same choice made among this node's endpoints only.
// Topology-aware hints are not modelled: podnet's Nodes carry no zone labels (documented).
import type { EndpointInfo } from './endpoints-change-tracker.js';
import { type ServicePortInfo, usesClusterEndpoints, usesLocalEndpoints } from './service-info.js';

export interface CategorizedEndpoints {
  clusterEndpoints: EndpointInfo[];
  localEndpoints: EndpointInfo[];
  /** Every endpoint some rule of this node may DNAT to: each gets a KUBE-SEP chain. */
  allLocallyReachableEndpoints: EndpointInfo[];
  /** The Service has usable endpoints somewhere in the cluster. */
  hasAnyEndpoints: boolean;
}

export function categorizeEndpoints(endpoints: readonly EndpointInfo[], svc: ServicePortInfo): CategorizedEndpoints {
  let clusterEndpoints: EndpointInfo[] = [];
  let localEndpoints: EndpointInfo[] = [];
  let hasAnyEndpoints = false;
  let usedServingTerminating = false;

  if (usesClusterEndpoints(svc)) {
    clusterEndpoints = endpoints.filter((e) => e.ready);
    if (clusterEndpoints.length === 0) clusterEndpoints = endpoints.filter((e) => e.serving && e.terminating);
    if (clusterEndpoints.length > 0) hasAnyEndpoints = true;
  }
  if (!usesLocalEndpoints(svc)) {
    return { clusterEndpoints, localEndpoints, allLocallyReachableEndpoints: clusterEndpoints, hasAnyEndpoints };
  }

  let hasLocalReady = false;
  let hasLocalServingTerminating = false;
  for (const e of endpoints) {
    if (e.ready) {
      hasAnyEndpoints = true;
      if (e.isLocal) hasLocalReady = true;
    } else if (e.serving && e.terminating) {
      hasAnyEndpoints = true;
      if (e.isLocal) hasLocalServingTerminating = true;
    }
  }
  if (hasLocalReady) {
    localEndpoints = endpoints.filter((e) => e.isLocal && e.ready);
  } else if (hasLocalServingTerminating) {
    usedServingTerminating = true;
    localEndpoints = endpoints.filter((e) => e.isLocal && e.serving && e.terminating);
  }
  if (!usesClusterEndpoints(svc)) {
    return { clusterEndpoints, localEndpoints, allLocallyReachableEndpoints: localEndpoints, hasAnyEndpoints };
  }
  if (!usedServingTerminating) {
    // localEndpoints are then ready endpoints, all of which are in clusterEndpoints already.
    return { clusterEndpoints, localEndpoints, allLocallyReachableEndpoints: clusterEndpoints, hasAnyEndpoints };
  }
  const merged = new Map<string, EndpointInfo>();
  for (const e of [...clusterEndpoints, ...localEndpoints]) merged.set(e.endpoint, e);
  const allLocallyReachableEndpoints = [...merged.values()].sort((a, b) => (a.endpoint < b.endpoint ? -1 : 1));
  return { clusterEndpoints, localEndpoints, allLocallyReachableEndpoints, hasAnyEndpoints };
}
