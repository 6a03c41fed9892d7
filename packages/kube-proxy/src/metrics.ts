// kube-proxy's Prometheus metrics, with the real names, help texts and buckets
// (pkg/proxy/metrics/metrics.go, subsystem "kubeproxy"; /work/shared/notes/kube-proxy.md).
// They live in a Registry the caller passes in (one per process); the registry's default
// labels carry {component, node} (DESIGN §6.10), so every series names where it came from.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** prometheus.ExponentialBuckets(start, factor, count). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Number((start * factor ** i).toPrecision(12)));
}

/** prometheus.LinearBuckets(start, width, count). */
export function linearBuckets(start: number, width: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + width * i);
}

/** metrics.MergeBuckets: the union, sorted. */
export function mergeBuckets(...lists: number[][]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}

/** ExponentialBuckets(0.001, 2, 15): 1 ms … 16.384 s. */
export const SYNC_DURATION_BUCKETS = exponentialBuckets(0.001, 2, 15);

/** MergeBuckets(Linear(0.25,0.25,2), Linear(1,1,59), Linear(60,5,12), Linear(120,30,7)). */
export const NETWORK_PROGRAMMING_BUCKETS = mergeBuckets(
  linearBuckets(0.25, 0.25, 2),
  linearBuckets(1, 1, 59),
  linearBuckets(60, 5, 12),
  linearBuckets(120, 30, 7),
);

export interface KubeProxyMetrics {
  syncProxyRulesLatency: Histogram;
  syncFullProxyRulesLatency: Histogram;
  syncPartialProxyRulesLatency: Histogram;
  networkProgrammingLatency: Histogram;
  syncProxyRulesLastTimestamp: Gauge;
  syncProxyRulesLastQueuedTimestamp: Gauge;
  endpointChangesPending: Gauge;
  serviceChangesPending: Gauge;
  endpointChangesTotal: Counter;
  serviceChangesTotal: Counter;
  iptablesRulesTotal: Gauge<'table'>;
  iptablesRulesLastSync: Gauge<'table'>;
  iptablesRestoreFailuresTotal: Counter;
  iptablesPartialRestoreFailuresTotal: Counter;
  noLocalEndpointsTotal: Gauge<'traffic_policy'>;
}

export interface MetricsOptions {
  /** The node's name: the `node` label. */
  node: string;
  /** The `component` label (default "kube-proxy"). */
  component?: string;
}

export function createKubeProxyMetrics(registry: Registry, options: MetricsOptions): KubeProxyMetrics {
  registry.setDefaultLabels({ component: options.component ?? 'kube-proxy', node: options.node });
  const registers = [registry];
  const histogram = (name: string, help: string, buckets: number[]) => new Histogram({ name, help, buckets, registers });
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers });
  const counter = (name: string, help: string) => new Counter({ name, help, registers });
  return {
    syncProxyRulesLatency: histogram(
      'kubeproxy_sync_proxy_rules_duration_seconds',
      'SyncProxyRules latency in seconds',
      SYNC_DURATION_BUCKETS,
    ),
    syncFullProxyRulesLatency: histogram(
      'kubeproxy_sync_full_proxy_rules_duration_seconds',
      'SyncProxyRules latency in seconds for full resyncs',
      SYNC_DURATION_BUCKETS,
    ),
    syncPartialProxyRulesLatency: histogram(
      'kubeproxy_sync_partial_proxy_rules_duration_seconds',
      'SyncProxyRules latency in seconds for partial resyncs',
      SYNC_DURATION_BUCKETS,
    ),
    networkProgrammingLatency: histogram(
      'kubeproxy_network_programming_duration_seconds',
      'In Cluster Network Programming Latency in seconds',
      NETWORK_PROGRAMMING_BUCKETS,
    ),
    syncProxyRulesLastTimestamp: gauge(
      'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
      'The last time proxy rules were successfully synced',
    ),
    syncProxyRulesLastQueuedTimestamp: gauge(
      'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds',
      'The last time a sync of proxy rules was queued',
    ),
    endpointChangesPending: gauge('kubeproxy_sync_proxy_rules_endpoint_changes_pending', 'Pending proxy rules Endpoint changes'),
    serviceChangesPending: gauge('kubeproxy_sync_proxy_rules_service_changes_pending', 'Pending proxy rules Service changes'),
    endpointChangesTotal: counter('kubeproxy_sync_proxy_rules_endpoint_changes_total', 'Cumulative proxy rules Endpoint changes'),
    serviceChangesTotal: counter('kubeproxy_sync_proxy_rules_service_changes_total', 'Cumulative proxy rules Service changes'),
    iptablesRulesTotal: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_iptables_total',
      help: 'Total number of iptables rules owned by kube-proxy',
      labelNames: ['table'] as const,
      registers,
    }),
    iptablesRulesLastSync: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_iptables_last',
      help: 'Number of iptables rules written by kube-proxy in last sync',
      labelNames: ['table'] as const,
      registers,
    }),
    iptablesRestoreFailuresTotal: counter(
      'kubeproxy_sync_proxy_rules_iptables_restore_failures_total',
      'Cumulative proxy iptables restore failures',
    ),
    iptablesPartialRestoreFailuresTotal: counter(
      'kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total',
      'Cumulative proxy iptables partial restore failures',
    ),
    noLocalEndpointsTotal: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_no_local_endpoints_total',
      help: 'Number of services with a Local traffic policy and no endpoints',
      labelNames: ['traffic_policy'] as const,
      registers,
    }),
  };
}
