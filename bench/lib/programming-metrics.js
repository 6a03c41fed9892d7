// Reading kube-proxy's own network programming latency from each node's /metrics (packages/kube-proxy
// README "Metrics"): `kubeproxy_network_programming_duration_seconds` is observed once per changed
// Service per successful sync, from the EndpointSlice's endpoints.kubernetes.io/last-change-trigger-time
// to the end of that sync (upstream pkg/proxy/metrics NetworkProgrammingLatency). The histogram's
// _sum and _count deltas across one change give that change's latency on that node exactly
// (sum delta / count delta), without the bucket rounding a quantile estimate would add.

const NAME = 'kubeproxy_network_programming_duration_seconds';
// Each sync's render + apply time, to tell how much of the latency is the sync itself.
const SYNC = 'kubeproxy_sync_proxy_rules_duration_seconds';

function histogram(lines, name) {
  let count = 0;
  let sum = 0;
  for (const line of lines) {
    // `name_count{labels} v` or `name_count v`: the value is the last field.
    if (line.startsWith(`${name}_count{`) || line.startsWith(`${name}_count `)) count += Number(line.slice(line.lastIndexOf(' ') + 1));
    else if (line.startsWith(`${name}_sum{`) || line.startsWith(`${name}_sum `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { count, sum };
}

/**
 * {count, sum} of the programming histogram and {syncCount, syncSum} of the sync-duration one,
 * in a Prometheus text exposition (summed over label sets).
 */
export function parseProgrammingHistogram(text) {
  const lines = text.split('\n');
  const sync = histogram(lines, SYNC);
  return { ...histogram(lines, NAME), syncCount: sync.count, syncSum: sync.sum };
}

/** One node's histogram now, from its kube-proxy at http://ADDRESS:10249/metrics (loopback only). */
export async function readProgrammingHistogram(address) {
  const res = await fetch(`http://${address}:10249/metrics`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`kube-proxy metrics on ${address}:10249: HTTP ${res.status}`);
  return parseProgrammingHistogram(await res.text());
}

/** p-th percentile (0..100) by nearest rank of a non-empty list. */
export function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(rank, s.length) - 1];
}
