// Server-side printing: meta.k8s.io/v1 Table responses with the column sets of the real
// apiserver (kubernetes pkg/printers/internalversion/printers.go, AddHandlers), so
// `kubectl get` prints exactly the familiar columns; priority-1 columns show with `-o wide`.
import { formatLabelSelector } from '@podnet/api';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
type Obj = Record<string, any>;

interface Column {
  name: string;
  type: 'string' | 'integer' | 'date';
  format?: string;
  description: string;
  priority?: number;
  cell: (o: Obj, now: number) => string | number;
}

/** apimachinery pkg/util/duration HumanDuration: "5s", "2m3s", "10m", "3h4m", "5d", "2y3d". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 192) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const d = Math.floor(hours / 24) % 365;
    return d === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${d}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

function age(ts: string | undefined, now: number): string {
  if (!ts) return '<unknown>';
  return humanDuration(now - Date.parse(ts));
}

const name: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  cell: (o) => o.metadata?.name ?? '',
};
const ageCol: Column = {
  name: 'Age',
  type: 'string',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  cell: (o, now) => age(o.metadata?.creationTimestamp, now),
};
const col = (n: string, cell: Column['cell'], priority = 0, type: Column['type'] = 'string', description = ''): Column => ({
  name: n,
  type,
  description: description || n,
  priority,
  cell,
});

function podStatus(p: Obj): string {
  let reason: string = p.status?.reason || p.status?.phase || 'Pending';
  for (const cs of arr(p.status?.containerStatuses)) {
    if (cs.state?.waiting?.reason) reason = cs.state.waiting.reason;
    else if (cs.state?.terminated?.reason) reason = cs.state.terminated.reason;
    else if (cs.state?.terminated)
      reason = cs.state.terminated.signal ? `Signal:${cs.state.terminated.signal}` : `ExitCode:${cs.state.terminated.exitCode}`;
  }
  if (p.metadata?.deletionTimestamp && p.status?.reason !== 'NodeLost') reason = 'Terminating';
  return reason;
}

function podRestarts(p: Obj): string {
  return String(arr(p.status?.containerStatuses).reduce((n, c) => n + (c.restartCount ?? 0), 0));
}

function servicePorts(s: Obj): string {
  const ports = arr(s.spec?.ports);
  if (ports.length === 0) return '<none>';
  return ports.map((p) => (p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol ?? 'TCP'}` : `${p.port}/${p.protocol ?? 'TCP'}`)).join(',');
}

function externalIp(s: Obj): string {
  const type = s.spec?.type;
  const ext = arr(s.spec?.externalIPs) as unknown as string[];
  if (type === 'ExternalName') return s.spec?.externalName ?? '<none>';
  if (type === 'LoadBalancer') {
    const ing = arr(s.status?.loadBalancer?.ingress).map((i) => i.ip || i.hostname);
    const all = [...ing, ...ext];
    return all.length ? all.join(',') : '<pending>';
  }
  return ext.length ? ext.join(',') : '<none>';
}

/** "a,b,c + 2 more..." (printers.go formatEndpoints / formatEndpointSlice). */
function firstThree(list: string[]): string {
  if (list.length === 0) return '<none>';
  return list.length > 3 ? `${list.slice(0, 3).join(',')} + ${list.length - 3} more...` : list.join(',');
}

function endpoints(e: Obj): string {
  const out: string[] = [];
  for (const s of arr(e.subsets)) {
    const ports = arr(s.ports);
    for (const a of arr(s.addresses)) {
      if (ports.length === 0) out.push(a.ip);
      else for (const p of ports) out.push(`${a.ip}:${p.port}`);
    }
  }
  return firstThree(out);
}

function selectorText(sel: Obj | undefined): string {
  const s = sel ? formatLabelSelector(sel) : '';
  return s || '<none>';
}

function containers(spec: Obj | undefined, field: 'name' | 'image'): string {
  return arr(spec?.containers)
    .map((c) => c[field])
    .join(',');
}

function nodeStatus(n: Obj): string {
  const ready = arr(n.status?.conditions).find((c) => c.type === 'Ready');
  let s = ready?.status === 'True' ? 'Ready' : ready?.status === 'False' ? 'NotReady' : 'Unknown';
  if (n.spec?.unschedulable) s += ',SchedulingDisabled';
  return s;
}

function nodeRoles(n: Obj): string {
  const roles = Object.keys(n.metadata?.labels ?? {})
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length))
    .filter((r) => r !== '');
  return roles.length ? roles.sort().join(',') : '<none>';
}

function nodeAddress(n: Obj, type: string): string {
  return arr(n.status?.addresses).find((a) => a.type === type)?.address ?? '<none>';
}

/** v when it is a list, else [] (stored objects are not schema-checked below the top level). */
function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]) : [];
}

const none = (v: unknown) => (v === undefined || v === null || v === '' ? '<none>' : String(v));

const COLUMNS: Record<string, Column[]> = {
  Pod: [
    name,
    col(
      'Ready',
      (p) => `${arr(p.status?.containerStatuses).filter((c) => c.ready).length}/${arr(p.spec?.containers).length}`,
      0,
      'string',
      'The aggregate readiness state of this pod for accepting traffic.',
    ),
    col('Status', podStatus, 0, 'string', 'The aggregate status of the containers in this pod.'),
    col(
      'Restarts',
      podRestarts,
      0,
      'string',
      'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
    ),
    ageCol,
    col(
      'IP',
      (p) => none(p.status?.podIP),
      1,
      'string',
      'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.',
    ),
    col('Node', (p) => none(p.spec?.nodeName), 1, 'string', 'Name of the Node this pod is bound to.'),
    col('Nominated Node', (p) => none(p.status?.nominatedNodeName), 1, 'string', 'Name of the node this pod is nominated to.'),
    col(
      'Readiness Gates',
      (p) => (arr(p.spec?.readinessGates).length ? String(p.spec.readinessGates.length) : '<none>'),
      1,
      'string',
      'If specified, all readiness gates will be evaluated for pod readiness.',
    ),
  ],
  Service: [
    name,
    col('Type', (s) => s.spec?.type ?? 'ClusterIP', 0, 'string', 'The type of the service.'),
    col('Cluster-IP', (s) => none(s.spec?.clusterIP), 0, 'string', 'The IP address of the service.'),
    col('External-IP', externalIp, 0, 'string', 'The external IP address of the service.'),
    col('Port(s)', servicePorts, 0, 'string', 'The ports that the service is exposed on.'),
    ageCol,
    col(
      'Selector',
      (s) => (s.spec?.selector && Object.keys(s.spec.selector).length ? formatLabelSelector({ matchLabels: s.spec.selector }) : '<none>'),
      1,
      'string',
      'Route service traffic to pods with label keys and values matching this selector.',
    ),
  ],
  Endpoints: [name, col('Endpoints', endpoints, 0, 'string', 'Endpoints of the resource.'), ageCol],
  EndpointSlice: [
    name,
    col('AddressType', (e) => e.addressType ?? '', 0, 'string', 'The type of addresses contained in this EndpointSlice.'),
    col(
      'Ports',
      (e) =>
        arr(e.ports).length
          ? (e.ports as Obj[]).map((p) => (p.port === undefined || p.port === null ? '<unset>' : String(p.port))).join(',')
          : '<unset>',
      0,
      'string',
      'Ports included in this EndpointSlice.',
    ),
    col(
      'Endpoints',
      (e) => firstThree(arr(e.endpoints).flatMap((x) => arr(x.addresses) as unknown as string[])),
      0,
      'string',
      'Endpoints included in this EndpointSlice.',
    ),
    ageCol,
  ],
  NetworkPolicy: [
    name,
    col(
      'Pod-Selector',
      (n) => selectorText(n.spec?.podSelector),
      0,
      'string',
      'Selects the pods to which this NetworkPolicy object applies.',
    ),
    ageCol,
  ],
  Deployment: [
    name,
    col('Ready', (d) => `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`, 0, 'string', 'Number of the pod with ready state'),
    col(
      'Up-to-date',
      (d) => d.status?.updatedReplicas ?? 0,
      0,
      'integer',
      'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
    ),
    col(
      'Available',
      (d) => d.status?.availableReplicas ?? 0,
      0,
      'integer',
      'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
    ),
    ageCol,
    col('Containers', (d) => containers(d.spec?.template?.spec, 'name'), 1, 'string', 'Names of each container in the template.'),
    col('Images', (d) => containers(d.spec?.template?.spec, 'image'), 1, 'string', 'Images referenced by each container in the template.'),
    col(
      'Selector',
      (d) => selectorText(d.spec?.selector),
      1,
      'string',
      'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.',
    ),
  ],
  ReplicaSet: [
    name,
    col('Desired', (r) => r.spec?.replicas ?? 0, 0, 'integer', 'Number of desired pods.'),
    col('Current', (r) => r.status?.replicas ?? 0, 0, 'integer', 'Number of actual replicas.'),
    col('Ready', (r) => r.status?.readyReplicas ?? 0, 0, 'integer', 'Number of ready replicas.'),
    ageCol,
    col('Containers', (r) => containers(r.spec?.template?.spec, 'name'), 1, 'string', 'Names of each container in the template.'),
    col('Images', (r) => containers(r.spec?.template?.spec, 'image'), 1, 'string', 'Images referenced by each container in the template.'),
    col('Selector', (r) => selectorText(r.spec?.selector), 1, 'string', 'Label query over pods that should match the replica count.'),
  ],
  Node: [
    name,
    col('Status', nodeStatus, 0, 'string', 'The status of the node'),
    col('Roles', nodeRoles, 0, 'string', 'The roles of the node'),
    ageCol,
    col('Version', (n) => n.status?.nodeInfo?.kubeletVersion ?? '', 0, 'string', 'Kubelet Version reported by the node.'),
    col('Internal-IP', (n) => nodeAddress(n, 'InternalIP'), 1, 'string', 'List of internal IPs.'),
    col('External-IP', (n) => nodeAddress(n, 'ExternalIP'), 1, 'string', 'List of external IPs.'),
    col('OS-Image', (n) => n.status?.nodeInfo?.osImage || '<unknown>', 1, 'string', 'OS image reported by the node.'),
    col('Kernel-Version', (n) => n.status?.nodeInfo?.kernelVersion || '<unknown>', 1, 'string', 'Kernel version reported by the node.'),
    col(
      'Container-Runtime',
      (n) => n.status?.nodeInfo?.containerRuntimeVersion || '<unknown>',
      1,
      'string',
      'Container Runtime Version reported by the node.',
    ),
  ],
  Namespace: [name, col('Status', (n) => n.status?.phase ?? 'Active', 0, 'string', 'The status of the namespace'), ageCol],
  Event: [
    col(
      'Last Seen',
      (e, now) => age(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp, now),
      0,
      'string',
      'Time when last Event occurred',
    ),
    col('Type', (e) => e.type ?? '', 0, 'string', 'Type of this event.'),
    col('Reason', (e) => e.reason ?? '', 0, 'string', 'Reason of this event.'),
    col(
      'Object',
      (e) => `${String(e.involvedObject?.kind ?? '').toLowerCase()}/${e.involvedObject?.name ?? ''}`,
      0,
      'string',
      'The object this Event is about.',
    ),
    col('Message', (e) => e.message ?? '', 0, 'string', 'A human-readable description of the status of this operation.'),
    col('Source', (e) => e.source?.component ?? '', 1, 'string', 'The component reporting this event.'),
    col('Count', (e) => e.count ?? 1, 1, 'integer', 'The number of times this event has occurred.'),
    { ...name, priority: 1 },
  ],
  Lease: [name, col('Holder', (l) => l.spec?.holderIdentity ?? '', 0, 'string', 'The holder of the lease.'), ageCol],
};

function columnsFor(kind: string): Column[] {
  return COLUMNS[kind] ?? [name, ageCol];
}

function rowOf(columns: Column[], o: Obj, now: number, includeObject: 'Metadata' | 'Object' | 'None'): Obj {
  const object =
    includeObject === 'Object'
      ? o
      : includeObject === 'None'
        ? undefined
        : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
  return { cells: columns.map((c) => c.cell(o, now)), ...(object ? { object } : {}) };
}

export interface TableOptions {
  includeObject?: 'Metadata' | 'Object' | 'None';
  noHeaders?: boolean;
  now?: number;
}

/** A meta.k8s.io/v1 Table of `objects` of `kind`. */
export function toTable(kind: string, objects: Obj[], resourceVersion: string, opts: TableOptions = {}, listMeta: Obj = {}): Obj {
  const columns = columnsFor(kind);
  const now = opts.now ?? Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { ...listMeta, resourceVersion },
    columnDefinitions: opts.noHeaders
      ? []
      : columns.map(({ cell: _c, priority, ...c }) => ({ ...c, format: c.format ?? '', priority: priority ?? 0 })),
    rows: objects.map((o) => rowOf(columns, o, now, opts.includeObject ?? 'Metadata')),
  };
}

/** True when the Accept header asks for a Table (kubectl get). */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const p = part.replace(/\s+/g, '');
    return (
      p.startsWith('application/json') &&
      p.includes('as=Table') &&
      p.includes('g=meta.k8s.io') &&
      (p.includes('v=v1;') || p.endsWith('v=v1') || p.includes('v=v1beta1'))
    );
  });
}
