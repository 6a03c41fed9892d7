// The live page server (issue 7, DESIGN §4: 127.0.0.1:8080): read-only, no token, served by the
// control plane. GET / is the page, GET /events a server-sent-events stream (WHATWG HTML
// §9.2 "Server-sent events": `event:`/`data:` lines, a blank line per message) fed by the
// informers and the in-memory metrics history, GET /api/cluster and /api/history the same data
// as JSON, GET /metrics the control plane's cluster-level metrics (control-plane-metrics.ts). Anything else is 404; any method but GET/HEAD is 405, so nothing here changes the cluster.
import http from 'node:http';
import type { Informer, KubeClient, KubeObject, Logger } from '@podnet/client';
import { ClusterView } from './cluster-view.js';
import { controlPlaneMetricsText } from './control-plane-metrics.js';
import { MetricsHistory, type ScrapeTarget } from './metrics-history.js';
import { PAGE_HTML } from './page.js';

export interface LivePageOptions {
  client: KubeClient;
  /** 127.0.0.1 by default: the page has no authentication, so it stays on loopback. */
  host?: string;
  /** 8080 by default; 0 for any free port. */
  port?: number;
  /** Where each node's components serve /metrics (DESIGN §4); the host is the node's transport address. */
  cniAgentMetricsPort?: number;
  kubeProxyMetricsPort?: number;
  scrapeIntervalMs?: number;
  /** The controllers' shared informers ("resource|namespace" → informer): their list/watch counters go to /metrics. */
  controllerInformers?: () => Array<[string, Informer<KubeObject>]>;
  retentionMs?: number;
  logger?: Logger;
}

export interface LivePage {
  readonly url: string;
  readonly view: ClusterView;
  readonly history: MetricsHistory;
  close(): Promise<void>;
}

const HEARTBEAT_MS = 15_000;

export async function startLivePage(options: LivePageOptions): Promise<LivePage> {
  const view = new ClusterView(options.client, options.logger);
  const targets = (): ScrapeTarget[] =>
    view
      .nodes()
      .filter((n) => n.transportAddress !== '')
      .flatMap((n) => [
        {
          node: n.name,
          component: 'cni-agent' as const,
          url: `http://${n.transportAddress}:${options.cniAgentMetricsPort ?? 9099}/metrics`,
        },
        {
          node: n.name,
          component: 'kube-proxy' as const,
          url: `http://${n.transportAddress}:${options.kubeProxyMetricsPort ?? 10249}/metrics`,
        },
      ]);
  const history = new MetricsHistory({ targets, intervalMs: options.scrapeIntervalMs, retentionMs: options.retentionMs });
  const streams = new Set<http.ServerResponse>();
  const send = (res: http.ServerResponse, event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('the live page is read-only: only GET\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(PAGE_HTML);
    } else if (path === '/api/cluster') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(view.snapshot()));
    } else if (path === '/metrics') {
      res
        .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
        .end(controlPlaneMetricsText(view, options.controllerInformers?.() ?? []));
    } else if (path === '/api/history') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(history.points()));
    } else if (path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write('retry: 1000\n\n');
      send(res, 'cluster', view.snapshot());
      send(res, 'history', history.points());
      streams.add(res);
      req.on('close', () => streams.delete(res));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the live page is at /\n');
    }
  });
  view.onChange(() => {
    const snap = view.snapshot();
    for (const s of streams) send(s, 'cluster', snap);
  });
  history.onPoint((p) => {
    for (const s of streams) send(s, 'point', p);
  });
  // Comment lines keep idle proxies and browsers from closing the stream.
  const heartbeat = setInterval(() => {
    for (const s of streams) s.write(': keep-alive\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error) => {
    clearInterval(heartbeat);
    throw error;
  });
  view.start();
  history.start();
  const a = server.address() as { address: string; port: number };
  return {
    url: `http://${a.address}:${a.port}/`,
    view,
    history,
    async close() {
      clearInterval(heartbeat);
      history.stop();
      for (const s of streams) s.end();
      streams.clear();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
      await view.stop();
    },
  };
}
