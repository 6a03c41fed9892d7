// Server-side defaulting on create (and on update for fields a client may drop), as the real
// apiserver's SetDefaults_* functions do (kubernetes pkg/apis/core/v1/defaults.go,
// pkg/apis/apps/v1/defaults.go). Allocation (ClusterIP, NodePort) is not here: it needs the
// store and lives in the apiserver's allocators.

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
type Obj = Record<string, any>;

/** o[key] as an object, created when missing (and stored back). */
function child(o: Obj, key: string): Obj {
  const v = obj(o[key]);
  o[key] = v;
  return v;
}

const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});

/** imagePullPolicy default: Always for `:latest` or no tag, else IfNotPresent (core/v1 defaults.go). */
export function defaultPullPolicy(image: string): string {
  const lastSlash = image.lastIndexOf('/');
  const nameAndTag = image.slice(lastSlash + 1).split('@')[0] ?? '';
  const colon = nameAndTag.indexOf(':');
  if (image.includes('@')) return 'IfNotPresent';
  const tag = colon >= 0 ? nameAndTag.slice(colon + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainers(list: unknown): void {
  if (!Array.isArray(list)) return;
  for (const c of list.map(obj)) {
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    if (typeof c.image === 'string') c.imagePullPolicy ??= defaultPullPolicy(c.image);
    if (Array.isArray(c.ports)) for (const p of c.ports.map(obj)) p.protocol ??= 'TCP';
    c.resources ??= {};
  }
}

export function defaultPodSpec(spec: Obj): void {
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  spec.priority ??= 0;
  defaultContainers(spec.containers);
  defaultContainers(spec.initContainers);
}

function defaultWorkload(o: Obj, isDeployment: boolean): void {
  const spec = child(o, 'spec');
  spec.replicas ??= 1;
  if (isDeployment) {
    // DeploymentSpec only: ReplicaSetSpec has no revisionHistoryLimit (k8s.io/api apps/v1 types.go).
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
    const strategy = child(spec, 'strategy');
    strategy.type ??= 'RollingUpdate';
    if (strategy.type === 'RollingUpdate') {
      const ru = child(strategy, 'rollingUpdate');
      ru.maxUnavailable ??= '25%';
      ru.maxSurge ??= '25%';
    }
  }
  const template = child(spec, 'template');
  template.metadata = obj(template.metadata);
  defaultPodSpec(child(template, 'spec'));
  o.status ??= {};
}

function defaultService(o: Obj): void {
  const spec = child(o, 'spec');
  spec.type ??= 'ClusterIP';
  if (spec.type === 'ExternalName') return;
  spec.sessionAffinity ??= 'None';
  spec.internalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') spec.externalTrafficPolicy ??= 'Cluster';
  spec.ipFamilies ??= ['IPv4'];
  spec.ipFamilyPolicy ??= 'SingleStack';
  if (Array.isArray(spec.ports)) {
    for (const p of spec.ports.map(obj)) {
      p.protocol ??= 'TCP';
      // targetPort defaults to port (core/v1 defaults.go SetDefaults_Service).
      if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
    }
  }
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
  o.status ??= { loadBalancer: {} };
}

/** Applies the defaults of `kind` to a fresh object in place (create). */
export function applyDefaults(kind: string, o: Obj): void {
  o.metadata = obj(o.metadata);
  switch (kind) {
    case 'Pod': {
      defaultPodSpec(child(o, 'spec'));
      o.status ??= {};
      o.status.phase ??= 'Pending';
      o.status.qosClass ??= 'BestEffort';
      break;
    }
    case 'Deployment':
      defaultWorkload(o, true);
      break;
    case 'ReplicaSet':
      defaultWorkload(o, false);
      break;
    case 'Service':
      defaultService(o);
      break;
    case 'Namespace': {
      // The NamespaceDefaultLabelName feature (GA in 1.22): the immutable name label.
      o.metadata.labels = { ...obj(o.metadata.labels), 'kubernetes.io/metadata.name': o.metadata.name };
      o.spec ??= { finalizers: ['kubernetes'] };
      o.status ??= { phase: 'Active' };
      break;
    }
    case 'EndpointSlice':
      if (Array.isArray(o.ports)) for (const p of o.ports.map(obj)) p.protocol ??= 'TCP';
      break;
    case 'NetworkPolicy': {
      const spec = child(o, 'spec');
      spec.podSelector ??= {};
      // policyTypes default: Ingress, plus Egress when egress rules exist (networking/v1 defaults.go).
      spec.policyTypes ??= Array.isArray(spec.egress) && spec.egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
      if (Array.isArray(spec.ingress))
        for (const r of spec.ingress.map(obj)) for (const p of (r.ports ?? []).map(obj)) p.protocol ??= 'TCP';
      if (Array.isArray(spec.egress)) for (const r of spec.egress.map(obj)) for (const p of (r.ports ?? []).map(obj)) p.protocol ??= 'TCP';
      break;
    }
    case 'Endpoints':
      for (const s of (Array.isArray(o.subsets) ? o.subsets : []).map(obj)) for (const p of (s.ports ?? []).map(obj)) p.protocol ??= 'TCP';
      break;
    case 'Node':
      o.spec ??= {};
      o.status ??= {};
      break;
  }
}
