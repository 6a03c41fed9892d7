// EndpointsChangeTracker, its EndpointSlice cache and the EndpointsMap (pkg/proxy/
// endpointschangetracker.go, endpointslicecache.go, endpoint.go, endpointsmap.go).
//
// A Service's endpoints come from several EndpointSlices (the controller splits them at 100
// endpoints, and a Service can have slices from several managers). The cache keeps, per
// Service, the slices already applied and the slices pending; a change is the Service's
// endpoints map built from the applied slices (previous) and from applied+pending (current).
// EndpointSlice ports are resolved to the Service's ports by name and protocol: the
// ServicePortName ("ns/svc:portname"/protocol) is the join key, never the port number.
import { endpointChainName } from './chain-names.js';
import { KubeProxyError, KubeProxyErrorCodes } from './errors.js';
import { parseIPv4 } from './ip.js';
import { type ServicePortName, serviceKey, servicePortKey, servicePortNameString } from './service-port-name.js';
import { ANNOTATION_LAST_CHANGE_TRIGGER_TIME, type EndpointSlice, LABEL_SERVICE_NAME, type Protocol } from './types.js';

export interface EndpointInfo {
  readonly ip: string;
  readonly port: number;
  /** "ip:port", the DNAT target and the endpoint part of the KUBE-SEP hash. */
  readonly endpoint: string;
  /** conditions.ready (nil means true). */
  readonly ready: boolean;
  /** conditions.serving (nil means ready, the pre-1.20 meaning). */
  readonly serving: boolean;
  /** conditions.terminating (nil means false). */
  readonly terminating: boolean;
  readonly nodeName: string | undefined;
  /** On this proxier's node (nodeName equals the proxier's hostname). */
  readonly isLocal: boolean;
  readonly chain: string;
}

/** Endpoints of one service port, sorted by "ip:port" (as endpointsMapFromEndpointInfo sorts). */
export interface ServicePortEndpoints {
  readonly name: ServicePortName;
  readonly endpoints: readonly EndpointInfo[];
}

export type EndpointsByPort = Map<string, ServicePortEndpoints>;

interface SliceEntry {
  readonly slice: EndpointSlice;
  /** JSON of what the proxier uses from the slice: to tell a real change from a resync. */
  readonly fingerprint: string;
}

interface ServiceSlices {
  readonly applied: Map<string, SliceEntry>;
  /** undefined = the slice is being removed. */
  readonly pending: Map<string, SliceEntry | undefined>;
}

function sliceFingerprint(slice: EndpointSlice): string {
  return JSON.stringify({
    t: slice.addressType,
    p: (slice.ports ?? []).map((p) => [p.name ?? '', p.protocol ?? 'TCP', p.port ?? null]),
    e: (slice.endpoints ?? []).map((e) => [
      e.addresses[0] ?? '',
      e.conditions?.ready ?? null,
      e.conditions?.serving ?? null,
      e.conditions?.terminating ?? null,
      e.nodeName ?? null,
    ]),
  });
}

/** Builds a Service's endpoints map from its slices (EndpointSliceCache.getEndpointsMap). */
export function endpointsFromSlices(
  namespace: string,
  service: string,
  slices: Iterable<EndpointSlice>,
  hostname: string,
): EndpointsByPort {
  const byPort = new Map<string, { name: ServicePortName; set: Map<string, EndpointInfo> }>();
  const ordered = [...slices].sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1));
  for (const slice of ordered) {
    if (slice.addressType !== 'IPv4') continue; // single-stack IPv4 proxier (DESIGN §4)
    for (const port of slice.ports ?? []) {
      // A port without a number cannot be proxied (upstream logs "ignoring invalid endpoint port").
      if (port.port === undefined || port.port === null || !Number.isInteger(port.port) || port.port < 1 || port.port > 65535) continue;
      const protocol: Protocol = port.protocol ?? 'TCP';
      const spn: ServicePortName = { namespace, name: service, port: port.name ?? '', protocol };
      const key = servicePortKey(spn);
      let entry = byPort.get(key);
      if (!entry) {
        entry = { name: spn, set: new Map() };
        byPort.set(key, entry);
      }
      const spnString = servicePortNameString(spn);
      for (const ep of slice.endpoints ?? []) {
        const ip = ep.addresses[0];
        if (ip === undefined || parseIPv4(ip) === undefined) continue;
        const ready = ep.conditions?.ready ?? true;
        const isLocal = ep.nodeName !== undefined && ep.nodeName === hostname;
        const endpoint = `${ip}:${port.port}`;
        // The same endpoint may appear in two slices during a rebalance: keep one, preferring the
        // local copy if they disagree (EndpointSliceCache.addEndpoints).
        if (entry.set.has(endpoint) && !isLocal) continue;
        entry.set.set(endpoint, {
          ip,
          port: port.port,
          endpoint,
          ready,
          serving: ep.conditions?.serving ?? ready,
          terminating: ep.conditions?.terminating ?? false,
          nodeName: ep.nodeName,
          isLocal,
          chain: endpointChainName(spnString, protocol, endpoint),
        });
      }
    }
  }
  const out: EndpointsByPort = new Map();
  for (const [key, { name, set }] of byPort) {
    const endpoints = [...set.values()].sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0));
    out.set(key, { name, endpoints });
  }
  return out;
}

function endpointsMapsEqual(a: EndpointsByPort, b: EndpointsByPort): boolean {
  if (a.size !== b.size) return false;
  for (const [key, v] of a) {
    const w = b.get(key);
    if (!w || JSON.stringify(v.endpoints) !== JSON.stringify(w.endpoints)) return false;
  }
  return true;
}

export interface EndpointsChange {
  previous: EndpointsByPort;
  current: EndpointsByPort;
}

export interface EndpointsChangeTrackerOptions {
  /** This node's name: endpoints with this nodeName are local. */
  hostname: string;
  /** Wall-clock ms since the epoch; trigger times before it are not latency samples. */
  startedAt?: number;
  onInvalid?: (error: KubeProxyError) => void;
  /** Called with every slice update the tracker accepts (the changes_total counter). */
  onChange?: () => void;
}

export class EndpointsChangeTracker {
  readonly hostname: string;
  readonly #services = new Map<string, ServiceSlices>();
  readonly #triggerTimes = new Map<string, number[]>();
  readonly #startedAt: number;
  readonly #onInvalid: (error: KubeProxyError) => void;
  readonly #onChange: () => void;

  constructor(options: EndpointsChangeTrackerOptions) {
    this.hostname = options.hostname;
    this.#startedAt = options.startedAt ?? Number.NEGATIVE_INFINITY;
    this.#onInvalid = options.onInvalid ?? (() => {});
    this.#onChange = options.onChange ?? (() => {});
  }

  /**
   * Records an added/updated slice, or a removed one. Returns true when changes are pending
   * afterwards (EndpointSliceUpdate). A slice that changes nothing the proxier reads (a resync,
   * a label edit) leaves nothing pending.
   */
  endpointSliceUpdate(slice: EndpointSlice, removeSlice: boolean): boolean {
    // FQDN slices are never proxied; IPv6 ones belong to an IPv6 proxier (DESIGN §4: IPv4 only).
    if (slice.addressType !== 'IPv4') return this.pending > 0;
    const sliceName = slice.metadata?.name;
    const serviceName = slice.metadata?.labels?.[LABEL_SERVICE_NAME];
    if (!sliceName || !serviceName) {
      this.#onInvalid(
        new KubeProxyError(
          KubeProxyErrorCodes.INVALID_OBJECT,
          `EndpointSlice ${slice.metadata?.namespace ?? 'default'}/${sliceName ?? '<unnamed>'} ignored: ` +
            `it needs metadata.name and the label ${LABEL_SERVICE_NAME} naming its Service`,
        ),
      );
      return this.pending > 0;
    }
    this.#onChange();
    const key = serviceKey(slice.metadata.namespace ?? 'default', serviceName);
    let svc = this.#services.get(key);
    if (!svc) {
      svc = { applied: new Map(), pending: new Map() };
      this.#services.set(key, svc);
    }
    const applied = svc.applied.get(sliceName);
    if (removeSlice) {
      if (applied) svc.pending.set(sliceName, undefined);
      else svc.pending.delete(sliceName);
    } else {
      const entry: SliceEntry = { slice, fingerprint: sliceFingerprint(slice) };
      if (applied && applied.fingerprint === entry.fingerprint) svc.pending.delete(sliceName);
      else svc.pending.set(sliceName, entry);
      // The deletion's annotation dates from the last update, not the deletion: upstream skips it.
      const trigger = Date.parse(slice.metadata.annotations?.[ANNOTATION_LAST_CHANGE_TRIGGER_TIME] ?? '');
      if (svc.pending.has(sliceName) && Number.isFinite(trigger) && trigger > this.#startedAt) {
        const times = this.#triggerTimes.get(key) ?? [];
        times.push(trigger);
        this.#triggerTimes.set(key, times);
      }
    }
    if (svc.pending.size === 0) this.#triggerTimes.delete(key);
    return this.pending > 0;
  }

  /** Services with pending slice changes (what a partial sync rewrites). */
  pendingChanges(): Set<string> {
    const out = new Set<string>();
    for (const [key, svc] of this.#services) if (svc.pending.size > 0) out.add(key);
    return out;
  }

  get pending(): number {
    return this.pendingChanges().size;
  }

  /** Applies pending slices and returns the per-Service changes (no-ops dropped) and trigger times. */
  checkout(): { changes: Map<string, EndpointsChange>; triggerTimes: Map<string, number[]> } {
    const changes = new Map<string, EndpointsChange>();
    for (const [key, svc] of this.#services) {
      if (svc.pending.size === 0) continue;
      const [namespace = '', name = ''] = key.split('/');
      const previous = endpointsFromSlices(
        namespace,
        name,
        [...svc.applied.values()].map((e) => e.slice),
        this.hostname,
      );
      for (const [sliceName, entry] of svc.pending) {
        if (entry) svc.applied.set(sliceName, entry);
        else svc.applied.delete(sliceName);
      }
      svc.pending.clear();
      const current = endpointsFromSlices(
        namespace,
        name,
        [...svc.applied.values()].map((e) => e.slice),
        this.hostname,
      );
      if (svc.applied.size === 0) this.#services.delete(key);
      if (!endpointsMapsEqual(previous, current)) changes.set(key, { previous, current });
    }
    const triggerTimes = new Map(this.#triggerTimes);
    this.#triggerTimes.clear();
    return { changes, triggerTimes };
  }
}

export interface StaleUDPEndpoint {
  readonly servicePortKey: string;
  readonly endpoint: EndpointInfo;
}

export interface UpdateEndpointsMapResult {
  /** Service keys whose endpoints changed. */
  updatedServices: Set<string>;
  /** UDP endpoints that were serving and are gone (or changed): their conntrack entries are stale. */
  deletedUDPEndpoints: StaleUDPEndpoint[];
  /** UDP service ports that went from 0 to some serving endpoints (black-holed flows may be cached). */
  newlyActiveUDPServices: string[];
  /** EndpointSlice last-change-trigger-times (ms) by Service key. */
  lastChangeTriggerTimes: Map<string, number[]>;
}

/** The applied endpoints of every service port, by servicePortKey. */
export class EndpointsMap {
  readonly #ports = new Map<string, ServicePortEndpoints>();

  get(key: string): readonly EndpointInfo[] {
    return this.#ports.get(key)?.endpoints ?? [];
  }

  update(tracker: EndpointsChangeTracker): UpdateEndpointsMapResult {
    const { changes, triggerTimes } = tracker.checkout();
    const result: UpdateEndpointsMapResult = {
      updatedServices: new Set(),
      deletedUDPEndpoints: [],
      newlyActiveUDPServices: [],
      lastChangeTriggerTimes: triggerTimes,
    };
    for (const [key, change] of changes) {
      result.updatedServices.add(key);
      for (const portKey of change.previous.keys()) this.#ports.delete(portKey);
      for (const [portKey, eps] of change.current) this.#ports.set(portKey, eps);
      detectStaleConntrackEntries(change.previous, change.current, result);
    }
    return result;
  }

  /** Ready local endpoint counts by Service key, for the service health server. */
  localReadyEndpoints(): Map<string, number> {
    const out = new Map<string, number>();
    for (const { name, endpoints } of this.#ports.values()) {
      const n = endpoints.filter((e) => e.isLocal && e.ready).length;
      if (n > 0) out.set(`${name.namespace}/${name.name}`, n);
    }
    return out;
  }
}

/** endpointsmap.go detectStaleConntrackEntries, per Service. */
function detectStaleConntrackEntries(previous: EndpointsByPort, current: EndpointsByPort, result: UpdateEndpointsMapResult): void {
  for (const [portKey, { name, endpoints }] of previous) {
    if (name.protocol !== 'UDP') continue;
    const now = current.get(portKey)?.endpoints ?? [];
    for (const ep of endpoints) {
      // An endpoint that was not serving got no traffic, so it cannot have stale entries.
      if (!ep.serving) continue;
      if (!now.some((n) => n.endpoint === ep.endpoint)) result.deletedUDPEndpoints.push({ servicePortKey: portKey, endpoint: ep });
    }
  }
  for (const [portKey, { name, endpoints }] of current) {
    if (name.protocol !== 'UDP') continue;
    const servingNow = endpoints.some((e) => e.serving);
    const servingBefore = (previous.get(portKey)?.endpoints ?? []).some((e) => e.serving);
    if (servingNow && !servingBefore) result.newlyActiveUDPServices.push(portKey);
  }
}
