// The agent's Prometheus metrics (DESIGN §6.10: the registry's default labels carry {component, node}).
// Names follow Prometheus conventions (base units, _total for counters) under podnet_netpol_.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface NetpolMetrics {
  syncDuration: Histogram;
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
      help: 'Time to render the NetworkPolicy chains and apply them with iptables-restore.',
      buckets: BUCKETS,
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
