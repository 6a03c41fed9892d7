// The policy agent a cni-agent hosts (one per node): informer callbacks feed the change tracker,
// a coalescing runner renders every policy chain for this node's pods and applies the payload
// atomically with iptables-restore --noflush (only PODNET-* chains and the FORWARD jump change;
// KUBE-* and FLANNEL-* are never named). With iptablesSave it also deletes PODNET-* chains an
// earlier agent process left, re-inserts the FORWARD jump when it is missing or no longer first
// (kube-proxy prepends its jumps on a full sync), and counts default-deny drops per policy from
// the rule counters (`iptables-save -c`). Shaped like kube-proxy's IptablesProxier (DESIGN §6.5).
import { type Clock, systemClock } from '@podnet/wire';
import type { Registry } from 'prom-client';
import { isPolicyChain, POLICY_CHAIN } from './chain-names.js';
import { type Kind, PolicyChangeTracker, type TrackedObject } from './change-tracker.js';
import { NetpolError, NetpolErrorCodes } from './errors.js';
import { createNetpolMetrics, type NetpolMetrics } from './metrics.js';
import { type DropAttribution, JUMP_COMMENT, type RenderedPolicies, renderCleanup, renderPolicies } from './renderer.js';
import { SyncRunner } from './sync-runner.js';
import type { Namespace, NetworkPolicy, Pod } from './types.js';

export interface ApplyOptions {
  noflush: boolean;
}

export interface PolicyAgentLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface PolicyAgentOptions {
  /** This node's name (Pod.spec.nodeName of the pods it enforces for). */
  node: string;
  /** iptables-restore on the node; rejects when the payload is refused (nothing applied). */
  apply(payload: string, options: ApplyOptions): Promise<void>;
  /** `iptables-save -t filter -c` on the node (optional; see the file comment). */
  iptablesSave?: () => Promise<string>;
  clock?: Clock;
  registry?: Registry;
  /** Or metrics already made on a registry (several agents in one test process). */
  metrics?: NetpolMetrics;
  /** Least time between syncs after a burst of two (default 100 ms: policy changes should land fast). */
  minSyncPeriodMs?: number;
  /** A sync at least this often (default 30 s), which also restores rules removed by hand. */
  syncPeriodMs?: number;
  markBit?: number;
  logger?: PolicyAgentLogger;
}

export interface PolicySyncOutcome {
  attempted: boolean;
  ok: boolean;
  rendered?: RenderedPolicies;
  error?: NetpolError;
}

const noLogger: PolicyAgentLogger = { info() {}, warn() {}, error() {} };

/** What an iptables-save of the filter table says about this package's state. */
export interface SavedPolicyState {
  chains: string[];
  /** -1: the jump is missing; otherwise its 1-based position in FORWARD. */
  jumpPosition: number;
  /** Packet counters of DROP rules in PODNET-PI/PE chains, by chain. */
  dropCounters: Map<string, number>;
}

export function readSavedPolicyState(saved: string): SavedPolicyState {
  const chains: string[] = [];
  const dropCounters = new Map<string, number>();
  let inFilter = false;
  let forward = 0;
  let jumpPosition = -1;
  for (const raw of saved.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) inFilter = line === '*filter';
    if (!inFilter) continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0] ?? '';
      if (isPolicyChain(name)) chains.push(name);
      continue;
    }
    const m = /^(?:\[(\d+):\d+\]\s+)?-A (\S+) (.*)$/.exec(line);
    if (!m) continue;
    const chain = m[2] as string;
    const rest = m[3] as string;
    if (chain === 'FORWARD') {
      forward++;
      if (jumpPosition < 0 && rest.includes(`-j ${POLICY_CHAIN}`) && rest.includes(JUMP_COMMENT)) jumpPosition = forward;
    } else if (/^PODNET-P[IE]-/.test(chain) && / -j DROP$/.test(rest) && m[1] !== undefined) {
      dropCounters.set(chain, Number(m[1]));
    }
  }
  return { chains, jumpPosition, dropCounters };
}

export class PolicyAgent {
  readonly tracker = new PolicyChangeTracker();
  readonly metrics: NetpolMetrics;
  readonly #o: PolicyAgentOptions;
  readonly #clock: Clock;
  readonly #log: PolicyAgentLogger;
  readonly #runner: SyncRunner;
  readonly #synced = { policies: false, pods: false, namespaces: false };
  /** Chains our earlier payloads left (used when iptables-save is not available). */
  #known = new Set<string>();
  #jumpInserted = false;
  #drops = new Map<string, DropAttribution>();
  #lastDropCount = new Map<string, number>();
  #last: PolicySyncOutcome | undefined;

  constructor(options: PolicyAgentOptions) {
    if (!options.node)
      throw new NetpolError(NetpolErrorCodes.CONFIG, 'netpol agent: node is empty; pass the Node name this agent enforces for');
    if (typeof options.apply !== 'function')
      throw new NetpolError(NetpolErrorCodes.CONFIG, 'netpol agent: apply(payload, {noflush}) is required');
    const bit = options.markBit ?? 0x10000;
    if (!Number.isInteger(bit) || bit <= 0 || bit > 0x80000000 || (bit & (bit - 1)) !== 0 || bit === 0x4000 || bit === 0x8000) {
      throw new NetpolError(
        NetpolErrorCodes.CONFIG,
        `netpol agent: markBit 0x${bit.toString(16)} must be one bit, not kube-proxy's 0x4000 (masquerade) or 0x8000 (drop)`,
      );
    }
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? noLogger;
    if (options.metrics) this.metrics = options.metrics;
    else if (options.registry) this.metrics = createNetpolMetrics(options.registry, { collectDrops: () => this.collectDrops() });
    else throw new NetpolError(NetpolErrorCodes.CONFIG, 'netpol agent: pass a prom-client Registry (registry) or metrics');
    this.#runner = new SyncRunner(
      async () => {
        const outcome = await this.syncPolicies();
        if (outcome.attempted && !outcome.ok) throw outcome.error;
      },
      {
        clock: this.#clock,
        minIntervalMs: options.minSyncPeriodMs ?? 100,
        maxIntervalMs: options.syncPeriodMs ?? 30_000,
        onError: () => {},
      },
    );
  }

  get runner(): SyncRunner {
    return this.#runner;
  }

  get lastOutcome(): PolicySyncOutcome | undefined {
    return this.#last;
  }

  /** True once policies, pods and namespaces have all been listed: before that, enforcing would deny by mistake. */
  get initialized(): boolean {
    return this.#synced.policies && this.#synced.pods && this.#synced.namespaces;
  }

  start(): void {
    this.#runner.start();
    this.sync();
  }

  stop(): void {
    this.#runner.stop();
  }

  /** Queues a sync (coalesced, rate-limited). */
  sync(): void {
    this.#runner.run();
  }

  #changed(kind: Kind, previous: TrackedObject | undefined, current: TrackedObject | undefined): void {
    if (this.tracker.update(kind, previous, current)) this.sync();
  }

  onPolicyAdd(policy: NetworkPolicy): void {
    this.#changed('policy', undefined, policy);
  }
  onPolicyUpdate(oldPolicy: NetworkPolicy, policy: NetworkPolicy): void {
    this.#changed('policy', oldPolicy, policy);
  }
  onPolicyDelete(policy: NetworkPolicy): void {
    this.#changed('policy', policy, undefined);
  }
  onPoliciesSynced(): void {
    this.#synced.policies = true;
    this.sync();
  }
  onPodAdd(pod: Pod): void {
    this.#changed('pod', undefined, pod);
  }
  onPodUpdate(oldPod: Pod, pod: Pod): void {
    this.#changed('pod', oldPod, pod);
  }
  onPodDelete(pod: Pod): void {
    this.#changed('pod', pod, undefined);
  }
  onPodsSynced(): void {
    this.#synced.pods = true;
    this.sync();
  }
  onNamespaceAdd(ns: Namespace): void {
    this.#changed('namespace', undefined, ns);
  }
  onNamespaceUpdate(oldNs: Namespace, ns: Namespace): void {
    this.#changed('namespace', oldNs, ns);
  }
  onNamespaceDelete(ns: Namespace): void {
    this.#changed('namespace', ns, undefined);
  }
  onNamespacesSynced(): void {
    this.#synced.namespaces = true;
    this.sync();
  }

  /**
   * Reads the drop counters (iptables-save -c) into podnet_netpol_dropped_packets_total. Needs
   * iptablesSave. With `registry`, every scrape calls it; with shared `metrics`, the host does.
   */
  async collectDrops(): Promise<void> {
    if (!this.#o.iptablesSave) return;
    this.#countDrops(readSavedPolicyState(await this.#o.iptablesSave()).dropCounters);
  }

  #countDrops(counters: Map<string, number>): void {
    for (const [chain, packets] of counters) {
      const who = this.#drops.get(chain);
      if (!who) continue;
      const last = this.#lastDropCount.get(chain) ?? 0;
      // A re-declared chain starts at 0 (every sync re-declares): a smaller number is a reset.
      const delta = packets >= last ? packets - last : packets;
      this.#lastDropCount.set(chain, packets);
      if (delta > 0) for (const policy of who.policies) this.metrics.droppedPackets.inc({ policy, direction: who.direction }, delta);
    }
  }

  /** Renders and applies the whole policy state for this node. */
  async syncPolicies(): Promise<PolicySyncOutcome> {
    if (!this.initialized) {
      this.#last = { attempted: false, ok: false };
      return this.#last;
    }
    const started = this.#clock.now();
    this.tracker.drain();
    let existing: Iterable<string> = this.#known;
    let jumpRule: 'insert' | 'reinsert' | 'none' = this.#jumpInserted ? 'none' : 'insert';
    try {
      if (this.#o.iptablesSave) {
        const saved = readSavedPolicyState(await this.#o.iptablesSave());
        this.#countDrops(saved.dropCounters);
        existing = saved.chains;
        jumpRule = saved.jumpPosition === 1 ? 'none' : saved.jumpPosition > 1 ? 'reinsert' : 'insert';
      }
      const rendered = renderPolicies(
        {
          node: this.#o.node,
          policies: [...this.tracker.policies.values()],
          pods: [...this.tracker.pods.values()],
          namespaces: [...this.tracker.namespaces.values()],
        },
        { existingChains: existing, jumpRule, ...(this.#o.markBit === undefined ? {} : { markBit: this.#o.markBit }) },
      );
      for (const e of rendered.invalid) this.#log.warn({ code: e.code }, e.message);
      try {
        await this.#o.apply(rendered.payload, { noflush: true });
      } catch (cause) {
        throw new NetpolError(
          NetpolErrorCodes.APPLY,
          `netpol: iptables-restore refused the policy payload (the previous rules stay): ${(cause as Error).message ?? cause}`,
          { cause },
        );
      }
      this.#known = new Set(rendered.chains);
      this.#jumpInserted = true;
      this.#drops = rendered.drops;
      this.#lastDropCount = new Map([...rendered.drops.keys()].map((c) => [c, 0]));
      const m = this.metrics;
      m.syncDuration.observe((this.#clock.now() - started) / 1000);
      m.syncsTotal.inc({ result: 'ok' });
      m.rulesRendered.set(rendered.rules);
      m.chainsRendered.set(rendered.chains.length);
      m.isolatedPods.set({ direction: 'ingress' }, rendered.isolated.ingress.length);
      m.isolatedPods.set({ direction: 'egress' }, rendered.isolated.egress.length);
      m.invalidPolicies.set(rendered.invalid.length);
      this.#last = { attempted: true, ok: true, rendered };
    } catch (e) {
      const error =
        e instanceof NetpolError
          ? e
          : new NetpolError(NetpolErrorCodes.APPLY, `netpol: sync failed: ${(e as Error).message}`, { cause: e });
      this.metrics.syncsTotal.inc({ result: 'error' });
      this.#log.error({ code: error.code }, error.message);
      // iptables-restore is atomic: a refused payload changed nothing, so what the agent knows
      // about the node (its chains, the jump) still holds; iptablesSave, when given, re-checks it.
      this.#last = { attempted: true, ok: false, error };
    }
    return this.#last;
  }

  /** Removes every PODNET-* chain and the FORWARD jump (a node leaving policy enforcement). */
  async cleanup(): Promise<void> {
    let chains: Iterable<string> = this.#known;
    let jump = this.#jumpInserted;
    if (this.#o.iptablesSave) {
      const saved = readSavedPolicyState(await this.#o.iptablesSave());
      chains = saved.chains;
      jump = saved.jumpPosition > 0;
    }
    await this.#o.apply(renderCleanup(chains, jump), { noflush: true });
    this.#known.clear();
    this.#jumpInserted = false;
  }
}
