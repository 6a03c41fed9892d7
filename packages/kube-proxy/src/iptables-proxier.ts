// The iptables Proxier (pkg/proxy/iptables/proxier.go): informer events go into the change
// trackers; a BoundedFrequencyRunner calls syncProxyRules, which applies the pending changes
// to the service and endpoints maps, renders one iptables-restore payload and hands it to the
// injected apply() (the cni-agent's control socket), then records metrics and cleans stale
// UDP conntrack entries.
//
// Full vs partial sync (upstream since 1.27, MinimizeIPTablesRestore): after a successful full
// sync, later syncs rewrite the top-level chains (KUBE-SERVICES, KUBE-NODEPORTS, filter) but only
// the per-service chains of Services that changed; the others stay as the kernel has them.
// A failed apply loses the changes already checked out of the trackers, so the next sync is full.
// Both are applied with --noflush, as upstream's RestoreAll(NoFlushTables): chains kube-proxy does
// not own (the cni-agent's, the user's) are never flushed.
import { BoundedFrequencyRunner, type Clock, systemClock, type TimerHandle } from '@podnet/wire';
import type { Registry } from 'prom-client';
import { type ConntrackFilter, conntrackArgs, staleConntrackFilters } from './conntrack-cleanup.js';
import { EndpointsChangeTracker, EndpointsMap } from './endpoints-change-tracker.js';
import { KubeProxyError, KubeProxyErrorCodes } from './errors.js';
import { parseIPv4, parseIPv4Cidr } from './ip.js';
import { type RenderConfig, type RenderedPayload, renderIptables } from './iptables-renderer.js';
import { jumpRulesFor, missingJumpRules, renderJumpRules } from './jump-rules.js';
import { createKubeProxyMetrics, type KubeProxyMetrics } from './metrics.js';
import { ServiceChangeTracker, ServicePortMap } from './service-change-tracker.js';
import type { EndpointSlice, Node, Service } from './types.js';

export interface ApplyOptions {
  /** iptables-restore --noflush: only the chains named in the payload are flushed. */
  noflush: boolean;
}

/** Applies an iptables-restore payload atomically on the node; rejects when iptables-restore fails. */
export type ApplyFn = (payload: string, options: ApplyOptions) => Promise<void>;

/** The informer-facing interface every proxier mode implements (DESIGN §6.4: iptables first). */
export interface Proxier {
  onServiceAdd(service: Service): void;
  onServiceUpdate(oldService: Service, service: Service): void;
  onServiceDelete(service: Service): void;
  onServicesSynced(): void;
  onEndpointSliceAdd(slice: EndpointSlice): void;
  onEndpointSliceUpdate(oldSlice: EndpointSlice, slice: EndpointSlice): void;
  onEndpointSliceDelete(slice: EndpointSlice): void;
  onEndpointSlicesSynced(): void;
  onNodeAdd(node: Node): void;
  onNodeUpdate(oldNode: Node, node: Node): void;
  onNodeDelete(node: Node): void;
  /** Queues a sync (rate-limited, coalesced). */
  sync(): void;
  /** Starts the periodic sync loop. */
  start(): void;
  stop(): void;
}

/** pino-compatible, so a component passes its logger straight in. */
export interface ProxierLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface IptablesProxierOptions extends RenderConfig {
  /** This node's name (Node.metadata.name): decides which endpoints are local. */
  hostname: string;
  apply: ApplyFn;
  /** Deletes conntrack entries matching a filter (`conntrack -D ...` on the node). */
  deleteConntrack?: (filter: ConntrackFilter) => Promise<void>;
  /**
   * `iptables-save` of the node (all tables). With it, a full sync deletes service chains left
   * by an earlier kube-proxy process (as upstream reads iptables-save), applies only the jump
   * rules that are missing (the `iptables -C` check), and a monitor checks every syncPeriod that
   * KUBE-PROXY-CANARY still exists (a flush of the tables forces a full resync). Without it, the
   * proxier deletes the chains it wrote itself, applies the jump rules once per process, and
   * relies on onCanaryMissing() being called.
   */
  iptablesSave?: () => Promise<string>;
  /** Metrics go here (default labels {component, node} are set on it). */
  registry?: Registry;
  /** Or pass metrics already created on a registry (several proxiers in one test process). */
  metrics?: KubeProxyMetrics;
  /** Timers and durations. */
  clock?: Clock;
  /** Wall-clock ms since the epoch: timestamps and network programming latency (API times are wall times). */
  wallClock?: () => number;
  /** --iptables-min-sync-period (default 1 s). */
  minSyncPeriodMs?: number;
  /** --iptables-sync-period (default 30 s). */
  syncPeriodMs?: number;
  /** A full sync at least this often even without failures (upstream FullSyncPeriod, 1 h). */
  fullSyncPeriodMs?: number;
  logger?: ProxierLogger;
}

export interface SyncOutcome {
  /** False when the proxier was not initialized yet (no sync attempted). */
  attempted: boolean;
  ok: boolean;
  full: boolean;
  rendered?: RenderedPayload;
  error?: KubeProxyError;
}

const noLogger: ProxierLogger = { info() {}, warn() {}, error() {} };

export class IptablesProxier implements Proxier {
  readonly serviceChanges: ServiceChangeTracker;
  readonly endpointsChanges: EndpointsChangeTracker;
  readonly svcPortMap = new ServicePortMap();
  readonly endpointsMap = new EndpointsMap();
  readonly metrics: KubeProxyMetrics;
  readonly #options: IptablesProxierOptions;
  readonly #config: RenderConfig;
  readonly #clock: Clock;
  readonly #wall: () => number;
  readonly #log: ProxierLogger;
  readonly #runner: BoundedFrequencyRunner;
  readonly #syncPeriod: number;
  readonly #fullSyncPeriod: number;
  #servicesSynced = false;
  #endpointSlicesSynced = false;
  #needFullSync = true;
  #jumpRulesEnsured = false;
  #lastFullSyncAt = Number.NEGATIVE_INFINITY;
  #nodeLabels: Record<string, string> | undefined;
  /** nat chains that may exist because an earlier payload of this process wrote them. */
  #knownNatChains = new Set<string>();
  #lastOutcome: SyncOutcome | undefined;
  #monitorTimer: TimerHandle | undefined;

  constructor(options: IptablesProxierOptions) {
    if (!options.hostname) {
      throw new KubeProxyError(KubeProxyErrorCodes.CONFIG, 'kube-proxy: hostname is empty; pass the Node name this proxier runs on');
    }
    if (options.clusterCIDR !== undefined && parseIPv4Cidr(options.clusterCIDR)?.text !== options.clusterCIDR.trim()) {
      throw new KubeProxyError(
        KubeProxyErrorCodes.CONFIG,
        `kube-proxy: clusterCIDR "${options.clusterCIDR}" is not an IPv4 network in CIDR form (e.g. 10.244.0.0/16)`,
      );
    }
    if (options.nodeIP !== undefined && parseIPv4(options.nodeIP) === undefined) {
      throw new KubeProxyError(KubeProxyErrorCodes.CONFIG, `kube-proxy: nodeIP "${options.nodeIP}" is not an IPv4 address`);
    }
    const bit = options.masqueradeBit ?? 14;
    if (!Number.isInteger(bit) || bit < 0 || bit > 31) {
      throw new KubeProxyError(KubeProxyErrorCodes.CONFIG, `kube-proxy: masqueradeBit ${bit} is outside 0..31 (default 14 → 0x4000)`);
    }
    this.#options = options;
    this.#config = {
      clusterCIDR: options.clusterCIDR?.trim(),
      masqueradeAll: options.masqueradeAll,
      masqueradeBit: bit,
      nodeIP: options.nodeIP,
      localhostNodePorts: options.localhostNodePorts,
      randomFully: options.randomFully,
      conntrackTCPLiberal: options.conntrackTCPLiberal,
    };
    this.#clock = options.clock ?? systemClock;
    this.#wall = options.wallClock ?? (() => Date.now());
    this.#log = options.logger ?? noLogger;
    this.#syncPeriod = options.syncPeriodMs ?? 30_000;
    this.#fullSyncPeriod = options.fullSyncPeriodMs ?? 3_600_000;
    if (options.metrics) this.metrics = options.metrics;
    else if (options.registry) this.metrics = createKubeProxyMetrics(options.registry, { node: options.hostname });
    else throw new KubeProxyError(KubeProxyErrorCodes.CONFIG, 'kube-proxy: pass a prom-client Registry (registry) or metrics');
    const startedAt = this.#wall();
    const onInvalid = (error: KubeProxyError) => this.#log.warn({ code: error.code }, error.message);
    this.serviceChanges = new ServiceChangeTracker({ startedAt, onInvalid, onChange: () => this.metrics.serviceChangesTotal.inc() });
    this.endpointsChanges = new EndpointsChangeTracker({
      hostname: options.hostname,
      startedAt,
      onInvalid,
      onChange: () => this.metrics.endpointChangesTotal.inc(),
    });
    this.#runner = new BoundedFrequencyRunner(
      async () => {
        await this.syncProxyRules();
      },
      {
        minIntervalMs: options.minSyncPeriodMs ?? 1000,
        maxIntervalMs: this.#syncPeriod,
        burstRuns: 2,
        clock: this.#clock,
        onError: (error) => this.#log.error({ err: error }, 'sync failed unexpectedly'),
        flags: { minInterval: '--min-sync-period', maxInterval: '--sync-period' },
      },
    );
  }

  get initialized(): boolean {
    return this.#servicesSynced && this.#endpointSlicesSynced;
  }

  /** The outcome of the last attempted sync (payload, success): for diagnostics and tests. */
  get lastOutcome(): SyncOutcome | undefined {
    return this.#lastOutcome;
  }

  /** The runner (tests await runner.settled()). */
  get runner(): BoundedFrequencyRunner {
    return this.#runner;
  }

  start(): void {
    this.#runner.start();
    this.#armMonitor();
  }

  stop(): void {
    this.#runner.stop();
    this.#clock.clearTimeout(this.#monitorTimer);
    this.#monitorTimer = undefined;
  }

  // utiliptables Monitor: poll for the canary every syncPeriod once rules have been written.
  #armMonitor(): void {
    const save = this.#options.iptablesSave;
    if (!save) return;
    this.#clock.clearTimeout(this.#monitorTimer);
    this.#monitorTimer = this.#clock.setTimeout(() => {
      this.#monitorTimer = undefined;
      void this.checkCanary().finally(() => this.#armMonitor());
    }, this.#syncPeriod);
  }

  /**
   * Looks for KUBE-PROXY-CANARY in the mangle table; when a full sync has created it and it is
   * gone, someone flushed the tables: forces a full resync. Returns whether it was present.
   */
  async checkCanary(): Promise<boolean> {
    const save = this.#options.iptablesSave;
    if (!save || this.#lastFullSyncAt === Number.NEGATIVE_INFINITY) return true;
    let saved: string;
    try {
      saved = await save();
    } catch (error) {
      this.#log.error({ err: error }, 'iptables-save failed: cannot check KUBE-PROXY-CANARY');
      return true;
    }
    const mangle = saved.split(/^\*/m).find((t) => t.startsWith('mangle')) ?? '';
    if (/^:KUBE-PROXY-CANARY /m.test(mangle)) return true;
    this.#log.info({}, 'KUBE-PROXY-CANARY is gone: iptables was flushed, resyncing everything');
    this.onCanaryMissing();
    return false;
  }

  sync(): void {
    this.metrics.syncProxyRulesLastQueuedTimestamp.set(this.#wall() / 1000);
    this.#runner.run();
  }

  #updatePending(): void {
    this.metrics.serviceChangesPending.set(this.serviceChanges.pending);
    this.metrics.endpointChangesPending.set(this.endpointsChanges.pending);
  }

  onServiceAdd(service: Service): void {
    this.onServiceChange(undefined, service);
  }
  onServiceUpdate(oldService: Service, service: Service): void {
    this.onServiceChange(oldService, service);
  }
  onServiceDelete(service: Service): void {
    this.onServiceChange(service, undefined);
  }
  onServiceChange(previous: Service | undefined, current: Service | undefined): void {
    const pending = this.serviceChanges.update(previous, current);
    this.#updatePending();
    if (pending && this.initialized) this.sync();
  }
  onServicesSynced(): void {
    this.#servicesSynced = true;
    // Once per lifetime: sync unconditionally (the first, full sync).
    if (this.initialized) this.sync();
  }

  onEndpointSliceAdd(slice: EndpointSlice): void {
    this.#onSlice(slice, false);
  }
  onEndpointSliceUpdate(_oldSlice: EndpointSlice, slice: EndpointSlice): void {
    this.#onSlice(slice, false);
  }
  onEndpointSliceDelete(slice: EndpointSlice): void {
    this.#onSlice(slice, true);
  }
  #onSlice(slice: EndpointSlice, remove: boolean): void {
    const pending = this.endpointsChanges.endpointSliceUpdate(slice, remove);
    this.#updatePending();
    if (pending && this.initialized) this.sync();
  }
  onEndpointSlicesSynced(): void {
    this.#endpointSlicesSynced = true;
    if (this.initialized) this.sync();
  }

  // Node labels feed topology-aware routing upstream; a label change forces a full sync there,
  // and here too, so a future topology implementation inherits the right behaviour.
  onNodeAdd(node: Node): void {
    this.#onNode(node, node.metadata.labels ?? {});
  }
  onNodeUpdate(_oldNode: Node, node: Node): void {
    this.#onNode(node, node.metadata.labels ?? {});
  }
  onNodeDelete(node: Node): void {
    this.#onNode(node, undefined);
  }
  #onNode(node: Node, labels: Record<string, string> | undefined): void {
    if (node.metadata.name !== this.#options.hostname) {
      this.#log.error(
        { eventNode: node.metadata.name, currentNode: this.#options.hostname },
        'watch event for a node that is not this one',
      );
      return;
    }
    if (JSON.stringify(labels) === JSON.stringify(this.#nodeLabels)) return;
    this.#nodeLabels = labels === undefined ? undefined : { ...labels };
    this.#needFullSync = true;
    this.sync();
  }

  /**
   * The iptables monitor's callback: KUBE-PROXY-CANARY is gone, so someone flushed the tables
   * (and the jump rules with them). The next sync is full and re-applies the jump rules.
   */
  onCanaryMissing(): void {
    this.#needFullSync = true;
    this.#jumpRulesEnsured = false;
    this.#knownNatChains.clear();
    this.sync();
  }

  /** Forces the next sync to be full (forceSyncProxyRules) and queues it. */
  forceFullSync(): void {
    this.#needFullSync = true;
    this.sync();
  }

  /** One sync: apply pending changes, render, apply, record. Called by the runner (or a test). */
  async syncProxyRules(): Promise<SyncOutcome> {
    if (!this.initialized) {
      this.#log.info({}, 'not syncing iptables until Services and EndpointSlices have been received');
      return { attempted: false, ok: false, full: false };
    }
    const start = this.#clock.now();
    const tryPartialSync = !this.#needFullSync && start - this.#lastFullSyncAt < this.#fullSyncPeriod;
    const serviceResult = this.svcPortMap.update(this.serviceChanges);
    const endpointsResult = this.endpointsMap.update(this.endpointsChanges);
    this.#updatePending();

    let existing: Iterable<string> = this.#knownNatChains;
    let saved: string | undefined;
    if (!tryPartialSync && this.#options.iptablesSave) {
      try {
        saved = await this.#options.iptablesSave();
        existing = new Set([...this.#knownNatChains, ...natChainsOf(saved)]);
      } catch (error) {
        this.#log.error({ err: error }, 'iptables-save failed: stale chains from earlier processes will not be deleted');
      }
    }
    const changedServices = tryPartialSync ? new Set([...serviceResult.updatedServices, ...endpointsResult.updatedServices]) : undefined;
    const rendered = renderIptables(
      { services: this.svcPortMap.sorted(), endpoints: (key) => this.endpointsMap.get(key), changedServices, existingNatChains: existing },
      this.#config,
    );
    this.metrics.iptablesRulesTotal.set({ table: 'filter' }, rendered.rulesTotal.filter);
    this.metrics.iptablesRulesLastSync.set({ table: 'filter' }, rendered.rulesLast.filter);
    this.metrics.iptablesRulesTotal.set({ table: 'nat' }, rendered.rulesTotal.nat);
    this.metrics.iptablesRulesLastSync.set({ table: 'nat' }, rendered.rulesLast.nat);

    const observe = () => {
      const seconds = (this.#clock.now() - start) / 1000;
      this.metrics.syncProxyRulesLatency.observe(seconds);
      (tryPartialSync ? this.metrics.syncPartialProxyRulesLatency : this.metrics.syncFullProxyRulesLatency).observe(seconds);
    };

    try {
      await this.#apply(rendered.payload, 'rules');
      // Ensure the jump rules on full syncs: those missing from iptables-save when we can read
      // it (every full sync, as upstream), else once per process and after a flush.
      if (!tryPartialSync && (saved !== undefined || !this.#jumpRulesEnsured)) {
        const wanted = jumpRulesFor({ localhostNodePorts: this.#config.localhostNodePorts });
        const missing = saved === undefined ? wanted : missingJumpRules(saved, wanted);
        if (missing.length > 0) await this.#apply(renderJumpRules({}, missing), 'jump rules');
        this.#jumpRulesEnsured = true;
      }
    } catch (error) {
      const failure = error instanceof KubeProxyError ? error : new KubeProxyError(KubeProxyErrorCodes.APPLY, String(error));
      this.metrics.iptablesRestoreFailuresTotal.inc();
      if (tryPartialSync) this.metrics.iptablesPartialRestoreFailuresTotal.inc();
      // The changes are checked out of the trackers: only a full sync can restore the state.
      this.#needFullSync = true;
      for (const chain of rendered.activeNatChains) this.#knownNatChains.add(chain);
      this.#log.error({ code: failure.code, retryInMs: this.#syncPeriod }, failure.message);
      this.#runner.retryAfter(this.#syncPeriod);
      observe();
      this.#lastOutcome = { attempted: true, ok: false, full: !tryPartialSync, rendered, error: failure };
      return this.#lastOutcome;
    }
    this.#needFullSync = false;
    if (!tryPartialSync) this.#lastFullSyncAt = start;
    this.#knownNatChains = new Set(rendered.activeNatChains);

    const now = this.#wall();
    for (const times of endpointsResult.lastChangeTriggerTimes.values()) {
      for (const t of times) this.metrics.networkProgrammingLatency.observe(Math.max(0, now - t) / 1000);
    }
    for (const created of serviceResult.createdAt.values())
      this.metrics.networkProgrammingLatency.observe(Math.max(0, now - created) / 1000);
    this.metrics.noLocalEndpointsTotal.set({ traffic_policy: 'internal' }, rendered.noLocalEndpoints.internal);
    this.metrics.noLocalEndpointsTotal.set({ traffic_policy: 'external' }, rendered.noLocalEndpoints.external);
    this.metrics.syncProxyRulesLastTimestamp.set(now / 1000);

    const deleteConntrack = this.#options.deleteConntrack;
    if (deleteConntrack) {
      for (const filter of staleConntrackFilters(this.svcPortMap, serviceResult, endpointsResult)) {
        try {
          await deleteConntrack(filter);
        } catch (error) {
          this.#log.error({ err: error, conntrack: conntrackArgs(filter).join(' ') }, 'failed to delete stale UDP conntrack entries');
        }
      }
    }
    observe();
    this.#lastOutcome = { attempted: true, ok: true, full: !tryPartialSync, rendered };
    return this.#lastOutcome;
  }

  async #apply(payload: string, what: string): Promise<void> {
    try {
      await this.#options.apply(payload, { noflush: true });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new KubeProxyError(
        KubeProxyErrorCodes.APPLY,
        `iptables-restore of the ${what} payload (${payload.split('\n').length - 1} lines) failed: ${reason}; the next sync is a full resync`,
        { cause: error },
      );
    }
  }
}

/** The chains declared in the nat table of `iptables-save` output. */
export function natChainsOf(saved: string): string[] {
  const out: string[] = [];
  let table = '';
  for (const raw of saved.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) table = line.slice(1);
    else if (table === 'nat' && line.startsWith(':')) out.push(line.slice(1).split(' ')[0] ?? '');
  }
  return out;
}
