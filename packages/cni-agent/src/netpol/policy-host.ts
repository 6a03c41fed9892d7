// NetworkPolicy enforcement on this node (issue 8): the cni-agent hosts @podnet/netpol's
// PolicyAgent, as Calico's Felix or kube-router's netpol controller run beside the CNI on every
// node. It renders PODNET-* filter chains and restores them into the host namespace's netfilter
// with --noflush (only PODNET-* chains and the FORWARD jump change; kube-proxy's KUBE-* and
// flannel's FLANNEL-* rules are never named; a partial sync writes only the chains that changed),
// reading iptables-save back for stale chains, hand-made changes and the jump's position, with -c
// only when the per-policy drop counters are needed. Its metrics live on the cni-agent's registry,
// so /metrics serves them.
import { Informer, type KubeClient, type KubeObject, type ResourceName } from '@podnet/client';
import { connectInformers, type Namespace, type NetworkPolicy, type Pod, PolicyAgent } from '@podnet/netpol';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { HostNetwork } from '../host/host-network.js';

export interface PolicyHostOptions {
  node: string;
  client: KubeClient;
  host: HostNetwork;
  registry: Registry;
  logger: Logger;
  /** Least time between syncs after a burst (netpol's default: 100 ms). */
  minSyncPeriodMs?: number;
  /** Periodic sync, which also restores PODNET-* rules deleted by hand (netpol's default: 30 s). */
  syncPeriodMs?: number;
}

/** @podnet/netpol's PolicyAgent defaults, stated here so the host can report what it runs with. */
const DEFAULT_MIN_SYNC_PERIOD_MS = 100;
const DEFAULT_SYNC_PERIOD_MS = 30_000;

export class PolicyHost {
  readonly agent: PolicyAgent;
  /** What the agent syncs with (the options given, or netpol's defaults): logged once enforcing. */
  readonly minSyncPeriodMs: number;
  readonly syncPeriodMs: number;
  readonly #policies: Informer<KubeObject & NetworkPolicy>;
  readonly #pods: Informer<KubeObject & Pod>;
  readonly #namespaces: Informer<KubeObject & Namespace>;
  readonly #log: Logger;
  #closed = false;

  constructor(o: PolicyHostOptions) {
    this.#log = o.logger;
    this.minSyncPeriodMs = o.minSyncPeriodMs ?? DEFAULT_MIN_SYNC_PERIOD_MS;
    this.syncPeriodMs = o.syncPeriodMs ?? DEFAULT_SYNC_PERIOD_MS;
    const log = o.logger.child({ subsystem: 'netpol' });
    this.agent = new PolicyAgent({
      node: o.node,
      // The host namespace's own restore: atomic, so a refused payload changes nothing (the agent retries).
      apply: async (payload, { noflush }) => void o.host.netfilter.restore(payload, { noflush }),
      iptablesSave: async ({ counters }) => o.host.netfilter.save({ table: 'filter', counters }),
      clock: o.host.clock,
      registry: o.registry,
      minSyncPeriodMs: this.minSyncPeriodMs,
      syncPeriodMs: this.syncPeriodMs,
      logger: { info: (x, m) => log.info(x, m), warn: (x, m) => log.warn(x, m), error: (x, m) => log.error(x, m) },
    });
    const informer = <T extends KubeObject>(resource: ResourceName) =>
      new Informer<T>(o.client.resource<T>(resource), { component: 'cni-agent', logger: o.logger });
    this.#policies = informer<KubeObject & NetworkPolicy>('networkpolicies');
    this.#pods = informer<KubeObject & Pod>('pods');
    this.#namespaces = informer<KubeObject & Namespace>('namespaces');
  }

  /** Starts the informers and the agent; nothing is enforced until all three have listed. */
  start(): void {
    const synced = connectInformers(this.agent, {
      policies: this.#untilSynced(this.#policies),
      pods: this.#untilSynced(this.#pods),
      namespaces: this.#untilSynced(this.#namespaces),
    });
    this.#policies.start();
    this.#pods.start();
    this.#namespaces.start();
    this.agent.start();
    synced.then(
      // The periods are in the line so that an operator (and the netpol bench) can see which
      // --netpol-min-sync-period the node runs with.
      () =>
        this.#log.info(
          { minSyncPeriodMs: this.minSyncPeriodMs, syncPeriodMs: this.syncPeriodMs },
          'netpol: policies, pods and namespaces listed; enforcing',
        ),
      () => {}, // only when closed before the first list
    );
  }

  /**
   * The informer, waiting for its first list however long the API server takes (the informer
   * retries): enforcing a partial view would deny traffic that should pass, so the agent must not
   * be told "synced" early, and must not stay unsynced forever after one slow start either.
   */
  #untilSynced<T extends KubeObject>(informer: Informer<T>): Informer<T> {
    const waitForSync = async (): Promise<void> => {
      while (!this.#closed) {
        try {
          return await informer.waitForSync(10_000);
        } catch (error) {
          this.#log.warn({ err: (error as Error).message }, 'netpol: not listed yet; policy enforcement waits for it');
        }
      }
      throw new Error('netpol: closed before the informers listed');
    };
    return Object.assign(Object.create(informer) as Informer<T>, {
      addEventHandler: informer.addEventHandler.bind(informer),
      waitForSync,
    });
  }

  /**
   * kube-proxy just applied a payload: its full sync prepends KUBE-* jumps to FORWARD, which would
   * let 0x4000-marked packets bypass policy until our periodic sync re-inserts PODNET-POLICY first
   * (netpol README, "Not yet"); syncing now closes that window.
   */
  afterExternalRestore(): void {
    this.agent.sync();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.agent.stop();
    await Promise.all([this.#policies.stop(), this.#pods.stop(), this.#namespaces.stop()]);
  }
}
