// ServiceChangeTracker and ServicePortMap (pkg/proxy/servicechangetracker.go, serviceport.go):
// desired state apart from rendering (DESIGN §6.5). Each Service key keeps `{previous, current}`:
// previous is the state before the first pending change, current the state after the last one,
// so any number of updates between two syncs merge into one change, and a change whose previous
// equals its current (an update that alters nothing the proxier renders, or an add then delete)
// is dropped.
import { KubeProxyError, KubeProxyErrorCodes } from './errors.js';
import { type ServicePortInfo, servicePortMapsEqual, serviceToServicePorts } from './service-info.js';
import { serviceKey } from './service-port-name.js';
import type { Service } from './types.js';

export interface ServiceChange {
  previous: Map<string, ServicePortInfo>;
  current: Map<string, ServicePortInfo>;
  /** Creation time (ms since the epoch) of a Service first seen by this change, for network programming latency. */
  createdAt?: number;
}

export interface ServiceChangeTrackerOptions {
  /** Wall-clock ms since the epoch; creations before the tracker started are not latency samples. */
  startedAt?: number;
  /** Called for objects the tracker cannot use (it then ignores them, as kube-proxy logs and skips). */
  onInvalid?: (error: KubeProxyError) => void;
  /** Called with every Update call that names a Service (the changes_total counter). */
  onChange?: () => void;
}

export class ServiceChangeTracker {
  readonly #items = new Map<string, ServiceChange>();
  readonly #startedAt: number;
  readonly #onInvalid: (error: KubeProxyError) => void;
  readonly #onChange: () => void;

  constructor(options: ServiceChangeTrackerOptions = {}) {
    this.#startedAt = options.startedAt ?? Number.NEGATIVE_INFINITY;
    this.#onInvalid = options.onInvalid ?? (() => {});
    this.#onChange = options.onChange ?? (() => {});
  }

  /**
   * Records an add (previous undefined), update, or delete (current undefined). Returns true
   * when changes are pending afterwards (the caller then asks for a sync), as Update() does.
   */
  update(previous: Service | undefined, current: Service | undefined): boolean {
    const svc = current ?? previous;
    if (!svc) return this.#items.size > 0;
    const name = svc.metadata?.name;
    if (!name) {
      this.#onInvalid(
        new KubeProxyError(KubeProxyErrorCodes.INVALID_OBJECT, 'Service without metadata.name ignored: every Service needs a name'),
      );
      return this.#items.size > 0;
    }
    this.#onChange();
    const key = serviceKey(svc.metadata.namespace ?? 'default', name);
    let change = this.#items.get(key);
    if (!change) {
      change = { previous: serviceToServicePorts(previous), current: new Map() };
      if (!previous && current?.metadata.creationTimestamp) {
        const created = Date.parse(current.metadata.creationTimestamp);
        if (Number.isFinite(created) && created > this.#startedAt) change.createdAt = created;
      }
      this.#items.set(key, change);
    }
    change.current = serviceToServicePorts(current, this.#onInvalid);
    if (servicePortMapsEqual(change.previous, change.current)) this.#items.delete(key);
    return this.#items.size > 0;
  }

  /** Service keys ("ns/name") with pending changes (what a partial sync rewrites). */
  pendingChanges(): Set<string> {
    return new Set(this.#items.keys());
  }

  get pending(): number {
    return this.#items.size;
  }

  /** Hands the pending changes over and forgets them (ServicePortMap.Update checks them out). */
  checkout(): Map<string, ServiceChange> {
    const out = new Map(this.#items);
    this.#items.clear();
    return out;
  }
}

export interface UpdateServiceMapResult {
  /** Service keys whose ports were added, changed or removed. */
  updatedServices: Set<string>;
  /** Cluster IPs of UDP ports that disappeared (their conntrack entries are stale). */
  deletedUDPClusterIPs: Set<string>;
  /** Creation times (ms) of newly created Services, by Service key. */
  createdAt: Map<string, number>;
}

/** The applied state: every programmed service port, by servicePortKey. */
export class ServicePortMap {
  readonly #ports = new Map<string, ServicePortInfo>();

  get(key: string): ServicePortInfo | undefined {
    return this.#ports.get(key);
  }

  get size(): number {
    return this.#ports.size;
  }

  /** The ports in a stable order (by "ns/name:port", then protocol) so payloads are reproducible. */
  sorted(): ServicePortInfo[] {
    return [...this.#ports.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  }

  /** Applies and clears the tracker's pending changes. */
  update(tracker: ServiceChangeTracker): UpdateServiceMapResult {
    const result: UpdateServiceMapResult = { updatedServices: new Set(), deletedUDPClusterIPs: new Set(), createdAt: new Map() };
    for (const [key, change] of tracker.checkout()) {
      result.updatedServices.add(key);
      if (change.createdAt !== undefined) result.createdAt.set(key, change.createdAt);
      for (const [portKey, info] of change.current) this.#ports.set(portKey, info);
      for (const [portKey, info] of change.previous) {
        if (change.current.has(portKey)) continue;
        this.#ports.delete(portKey);
        if (info.protocol === 'UDP') result.deletedUDPClusterIPs.add(info.clusterIP);
      }
    }
    return result;
  }

  /** healthCheckNodePort by Service key, for the service health server (not rendered here). */
  healthCheckNodePorts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const info of this.#ports.values()) {
      if (info.healthCheckNodePort !== 0) out.set(`${info.name.namespace}/${info.name.name}`, info.healthCheckNodePort);
    }
    return out;
  }
}
