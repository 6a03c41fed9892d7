// The resources the podnet API server serves (packages/apiserver), with the facts a REST client
// needs to build their paths: API group, version, plural, and whether they live in a namespace.
// Paths follow the Kubernetes API conventions (community/contributors/devel/sig-architecture/
// api-conventions.md, "Resources"): /api/v1/... for the core group, /apis/<group>/<version>/... else,
// /namespaces/<ns>/ before the plural for namespaced resources.

export interface ResourceInfo {
  /** The plural, lower-case resource name in URLs ("pods"). */
  readonly plural: string;
  readonly kind: string;
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly namespaced: boolean;
}

const table: ResourceInfo[] = [
  { plural: 'namespaces', kind: 'Namespace', group: '', version: 'v1', namespaced: false },
  { plural: 'nodes', kind: 'Node', group: '', version: 'v1', namespaced: false },
  { plural: 'pods', kind: 'Pod', group: '', version: 'v1', namespaced: true },
  { plural: 'services', kind: 'Service', group: '', version: 'v1', namespaced: true },
  { plural: 'endpoints', kind: 'Endpoints', group: '', version: 'v1', namespaced: true },
  { plural: 'events', kind: 'Event', group: '', version: 'v1', namespaced: true },
  { plural: 'deployments', kind: 'Deployment', group: 'apps', version: 'v1', namespaced: true },
  { plural: 'replicasets', kind: 'ReplicaSet', group: 'apps', version: 'v1', namespaced: true },
  { plural: 'endpointslices', kind: 'EndpointSlice', group: 'discovery.k8s.io', version: 'v1', namespaced: true },
  { plural: 'networkpolicies', kind: 'NetworkPolicy', group: 'networking.k8s.io', version: 'v1', namespaced: true },
  { plural: 'leases', kind: 'Lease', group: 'coordination.k8s.io', version: 'v1', namespaced: true },
];

export const resources: ReadonlyMap<string, ResourceInfo> = new Map(table.map((r) => [r.plural, r]));

export type ResourceName =
  | 'namespaces'
  | 'nodes'
  | 'pods'
  | 'services'
  | 'endpoints'
  | 'events'
  | 'deployments'
  | 'replicasets'
  | 'endpointslices'
  | 'networkpolicies'
  | 'leases';

export function apiVersionOf(info: ResourceInfo): string {
  return info.group === '' ? info.version : `${info.group}/${info.version}`;
}

/** The group-version prefix: "/api/v1" or "/apis/apps/v1". */
export function groupVersionPath(info: ResourceInfo): string {
  return info.group === '' ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
}

/**
 * The collection path, e.g. /api/v1/namespaces/default/pods; for a namespaced resource without a
 * namespace, the all-namespaces collection (/api/v1/pods), as `kubectl get pods -A` uses.
 */
export function collectionPath(info: ResourceInfo, namespace?: string): string {
  const gv = groupVersionPath(info);
  if (info.namespaced && namespace !== undefined) return `${gv}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`;
  return `${gv}/${info.plural}`;
}

export function objectPath(info: ResourceInfo, name: string, namespace?: string, subresource?: string): string {
  const base = `${collectionPath(info, namespace)}/${encodeURIComponent(name)}`;
  return subresource ? `${base}/${subresource}` : base;
}
