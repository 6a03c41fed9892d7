// /metrics on <transport address>:9099 (DESIGN §4), prom-client with the default labels
// {component: "cni-agent", node} (DESIGN §6.10). Interface and tunnel counters are read from the
// host namespace at scrape time, so the data plane pays nothing for them.
import http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { HostNetwork } from './host/host-network.js';

export interface AgentMetrics {
  registry: Registry;
  cniCalls: Counter<'command' | 'result'>;
  reconcileRestored: Counter<string>;
}

export function createMetrics(
  node: string,
  host: HostNetwork,
  gauges: { pods: () => number; remotes: () => number; nodePorts: () => number },
): AgentMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ component: 'cni-agent', node });
  const cniCalls = new Counter({
    name: 'podnet_cni_calls_total',
    help: 'CNI calls by command and result (ok or the CNI error code).',
    labelNames: ['command', 'result'] as const,
    registers: [registry],
  });
  const reconcileRestored = new Counter({
    name: 'podnet_cni_backend_restored_total',
    help: 'Routes, neighbours, FDB entries and peers the periodic reconcile had to restore.',
    registers: [registry],
  });
  new Gauge({
    name: 'podnet_cni_pods',
    help: 'Pod attachments on this node.',
    registers: [registry],
    collect() {
      this.set(gauges.pods());
    },
  });
  new Gauge({
    name: 'podnet_cni_remote_nodes',
    help: 'Remote nodes the backend has programmed.',
    registers: [registry],
    collect() {
      this.set(gauges.remotes());
    },
  });
  new Gauge({
    name: 'podnet_cni_nodeport_listeners',
    help: 'Real NodePort listeners open.',
    registers: [registry],
    collect() {
      this.set(gauges.nodePorts());
    },
  });
  const iface = (
    name: string,
    help: string,
    pick: (s: { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number }) => number,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['interface'] as const,
      registers: [registry],
      collect() {
        for (const [dev, snap] of Object.entries(host.ns.counters())) if (dev !== 'ip') this.set({ interface: dev }, pick(snap));
      },
    });
  iface('podnet_interface_rx_packets', 'Packets received per host interface.', (s) => s.rxPackets);
  iface('podnet_interface_rx_bytes', 'Bytes received per host interface.', (s) => s.rxBytes);
  iface('podnet_interface_tx_packets', 'Packets sent per host interface.', (s) => s.txPackets);
  iface('podnet_interface_tx_bytes', 'Bytes sent per host interface.', (s) => s.txBytes);
  new Gauge({
    name: 'podnet_interface_drops',
    help: 'Drops per host interface and reason.',
    labelNames: ['interface', 'reason'] as const,
    registers: [registry],
    collect() {
      for (const [dev, snap] of Object.entries(host.ns.counters()))
        for (const [reason, n] of Object.entries(snap.drops)) this.set({ interface: dev, reason }, n);
    },
  });
  new Gauge({
    name: 'podnet_conntrack_entries',
    help: 'Connection tracking entries in the host namespace.',
    registers: [registry],
    collect() {
      this.set(host.conntrack.counters.entries);
    },
  });
  return { registry, cniCalls, reconcileRestored };
}

export async function serveMetrics(registry: Registry, address: string, port: number): Promise<http.Server> {
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    try {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType }).end(body);
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
