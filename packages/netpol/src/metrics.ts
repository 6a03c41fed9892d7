// The agent's Prometheus metrics (DESIGN §6.10: the registry's default labels carry {component, node}).
// Names follow Prometheus conventions (base units, _total for counters) under podnet_netpol_.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface NetpolMetrics {
  syncDuration: Histogram;
  /** Full syncs (every chain written), as kube-proxy's kubeproxy_sync_full_proxy_rules_duration_seconds. */
  syncFullDuration: Histogram;
  /** Partial syncs (changed chains only, or nothing), as kubeproxy_sync_partial_proxy_rules_duration_seconds. */
  syncPartialDuration: Histogram;
  /** PODNET-* chains written by the last successful sync (0: nothing changed, no restore). */
  chainsWritten: Gauge;
  syncsTotal: Counter<'result'>;
  rulesRendered: Gauge;
  chainsRendered: Gauge;
  isolatedPods: Gauge<'direction'>;
  invalidPolicies: Gauge;
  droppedPackets: Counter<'policy' | 'direction'>;
}

/** 1 ms … 16 s, as kube-proxy's sync histogram. */
const BUCKETS = Array.from({ length: 15 }, (_, i) => Number((0.001 * 2 ** i).toPrecision(12)));

export interface NetpolMetricsOptions {
  /** Called on every scrape before podnet_netpol_dropped_packets_total is read (the agent reads the rule counters). */
  collectDrops?: () => Promise<void>;
}

export function createNetpolMetrics(registry: Registry, options: NetpolMetricsOptions = {}): NetpolMetrics {
  const collectDrops = options.collectDrops;
  return {
    syncDuration: new Histogram({
      name: 'podnet_netpol_sync_duration_seconds',
      help: 'Time of a policy sync, full or partial: render the NetworkPolicy chains and apply the changed ones with iptables-restore.',
      buckets: BUCKETS,
      registers: [registry],
    }),
    syncFullDuration: new Histogram({
      name: 'podnet_netpol_sync_full_duration_seconds',
      help: 'Time of a full policy sync (every PODNET-* chain rendered and restored): the first, the periodic one, after a failed restore or when the node differs from what was written.',
      buckets: BUCKETS,
      registers: [registry],
    }),
    syncPartialDuration: new Histogram({
      name: 'podnet_netpol_sync_partial_duration_seconds',
      help: 'Time of a partial policy sync (only the PODNET-* chains whose rules changed are restored; none when nothing changed).',
      buckets: BUCKETS,
      registers: [registry],
    }),
    chainsWritten: new Gauge({
      name: 'podnet_netpol_sync_chains_written',
      help: 'PODNET-* chains the last successful policy sync wrote or deleted (0: nothing changed, no iptables-restore).',
      registers: [registry],
    }),
    syncsTotal: new Counter({
      name: 'podnet_netpol_syncs_total',
      help: 'Policy syncs by result (ok, error).',
      labelNames: ['result'],
      registers: [registry],
    }),
    rulesRendered: new Gauge({
      name: 'podnet_netpol_rules',
      help: 'Filter-table rules in the last applied policy payload.',
      registers: [registry],
    }),
    chainsRendered: new Gauge({
      name: 'podnet_netpol_chains',
      help: 'PODNET-* chains in the last applied policy payload.',
      registers: [registry],
    }),
    isolatedPods: new Gauge({
      name: 'podnet_netpol_isolated_pods',
      help: 'Pods on this node isolated by at least one NetworkPolicy, per direction.',
      labelNames: ['direction'],
      registers: [registry],
    }),
    invalidPolicies: new Gauge({
      name: 'podnet_netpol_invalid_policies',
      help: 'NetworkPolicies left out because they are invalid (see the agent log).',
      registers: [registry],
    }),
    droppedPackets: new Counter({
      name: 'podnet_netpol_dropped_packets_total',
      help: 'Packets dropped by default deny, counted for each policy that isolates the destination (ingress) or source (egress) pod.',
      labelNames: ['policy', 'direction'],
      registers: [registry],
      // prom-client awaits an async collect before reading the metric, so a scrape sees fresh counters.
      ...(collectDrops
        ? {
            async collect() {
              await collectDrops().catch(() => {});
            },
          }
        : {}),
    }),
  };
}
