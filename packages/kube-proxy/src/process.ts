// The kube-proxy process's wiring (cmd/kube-proxy/app/server.go): informers on Services,
// EndpointSlices and this Node (WebSocket watch, packages/client) feed the IptablesProxier, whose
// apply / iptables-save / conntrack -D go to the node's cni-agent over its control socket
// (DESIGN §2); /metrics (the kubeproxy_* names) and /healthz are served on the metrics address.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Informer, type KubeClient, type KubeObject, type Logger } from '@podnet/client';
import { CniAgentClient } from '@podnet/cni-agent/control-client';
import { Registry } from 'prom-client';
import { IptablesProxier } from './iptables-proxier.js';
import type { EndpointSlice, Node, Service } from './types.js';

export interface KubeProxyProcessOptions {
  node: string;
  client: KubeClient;
  controlSocket: string;
  metricsHost: string;
  metricsPort: number;
  minSyncPeriodMs: number;
  syncPeriodMs: number;
  clusterCIDR: string;
  nodeIP?: string;
  logger: Logger;
}

export interface KubeProxyProcess {
  proxier: IptablesProxier;
  /** http://HOST:PORT of /metrics and /healthz. */
  metricsUrl: string;
  close(): Promise<void>;
}

/**
 * /healthz as upstream's proxier health server (pkg/proxy/healthcheck/proxier_health.go): healthy
 * once the first sync has succeeded and the last one did, and not stale (no successful sync for
 * two sync periods while changes were queued would be unhealthy there; a failed last sync is here).
 */
function healthy(proxier: IptablesProxier): { ok: boolean; reason: string } {
  if (!proxier.initialized) return { ok: false, reason: 'informers have not synced yet' };
  const last = proxier.lastOutcome;
  if (!last?.attempted) return { ok: false, reason: 'no sync yet' };
  if (!last.ok) return { ok: false, reason: `last sync failed: ${last.error?.message ?? 'unknown error'}` };
  return { ok: true, reason: 'ok' };
}

/** Connection failures that mean "the cni-agent is (re)starting", not "the rules are wrong". */
const AGENT_DOWN = new Set(['PODNET_ERR_CONTROL_UNREACHABLE', 'PODNET_ERR_CONTROL']);

/**
 * Retries a control-socket call while the node's cni-agent is starting or restarting (the
 * node-agent starts both at once and restarts a dead one within seconds), for up to
 * AGENT_WAIT_MS; otherwise a first sync that races the agent would wait a whole sync period.
 */
const AGENT_WAIT_MS = 15_000;
async function whileAgentStarts<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + AGENT_WAIT_MS;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      if (!AGENT_DOWN.has(code) || Date.now() >= deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export async function startKubeProxy(options: KubeProxyProcessOptions): Promise<KubeProxyProcess> {
  const { node, client, logger } = options;
  const agent = new CniAgentClient({ socketPath: options.controlSocket, timeoutMs: 30_000 });
  const registry = new Registry();
  const proxier = new IptablesProxier({
    hostname: node,
    clusterCIDR: options.clusterCIDR,
    ...(options.nodeIP === undefined ? {} : { nodeIP: options.nodeIP }),
    registry,
    minSyncPeriodMs: options.minSyncPeriodMs,
    syncPeriodMs: options.syncPeriodMs,
    logger,
    apply: async (payload, applyOptions) => {
      await whileAgentStarts(() => agent.iptablesRestore(payload, { noflush: applyOptions.noflush }));
    },
    iptablesSave: () => whileAgentStarts(() => agent.iptablesSave()),
    deleteConntrack: async (filter) => {
      await whileAgentStarts(() => agent.conntrackDelete(filter));
    },
  });

  const services = new Informer<KubeObject & Service>(client.resource('services') as never, { component: 'kube-proxy', logger });
  const slices = new Informer<KubeObject & EndpointSlice>(client.resource('endpointslices') as never, { component: 'kube-proxy', logger });
  // Only this node's object, as upstream's node informer (fieldSelector metadata.name=NODE).
  const nodes = new Informer<KubeObject & Node>(client.resource('nodes') as never, {
    component: 'kube-proxy',
    logger,
    fieldSelector: { 'metadata.name': node },
  });
  services.addEventHandler({
    add: (s) => proxier.onServiceAdd(s),
    update: (o, s) => proxier.onServiceUpdate(o, s),
    delete: (s) => proxier.onServiceDelete(s),
  });
  slices.addEventHandler({
    add: (s) => proxier.onEndpointSliceAdd(s),
    update: (o, s) => proxier.onEndpointSliceUpdate(o, s),
    delete: (s) => proxier.onEndpointSliceDelete(s),
  });
  nodes.addEventHandler({
    add: (n) => proxier.onNodeAdd(n),
    update: (o, n) => proxier.onNodeUpdate(o, n),
    delete: (n) => proxier.onNodeDelete(n),
  });

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (error: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`${error.message}\n`);
        },
      );
      return;
    }
    if (path === '/healthz' || path === '/livez') {
      const h = healthy(proxier);
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ node, healthy: h.ok, reason: h.reason, lastSyncOk: proxier.lastOutcome?.ok ?? null })}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.metricsPort, options.metricsHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  proxier.start();
  services.start();
  slices.start();
  nodes.start();
  // The proxier syncs only once both informers have synced (upstream OnServiceSynced /
  // OnEndpointSlicesSynced), so a partial list never wipes a node's rules.
  void services.waitForSync(24 * 3600_000).then(
    () => {
      logger.info({ resource: 'services' }, 'informer synced');
      proxier.onServicesSynced();
    },
    () => undefined,
  );
  void slices.waitForSync(24 * 3600_000).then(
    () => {
      logger.info({ resource: 'endpointslices' }, 'informer synced');
      proxier.onEndpointSlicesSynced();
    },
    () => undefined,
  );
  logger.info({ metrics: `http://${address.address}:${address.port}` }, 'kube-proxy started');

  return {
    proxier,
    metricsUrl: `http://${address.address}:${address.port}`,
    async close() {
      proxier.stop();
      await Promise.all([services.stop(), slices.stop(), nodes.stop()]);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.close();
    },
  };
}
