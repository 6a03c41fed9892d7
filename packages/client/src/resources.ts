// Paths of the resources the podnet API server serves. The resource facts (group, version,
// plural, kind, scope) come from @podnet/api's RESOURCES, the table the server itself serves
// discovery from. Paths follow the Kubernetes API conventions (community/contributors/devel/
// sig-architecture/api-conventions.md, "Resources"): /api/v1/... for the core group,
// /apis/<group>/<version>/... else, /namespaces/<ns>/ before the plural for namespaced resources.
import { RESOURCES, type ResourceInfo } from '@podnet/api';

export type { ResourceInfo };

export const resources: ReadonlyMap<string, ResourceInfo> = new Map(RESOURCES.map((r) => [r.resource, r]));

/** The resources the client can name (the plural of each entry of @podnet/api RESOURCES). */
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

export function apiVersionOf(info: Pick<ResourceInfo, 'group' | 'version'>): string {
  return info.group === '' ? info.version : `${info.group}/${info.version}`;
}

/** The group-version prefix: "/api/v1" or "/apis/apps/v1". */
export function groupVersionPath(info: Pick<ResourceInfo, 'group' | 'version'>): string {
  return info.group === '' ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
}

/**
 * The collection path, e.g. /api/v1/namespaces/default/pods; for a namespaced resource without a
 * namespace, the all-namespaces collection (/api/v1/pods), as `kubectl get pods -A` uses.
 */
export function collectionPath(info: ResourceInfo, namespace?: string): string {
  const gv = groupVersionPath(info);
  if (info.namespaced && namespace !== undefined) return `${gv}/namespaces/${encodeURIComponent(namespace)}/${info.resource}`;
  return `${gv}/${info.resource}`;
}

export function objectPath(info: ResourceInfo, name: string, namespace?: string, subresource?: string): string {
  const base = `${collectionPath(info, namespace)}/${encodeURIComponent(name)}`;
  return subresource ? `${base}/${subresource}` : base;
}
