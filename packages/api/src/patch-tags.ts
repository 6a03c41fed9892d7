// The strategic-merge metadata of the Kubernetes types podnet serves: the `patchStrategy` and
// `patchMergeKey` struct tags of k8s.io/api (core/v1/types.go, apps/v1/types.go) and apimachinery
// pkg/apis/meta/v1/types.go. One table, two readers: the API server applies strategic merge
// patches by it (patch.ts), and publishes it as x-kubernetes-patch-strategy /
// x-kubernetes-patch-merge-key in /openapi/v2 and /openapi/v3 (apiserver openapi-schema.ts), from
// which kubectl computes the patches it sends (strategicpatch.PatchMetaFromOpenAPI).
// A field not listed has no patch strategy: strategic merge replaces its list as a whole.

/** A field's struct tags. `mergeKey` is absent for a merged list of primitives (finalizers). */
export interface PatchTag {
  strategy: 'merge' | 'retainKeys' | 'merge,retainKeys';
  mergeKey?: string;
}

const MERGE = (mergeKey?: string): PatchTag => ({ strategy: 'merge', ...(mergeKey ? { mergeKey } : {}) });
const MERGE_RETAIN_KEYS = (mergeKey: string): PatchTag => ({ strategy: 'merge,retainKeys', mergeKey });

// Container and EphemeralContainerCommon carry the same tags (core/v1 types.go).
const CONTAINER_TAGS = {
  ports: MERGE('containerPort'),
  env: MERGE('name'),
  volumeMounts: MERGE('mountPath'),
  volumeDevices: MERGE('devicePath'),
};

/** Table type (api-types.ts) → field → tags. */
const PATCH_TAGS: Readonly<Record<string, Readonly<Record<string, PatchTag>>>> = {
  'meta.v1.ObjectMeta': { finalizers: MERGE(), ownerReferences: MERGE('uid') },
  'core.v1.PodSpec': {
    volumes: MERGE_RETAIN_KEYS('name'),
    initContainers: MERGE('name'),
    containers: MERGE('name'),
    ephemeralContainers: MERGE('name'),
    imagePullSecrets: MERGE('name'),
    hostAliases: MERGE('ip'),
    topologySpreadConstraints: MERGE('topologyKey'),
    resourceClaims: MERGE_RETAIN_KEYS('name'),
    schedulingGates: MERGE('name'),
  },
  'core.v1.Container': CONTAINER_TAGS,
  'core.v1.EphemeralContainer': CONTAINER_TAGS,
  // KEP-4680 (ResourceHealthStatus): `patchStrategy:"merge" patchMergeKey:"name"`.
  'core.v1.ContainerStatus': { allocatedResourcesStatus: MERGE('name') },
  'core.v1.PodStatus': {
    conditions: MERGE('type'),
    podIPs: MERGE('ip'),
    hostIPs: MERGE('ip'),
    resourceClaimStatuses: MERGE_RETAIN_KEYS('name'),
  },
  'core.v1.ServiceSpec': { ports: MERGE('port') },
  'core.v1.ServiceStatus': { conditions: MERGE('type') },
  'core.v1.NodeSpec': { podCIDRs: MERGE() },
  'core.v1.NodeStatus': { conditions: MERGE('type'), addresses: MERGE('type') },
  'core.v1.NamespaceStatus': { conditions: MERGE('type') },
  'apps.v1.DeploymentSpec': { strategy: { strategy: 'retainKeys' } },
  'apps.v1.DeploymentStatus': { conditions: MERGE('type') },
  'apps.v1.ReplicaSetStatus': { conditions: MERGE('type') },
};

/** The tags of `type`.`field`, if it has any. */
export function patchTagOf(type: string, field: string): PatchTag | undefined {
  const fields = PATCH_TAGS[type];
  return fields && Object.hasOwn(fields, field) ? fields[field] : undefined;
}

/** Every tagged field, for checks that a consumer publishes exactly these. */
export function patchTaggedFields(): Array<{ type: string; field: string; tag: PatchTag }> {
  return Object.entries(PATCH_TAGS).flatMap(([type, fields]) => Object.entries(fields).map(([field, tag]) => ({ type, field, tag })));
}
