// The resources podnet's API serves, with the discovery facts kubectl needs (short names,
// categories, verbs, subresources). Mirrors the entries `kubectl api-resources` prints for a
// v1.32 cluster (kubernetes pkg/registry/*/rest/storage_*.go and their strategies).

export interface ResourceInfo {
  group: string; // '' for the core group
  version: string;
  /** Plural, lower case: the URL segment. */
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** Subresource name → the kind it answers with. */
  subresources: Record<string, { group: string; version: string; kind: string; verbs: string[] }>;
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS = (group: string, kind: string) => ({
  status: { group, version: 'v1', kind, verbs: ['get', 'patch', 'update'] },
});
const SCALE = { scale: { group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] } };

function r(
  group: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  shortNames: string[],
  categories: string[],
  subresources: ResourceInfo['subresources'] = {},
): ResourceInfo {
  return {
    group,
    version: 'v1',
    resource,
    singular: kind.toLowerCase(),
    kind,
    listKind: `${kind}List`,
    namespaced,
    shortNames,
    categories,
    verbs: ALL_VERBS,
    subresources,
  };
}

export const RESOURCES: readonly ResourceInfo[] = [
  r('', 'namespaces', 'Namespace', false, ['ns'], [], STATUS('', 'Namespace')),
  r('', 'nodes', 'Node', false, ['no'], [], STATUS('', 'Node')),
  r('', 'pods', 'Pod', true, ['po'], ['all'], {
    ...STATUS('', 'Pod'),
    log: { group: '', version: 'v1', kind: 'Pod', verbs: ['get'] },
    exec: { group: '', version: 'v1', kind: 'PodExecOptions', verbs: ['create', 'get'] },
    binding: { group: '', version: 'v1', kind: 'Binding', verbs: ['create'] },
    eviction: { group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] },
  }),
  r('', 'services', 'Service', true, ['svc'], ['all'], STATUS('', 'Service')),
  r('', 'endpoints', 'Endpoints', true, ['ep'], []),
  r('', 'events', 'Event', true, ['ev'], []),
  r('apps', 'deployments', 'Deployment', true, ['deploy'], ['all'], { ...STATUS('apps', 'Deployment'), ...SCALE }),
  r('apps', 'replicasets', 'ReplicaSet', true, ['rs'], ['all'], { ...STATUS('apps', 'ReplicaSet'), ...SCALE }),
  r('discovery.k8s.io', 'endpointslices', 'EndpointSlice', true, [], []),
  r('networking.k8s.io', 'networkpolicies', 'NetworkPolicy', true, ['netpol'], []),
  r('coordination.k8s.io', 'leases', 'Lease', true, [], []),
];
// Endpoints' singular is "endpoints" (kubectl api-resources), not "endpoint".
for (const info of RESOURCES) if (info.resource === 'endpoints') info.singular = 'endpoints';

export function groupVersion(info: Pick<ResourceInfo, 'group' | 'version'>): string {
  return info.group === '' ? info.version : `${info.group}/${info.version}`;
}

/** A resource's store key, "group/resource" ("core/pods", "apps/deployments"). */
export function resourceKey(info: Pick<ResourceInfo, 'group' | 'resource'>): string {
  return `${info.group || 'core'}/${info.resource}`;
}

export function findResource(group: string, version: string, resource: string): ResourceInfo | undefined {
  return RESOURCES.find((x) => x.group === group && x.version === version && x.resource === resource);
}

export function findResourceByKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return RESOURCES.find((x) => groupVersion(x) === apiVersion && x.kind === kind);
}
