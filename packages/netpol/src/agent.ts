// The policy agent a cni-agent hosts (one per node): informer callbacks feed the change tracker,
// a coalescing runner renders every policy chain for this node's pods and applies them
// atomically with iptables-restore --noflush (only PODNET-* chains and the FORWARD jump change;
// KUBE-* and FLANNEL-* are never named). With iptablesSave it also deletes PODNET-* chains an
// earlier agent process left, re-inserts the FORWARD jump when it is missing or no longer first
// (kube-proxy prepends its jumps on a full sync), and counts default-deny drops per policy from
// the rule counters (`iptables-save -c`). Shaped like kube-proxy's IptablesProxier (DESIGN §6.5).
//
// Partial syncs, as kube-proxy >= 1.26 (KEP-3453, "Minimizing iptables-restore input size"): the
// agent remembers each chain's rules as it last wrote them and restores only the chains that
// changed, plus -X of the removed ones; nothing at all when nothing changed. A full sync (every
// chain) runs first, at least once per syncPeriodMs (the periodic run: it also repairs rules
// edited by hand), after any failed restore, and when iptables-save shows PODNET-* chains or rule
// counts other than the ones written (a rule deleted by hand). The save is read without counters,
// except when a chain holding a default-deny DROP is about to be rewritten (its counters reset)
// or on a full sync.
import { BoundedFrequencyRunner, type Clock, systemClock } from '@podnet/wire';
import type { Registry } from 'prom-client';
import { isPolicyChain, POLICY_CHAIN } from './chain-names.js';
import { type Kind, PolicyChangeTracker, type TrackedObject } from './change-tracker.js';
import { NetpolError, NetpolErrorCodes } from './errors.js';
import { createNetpolMetrics, type NetpolMetrics } from './metrics.js';
import {
  type DropAttribution,
  JUMP_COMMENT,
  policyPayload,
  type RenderedChains,
  renderCleanup,
  renderPolicyChains,
  staleChains,
} from './renderer.js';
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
  /** `iptables-save -t filter [-c]` on the node (optional; see the file comment). */
  iptablesSave?: (options: { counters: boolean }) => Promise<string>;
  clock?: Clock;
  registry?: Registry;
  /** Or metrics already made on a registry (several agents in one test process). */
  metrics?: NetpolMetrics;
  /** Least time between syncs after a burst of two (default 100 ms: policy changes should land fast). */
  minSyncPeriodMs?: number;
  /** A full sync at least this often (default 30 s), which also restores rules changed by hand. */
  syncPeriodMs?: number;
  markBit?: number;
  logger?: PolicyAgentLogger;
}

export interface PolicySyncOutcome {
  attempted: boolean;
  ok: boolean;
  /** Every chain written (true) or only the changed ones (false). */
  full?: boolean;
  rendered?: RenderedChains;
  /** The iptables-restore input applied (or refused); undefined when nothing changed (no restore). */
  payload?: string;
  /** Chains the payload writes, and the ones it deletes. */
  written?: string[];
  deleted?: string[];
  error?: NetpolError;
}

const noLogger: PolicyAgentLogger = { info() {}, warn() {}, error() {} };

/** What an iptables-save of the filter table says about this package's state. */
export interface SavedPolicyState {
  chains: string[];
  /** -1: the jump is missing; otherwise its 1-based position in FORWARD. */
  jumpPosition: number;
  /** Packet counters of DROP rules in PODNET-PI/PE chains, by chain (only in a save with -c). */
  dropCounters: Map<string, number>;
  /** Number of rules in each PODNET-* chain. */
  ruleCounts: Map<string, number>;
}

/**
 * Reads iptables-save output (what the kernel's iptables-save prints: `*table`, `:CHAIN POLICY
 * [p:b]`, `[p:b] -A CHAIN ...` with -c, `-A CHAIN ...` without). Every sync reads the whole filter
 * table (1,500 rules at 100 policies), so lines are walked by index in the one string: only
 * PODNET-* chain names are cut out, nothing is split, trimmed or matched by regular expression.
 */
export function readSavedPolicyState(saved: string): SavedPolicyState {
  const chains: string[] = [];
  const dropCounters = new Map<string, number>();
  const ruleCounts = new Map<string, number>();
  let inFilter = false;
  let forward = 0;
  let jumpPosition = -1;
  const length = saved.length;
  for (let next = 0; next < length; ) {
    let end = saved.indexOf('\n', next);
    if (end < 0) end = length;
    let a = next;
    let b = end;
    next = end + 1;
    while (a < b && saved.charCodeAt(a) <= 32) a++;
    while (b > a && saved.charCodeAt(b - 1) <= 32) b--;
    if (a === b) continue;
    const first = saved.charCodeAt(a);
    if (first === 42 /* * */) inFilter = b - a === 7 && saved.startsWith('*filter', a);
    if (!inFilter) continue;
    if (first === 58 /* : */) {
      const space = saved.indexOf(' ', a);
      const name = saved.slice(a + 1, space < 0 || space > b ? b : space);
      if (isPolicyChain(name)) {
        chains.push(name);
        ruleCounts.set(name, 0);
      }
      continue;
    }
    let at = a;
    let packets: number | undefined;
    if (first === 91 /* [ */) {
      const colon = saved.indexOf(':', a);
      const close = saved.indexOf(']', a);
      if (close < 0 || close > b || colon < 0 || colon > close) continue;
      packets = Number(saved.slice(a + 1, colon));
      at = close + 1;
      while (at < b && saved.charCodeAt(at) === 32) at++;
    }
    if (!saved.startsWith('-A ', at)) continue;
    const nameAt = at + 3;
    const nameEnd = saved.indexOf(' ', nameAt);
    if (nameEnd < 0 || nameEnd > b) continue;
    if (nameEnd - nameAt === 7 && saved.startsWith('FORWARD', nameAt)) {
      forward++;
      if (jumpPosition < 0) {
        const rest = saved.slice(nameEnd, b);
        if (rest.includes(`-j ${POLICY_CHAIN}`) && rest.includes(JUMP_COMMENT)) jumpPosition = forward;
      }
      continue;
    }
    if (!saved.startsWith('PODNET-', nameAt)) continue;
    const chain = saved.slice(nameAt, nameEnd);
    const count = ruleCounts.get(chain);
    if (count !== undefined) ruleCounts.set(chain, count + 1);
    if (packets !== undefined && (chain.startsWith('PODNET-PI-') || chain.startsWith('PODNET-PE-')) && saved.startsWith(' -j DROP', b - 8))
      dropCounters.set(chain, packets);
  }
  return { chains, jumpPosition, dropCounters, ruleCounts };
}

export class PolicyAgent {
  readonly tracker = new PolicyChangeTracker();
  readonly metrics: NetpolMetrics;
  readonly #o: PolicyAgentOptions;
  readonly #clock: Clock;
  readonly #log: PolicyAgentLogger;
  readonly #runner: BoundedFrequencyRunner;
  readonly #syncPeriodMs: number;
  readonly #synced = { policies: false, pods: false, namespaces: false };
  /** Each chain our payloads left, as its rules joined (what a partial sync compares against). */
  #written = new Map<string, string>();
  /** The same chains' rule counts (what iptables-save is checked against). */
  #writtenCounts = new Map<string, number>();
  /** The next sync writes every chain: at start, and after a failed restore. */
  #needFull = true;
  #lastFull = Number.NEGATIVE_INFINITY;
  /** The last render and its chains' texts, reused by a partial sync when no object changed since. */
  #rendered: { chains: RenderedChains; texts: Map<string, string> } | undefined;
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
    this.#syncPeriodMs = options.syncPeriodMs ?? 30_000;
    const minSyncPeriodMs = options.minSyncPeriodMs ?? 100;
    this.#runner = new BoundedFrequencyRunner(
      async () => {
        const outcome = await this.syncPolicies();
        if (outcome.attempted && !outcome.ok) throw outcome.error;
      },
      {
        clock: this.#clock,
        minIntervalMs: minSyncPeriodMs,
        maxIntervalMs: this.#syncPeriodMs,
        // A refused payload is retried soon (the next sync is a full one), not at the periodic run.
        retryOnErrorMs: Math.max(100, minSyncPeriodMs),
        flags: { minInterval: '--netpol-min-sync-period', maxInterval: '--netpol-sync-period' },
      },
    );
  }

  get runner(): BoundedFrequencyRunner {
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
    this.#countDrops(readSavedPolicyState(await this.#o.iptablesSave({ counters: true })).dropCounters);
  }

  #countDrops(counters: Map<string, number>): void {
    for (const [chain, packets] of counters) {
      const who = this.#drops.get(chain);
      if (!who) continue;
      const last = this.#lastDropCount.get(chain) ?? 0;
      // A re-declared chain starts at 0 (a sync that rewrites it): a smaller number is a reset.
      const delta = packets >= last ? packets - last : packets;
      this.#lastDropCount.set(chain, packets);
      if (delta > 0) for (const policy of who.policies) this.metrics.droppedPackets.inc({ policy, direction: who.direction }, delta);
    }
  }

  /**
   * Renders the policy state for this node and applies what changed since the last sync (every
   * chain on a full sync; see the file comment for when that is).
   */
  async syncPolicies(): Promise<PolicySyncOutcome> {
    if (!this.initialized) {
      this.#last = { attempted: false, ok: false };
      return this.#last;
    }
    const started = this.#clock.now();
    const changes = this.tracker.drain();
    let full = this.#needFull || started - this.#lastFull >= this.#syncPeriodMs;
    let payload: string | undefined;
    let written: string[] = [];
    let deleted: string[] = [];
    let rendered: RenderedChains | undefined;
    try {
      // Nothing changed since the last successful sync (kube-proxy's restore asked, or the node
      // is re-checked): the same state renders the same rules, so only iptables-save is read.
      const reuse = !full && changes.length === 0 ? this.#rendered : undefined;
      let texts: Map<string, string>;
      if (reuse) {
        rendered = reuse.chains;
        texts = reuse.texts;
      } else {
        rendered = renderPolicyChains(
          {
            node: this.#o.node,
            policies: [...this.tracker.policies.values()],
            pods: [...this.tracker.pods.values()],
            namespaces: [...this.tracker.namespaces.values()],
          },
          this.#o.markBit === undefined ? {} : { markBit: this.#o.markBit },
        );
        for (const e of rendered.invalid) this.#log.warn({ code: e.code }, e.message);
        texts = new Map<string, string>();
        for (const [name, lines] of rendered.chainRules) texts.set(name, lines.join('\n'));
      }
      const changed = () => rendered?.chains.filter((n) => this.#written.get(n) !== texts.get(n)) ?? [];
      written = full ? rendered.chains : changed();
      let existing: Iterable<string> = this.#written.keys();
      let jumpRule: 'insert' | 'reinsert' | 'none' = this.#jumpInserted ? 'none' : 'insert';
      if (this.#o.iptablesSave) {
        // Rewriting a chain resets its rule counters: read the default-deny ones first.
        const counters = full || written.some((n) => this.#drops.has(n));
        let saved = readSavedPolicyState(await this.#o.iptablesSave({ counters }));
        if (!full && !this.#matchesWritten(saved)) {
          this.#log.info({}, 'netpol: the PODNET-* rules on the node differ from the ones written (changed by hand?); writing them all');
          full = true;
          written = rendered.chains;
          if (!counters) saved = readSavedPolicyState(await this.#o.iptablesSave({ counters: true }));
        }
        this.#countDrops(saved.dropCounters);
        existing = saved.chains;
        jumpRule = saved.jumpPosition === 1 ? 'none' : saved.jumpPosition > 1 ? 'reinsert' : 'insert';
      }
      deleted = staleChains(existing, rendered.chainRules);
      if (written.length > 0 || deleted.length > 0 || jumpRule !== 'none') {
        payload = policyPayload(rendered.chainRules, written, deleted, jumpRule);
        try {
          await this.#o.apply(payload, { noflush: true });
        } catch (cause) {
          throw new NetpolError(
            NetpolErrorCodes.APPLY,
            `netpol: iptables-restore refused the policy payload (the previous rules stay; the next sync writes every chain): ${(cause as Error).message ?? cause}`,
            { cause },
          );
        }
      }
      if (full) {
        this.#written = texts;
        this.#writtenCounts = new Map([...rendered.chainRules].map(([n, l]) => [n, l.length]));
        this.#lastFull = started;
      } else {
        for (const n of written) {
          this.#written.set(n, texts.get(n) ?? '');
          this.#writtenCounts.set(n, rendered.chainRules.get(n)?.length ?? 0);
        }
        for (const n of deleted) {
          this.#written.delete(n);
          this.#writtenCounts.delete(n);
        }
      }
      this.#needFull = false;
      this.#jumpInserted = true;
      this.#rendered = { chains: rendered, texts };
      // Rewritten chains start at 0 packets; the others keep counting from what was read.
      const lastDrops = new Map<string, number>();
      const rewritten = new Set(written);
      for (const chain of rendered.drops.keys()) lastDrops.set(chain, rewritten.has(chain) ? 0 : (this.#lastDropCount.get(chain) ?? 0));
      this.#drops = rendered.drops;
      this.#lastDropCount = lastDrops;
      const m = this.metrics;
      const seconds = (this.#clock.now() - started) / 1000;
      m.syncDuration.observe(seconds);
      (full ? m.syncFullDuration : m.syncPartialDuration).observe(seconds);
      m.chainsWritten.set(payload === undefined ? 0 : written.length + deleted.length);
      m.syncsTotal.inc({ result: 'ok' });
      m.rulesRendered.set(rendered.rules);
      m.chainsRendered.set(rendered.chains.length);
      m.isolatedPods.set({ direction: 'ingress' }, rendered.isolated.ingress.length);
      m.isolatedPods.set({ direction: 'egress' }, rendered.isolated.egress.length);
      m.invalidPolicies.set(rendered.invalid.length);
      this.#last = { attempted: true, ok: true, full, rendered, payload, written, deleted };
    } catch (e) {
      const error =
        e instanceof NetpolError
          ? e
          : new NetpolError(NetpolErrorCodes.APPLY, `netpol: sync failed: ${(e as Error).message}`, { cause: e });
      this.metrics.syncsTotal.inc({ result: 'error' });
      this.#log.error({ code: error.code }, error.message);
      // iptables-restore is atomic: a refused payload changed nothing, so what the agent wrote
      // before still stands; but the node may not be what it thinks (why else refuse?), so the
      // next sync writes every chain, as kube-proxy sets needFullSync after a failed restore.
      this.#needFull = true;
      this.#rendered = undefined;
      this.#last = {
        attempted: true,
        ok: false,
        full,
        ...(rendered ? { rendered } : {}),
        ...(payload === undefined ? {} : { payload }),
        written,
        deleted,
        error,
      };
    }
    return this.#last;
  }

  /** Whether the save shows exactly the PODNET-* chains written, each with as many rules. */
  #matchesWritten(saved: SavedPolicyState): boolean {
    if (saved.ruleCounts.size !== this.#writtenCounts.size) return false;
    for (const [chain, count] of this.#writtenCounts) if (saved.ruleCounts.get(chain) !== count) return false;
    return true;
  }

  /** Removes every PODNET-* chain and the FORWARD jump (a node leaving policy enforcement). */
  async cleanup(): Promise<void> {
    let chains: Iterable<string> = [...this.#written.keys()];
    let jump = this.#jumpInserted;
    if (this.#o.iptablesSave) {
      const saved = readSavedPolicyState(await this.#o.iptablesSave({ counters: false }));
      chains = saved.chains;
      jump = saved.jumpPosition > 0;
    }
    await this.#o.apply(renderCleanup(chains, jump), { noflush: true });
    this.#written.clear();
    this.#writtenCounts.clear();
    this.#needFull = true;
    this.#jumpInserted = false;
  }
}
