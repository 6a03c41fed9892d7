// The node's data plane as /metrics (issue 7): per-interface packets/bytes/drops (Linux
// rtnl_link_stats64 as `ip -s link` shows it), netfilter rule counters summarised per table and
// chain (what `iptables -L -v` sums), conntrack entries and insert failures
// (/proc/net/stat/nf_conntrack `insert_failed`), and TCP retransmissions (/proc/net/snmp RetransSegs)
// of the host namespace. All read at scrape time from counters the data plane already keeps.
import type { Registry } from 'prom-client';
import type { HostNetwork } from '../host/host-network.js';
import { registerSnapshotMetric, type Sample } from './snapshot-metric.js';

type Snap = { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number; drops: Record<string, number> };

export function registerDataPlaneMetrics(registry: Registry, host: HostNetwork): void {
  /** Links only: `ip` is the namespace's IP layer, exported with the tunnel and IP drops. */
  const links = (): Array<[string, Snap]> => Object.entries(host.ns.counters()).filter(([dev]) => dev !== 'ip');
  const perInterface = (name: string, help: string, pick: (s: Snap) => number) =>
    registerSnapshotMetric(registry, {
      name,
      help,
      type: 'counter',
      collect: () => links().map(([dev, s]) => ({ labels: { interface: dev }, value: pick(s) })),
    });
  perInterface('podnet_interface_receive_packets_total', 'Frames received per host interface (rx_packets).', (s) => s.rxPackets);
  perInterface(
    'podnet_interface_receive_bytes_total',
    'Bytes received per host interface (rx_bytes, Ethernet header included).',
    (s) => s.rxBytes,
  );
  perInterface('podnet_interface_transmit_packets_total', 'Frames sent per host interface (tx_packets).', (s) => s.txPackets);
  perInterface('podnet_interface_transmit_bytes_total', 'Bytes sent per host interface (tx_bytes).', (s) => s.txBytes);
  // The reasons every link kind can drop for (netstack LinkBase), exported at 0 too, as `ip -s link` prints dropped 0.
  const linkReasons = ['link-down', 'truncated', 'oversized', 'no-receiver', 'rx-error', 'tx-error'];
  registerSnapshotMetric(registry, {
    name: 'podnet_interface_dropped_total',
    help: 'Frames dropped per host interface and reason (the IP layer is interface="ip": no-route, ttl-exceeded, ...).',
    type: 'counter',
    collect: () => {
      const out: Sample[] = [];
      for (const [dev, s] of Object.entries(host.ns.counters())) {
        const reasons = new Set([...(dev === 'ip' ? [] : linkReasons), ...Object.keys(s.drops)]);
        for (const reason of reasons) out.push({ labels: { interface: dev, reason }, value: s.drops[reason] ?? 0 });
      }
      return out;
    },
  });
  registerSnapshotMetric(registry, {
    name: 'podnet_netfilter_rules',
    help: 'iptables rules per table in the host namespace (kube-proxy, flannel and hand-written ones).',
    type: 'gauge',
    collect: () =>
      [...host.netfilter.ruleSet.tables].map(([table, t]) => ({
        labels: { table },
        value: [...t.chains.values()].reduce((n, c) => n + c.rules.length, 0),
      })),
  });
  registerSnapshotMetric(registry, {
    name: 'podnet_netfilter_chain_packets_total',
    help: "Packets counted in a chain: the sum of its rules' packet counters plus, for a built-in chain, its policy counter (iptables -L -v).",
    type: 'counter',
    collect: () => {
      const out: Sample[] = [];
      for (const [table, t] of host.netfilter.ruleSet.tables)
        for (const c of t.chains.values()) {
          const packets = c.rules.reduce((n, r) => n + r.packets, c.builtin ? c.packets : 0);
          if (c.builtin || packets > 0 || c.rules.length > 0) out.push({ labels: { table, chain: c.name }, value: packets });
        }
      return out;
    },
  });
  const ct = host.conntrack.counters;
  registerSnapshotMetric(registry, {
    name: 'podnet_conntrack_inserts_total',
    help: 'Connections confirmed into the conntrack table (nf_conntrack stat insert).',
    type: 'counter',
    collect: () => [{ labels: {}, value: ct.inserts }],
  });
  registerSnapshotMetric(registry, {
    name: 'podnet_conntrack_insert_failed_total',
    help: 'Connections whose confirm lost a race for a tuple (nf_conntrack stat insert_failed: the UDP DNS race kube-proxy users meet).',
    type: 'counter',
    collect: () => [{ labels: {}, value: ct.insertFailed }],
  });
  registerSnapshotMetric(registry, {
    name: 'podnet_conntrack_dropped_total',
    help: 'Packets conntrack dropped (table full, early drop, invalid), by reason.',
    type: 'counter',
    collect: () => [
      { labels: { reason: 'drop' }, value: ct.drops },
      { labels: { reason: 'early_drop' }, value: ct.earlyDrops },
      { labels: { reason: 'invalid' }, value: ct.invalid },
    ],
  });
  const tcp = host.ns.tcp.counters;
  registerSnapshotMetric(registry, {
    name: 'podnet_tcp_retransmitted_segments_total',
    help: 'TCP segments sent again by the host namespace (RetransSegs), by cause (fast: three duplicate ACKs, timeout: RTO expiry, other).',
    type: 'counter',
    collect: () => [
      { labels: { cause: 'fast' }, value: tcp.fastRetransmits },
      { labels: { cause: 'timeout' }, value: tcp.timeouts },
      { labels: { cause: 'other' }, value: Math.max(0, tcp.retransmissions - tcp.fastRetransmits - tcp.timeouts) },
    ],
  });
  registerSnapshotMetric(registry, {
    name: 'podnet_tcp_segments_total',
    help: 'TCP segments of the host namespace by direction (InSegs, OutSegs).',
    type: 'counter',
    collect: () => [
      { labels: { direction: 'rx' }, value: tcp.segmentsReceived },
      { labels: { direction: 'tx' }, value: tcp.segmentsSent },
    ],
  });
}
