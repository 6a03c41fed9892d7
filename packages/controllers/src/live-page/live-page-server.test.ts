// The live page server against the real API server process: the cluster snapshot and its
// server-sent events follow Nodes, Pods, Services and EndpointSlices as they change; the metrics
// history scrapes each node's cni-agent and kube-proxy /metrics (here two small HTTP servers with
// moving counters) into overhead ratios and a programming-latency p99; the page is read-only.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient } from '@podnet/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServerProcess, startApiServerProcess } from '../../../client/src/testing/apiserver-process.js';
import { type LivePage, startLivePage } from './live-page-server.js';

let api: ApiServerProcess;
let kube: KubeClient;
let page: LivePage;
const fakes: http.Server[] = [];
let scrapes = 0;

/** A cni-agent-like /metrics: every scrape 10 more frames of 100 inner bytes (+50 each on the wire). */
function cniText(): string {
  scrapes++;
  const frames = 10 * scrapes;
  const l = 'backend="vxlan",peer="node-b",direction="tx"';
  return [
    `podnet_tunnel_inner_frames_total{${l}} ${frames}`,
    `podnet_tunnel_inner_bytes_total{${l}} ${frames * 100}`,
    `podnet_tunnel_wire_bytes_total{${l}} ${frames * 150}`,
    `podnet_tunnel_overhead_bytes_total{${l}} ${frames * 50}`,
    '',
  ].join('\n');
}
/** A kube-proxy-like histogram: 100 observations, 90 ≤ 1 s, all ≤ 2 s. */
const proxyText = ['le="1"} 90', 'le="2"} 100', 'le="+Inf"} 100']
  .map((b) => `kubeproxy_network_programming_duration_seconds_bucket{${b}`)
  .join('\n');

async function fake(body: () => string): Promise<number> {
  const s = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(body()));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  fakes.push(s);
  return (s.address() as AddressInfo).port;
}

function request(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, page.url), { method }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Reads server-sent events until `until` accepts one. */
function nextEvent(until: (event: string, data: unknown) => boolean, timeoutMs = 15_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL('events', page.url), (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let at = buf.indexOf('\n\n'); at >= 0; at = buf.indexOf('\n\n')) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data && until(event, JSON.parse(data))) {
            clearTimeout(timer);
            req.destroy();
            resolve(JSON.parse(data));
          }
        }
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('no matching server-sent event'));
    }, timeoutMs);
    req.on('error', () => {});
  });
}

beforeAll(async () => {
  api = await startApiServerProcess();
  kube = new KubeClient({ kubeconfig: api.kubeconfigPath });
  const cniPort = await fake(cniText);
  const proxyPort = await fake(() => proxyText);
  page = await startLivePage({
    client: kube,
    port: 0,
    cniAgentMetricsPort: cniPort,
    kubeProxyMetricsPort: proxyPort,
    scrapeIntervalMs: 100,
  });
  await kube.resource('nodes').create({
    metadata: { name: 'node-a', annotations: { 'podnet.dev/transport-address': '127.0.0.1' } },
    spec: { podCIDR: '10.244.1.0/24' },
  } as never);
});
afterAll(async () => {
  await page?.close();
  for (const s of fakes) s.close();
  kube?.close();
  await api?.stop();
});

describe('live page server', () => {
  it('serves the page, and nothing but GET', async () => {
    const index = await request('GET', '/');
    expect(index.status).toBe(200);
    expect(index.body).toContain('<title>podnet cluster</title>');
    expect(index.body).not.toMatch(/<script[^>]+src=|https?:\/\/(?!127)/); // no CDN, no external script
    expect((await request('POST', '/')).status).toBe(405);
    expect((await request('DELETE', '/api/cluster')).status).toBe(405);
    expect((await request('GET', '/nope')).status).toBe(404);
  });

  it('pushes a Service endpoint change as a server-sent event', async () => {
    // The first snapshot on connect, or the push once the informer has seen the Node created in beforeAll.
    const first = (await nextEvent(
      (e, d) => e === 'cluster' && (d as { nodes: Array<{ name: string }> }).nodes.some((n) => n.name === 'node-a'),
    )) as {
      nodes: Array<{ name: string; transportAddress: string }>;
    };
    expect(first.nodes.find((n) => n.name === 'node-a')?.transportAddress).toBe('127.0.0.1');
    const changed = nextEvent(
      (e, d) =>
        e === 'cluster' &&
        (d as { services: Array<{ name: string; endpoints: unknown[] }> }).services.some(
          (s) => s.name === 'web' && s.endpoints.length === 2,
        ),
    );
    await kube.resource('services').create({
      metadata: { name: 'web', namespace: 'default' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    } as never);
    await kube.resource('endpointslices').create({
      metadata: { name: 'web-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [
        {
          addresses: ['10.244.1.5'],
          conditions: { ready: true },
          nodeName: 'node-a',
          targetRef: { kind: 'Pod', name: 'web-1', namespace: 'default' },
        },
        {
          addresses: ['10.244.1.6'],
          conditions: { ready: false },
          nodeName: 'node-a',
          targetRef: { kind: 'Pod', name: 'web-2', namespace: 'default' },
        },
      ],
      ports: [{ name: '', port: 8080, protocol: 'TCP' }],
    } as never);
    const snap = (await changed) as { services: Array<{ name: string; endpoints: Array<{ ip: string; ready: boolean; pod: string }> }> };
    expect(snap.services.find((s) => s.name === 'web')?.endpoints).toMatchObject([
      { ip: '10.244.1.5', ready: true, pod: 'web-1' },
      { ip: '10.244.1.6', ready: false, pod: 'web-2' },
    ]);
    const metrics = await request('GET', '/metrics');
    expect(metrics.body).toContain('podnet_service_endpoints{component="control-plane",namespace="default",service="web",ready="true"} 1');
    expect(metrics.body).toContain('podnet_service_endpoints{component="control-plane",namespace="default",service="web",ready="false"} 1');
  });

  it('keeps a metrics history: overhead ratio 50/100 and the programming p99 from the nodes', async () => {
    const point = (await nextEvent(
      (e, d) => e === 'point' && (d as { overheadRatio: Record<string, number> }).overheadRatio.vxlan !== undefined,
    )) as {
      overheadRatio: Record<string, number>;
      programmingP99SecondsTotal?: number;
      up: number;
      targets: number;
      wireBytesPerSecond: number;
      innerBytesPerSecond: number;
    };
    expect(point.overheadRatio.vxlan).toBe(0.5);
    expect(point.wireBytesPerSecond / point.innerBytesPerSecond).toBeCloseTo(1.5, 9);
    // rank 99 of 100 in (1, 2]: 1 + (99 - 90) / 10.
    expect(point.programmingP99SecondsTotal).toBeCloseTo(1.9, 9);
    expect(point).toMatchObject({ up: 2, targets: 2 });
    const history = JSON.parse((await request('GET', '/api/history')).body) as unknown[];
    expect(history.length).toBeGreaterThan(0);
  });
});
