// The kubelet API with delegated authn/authz against the real API server (in process, real HTTPS
// both ways): the read-only `viewer` token, which the node does not know, scrapes /metrics (200:
// TokenReview says viewer, SubjectAccessReview allows get nodes/metrics) and is refused /exec and
// /containerLogs (403, the kubelet's Forbidden text: they are nodes/proxy); admin passes; unknown
// tokens get 401; the node's token and the API server's client certificate skip the reviews; with
// the API server unreachable the kubelet fails closed with 503 and keeps serving.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiServer, startApiServer } from '@podnet/apiserver';
import { KubeClient } from '@podnet/client';
import pino from 'pino';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { obtainServingCert } from '../certs.ts';
import { WebhookAuth } from './kubelet-auth.ts';
import { KubeletServer } from './kubelet-server.ts';

let dir: string;
let api: ApiServer;
let kubelet: KubeletServer;
let webhook: WebhookAuth;
let orphan: KubeletServer;
let nodeToken: string;
const host = '127.0.0.1';

const client = (token: string, server = api.url) => new KubeClient({ server, caPem: api.caPem, token, maxAttempts: 1 });

function get(
  port: number,
  path: string,
  o: { token?: string; cert?: string; key?: string; method?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host,
        port,
        path,
        method: o.method ?? 'GET',
        ca: api.caPem,
        cert: o.cert,
        key: o.key,
        headers: o.token ? { Authorization: `Bearer ${o.token}` } : {},
      },
      (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A WebSocket exec upgrade; resolves the refusal's status and body (or 101). */
function execUpgrade(port: number, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://${host}:${port}/exec/default/web/web?command=sh&stdout=1`, ['v5.channel.k8s.io'], {
      ca: api.caPem,
      headers: { Authorization: `Bearer ${token}` },
    });
    ws.on('unexpected-response', (_req, res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    ws.on('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.on('error', (e) => {
      if (!String(e.message).startsWith('Unexpected server response')) reject(e);
    });
  });
}

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, host, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function backend(registry: Registry) {
  return {
    node: 'node-1',
    findPod: () => undefined,
    pods: () => [],
    killPod: () => 0,
    killNode: () => undefined,
    registry,
    controlTokens: [nodeToken],
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `podnet-kubelet-webhook-${process.pid}-`));
  api = await startApiServer({ dataDir: join(dir, 'api'), port: 0, logLevel: 'silent' });
  nodeToken = api.tokens['node-agent'] as string;
  const nodeClient = client(nodeToken);
  const tls = await obtainServingCert(join(dir, 'node', 'pki'), 'node-1', host, nodeClient.transport);
  const registry = new Registry();
  new Counter({ name: 'podnet_test_scrapes_total', help: 'a sample for the scrape', registers: [registry] }).inc();
  webhook = new WebhookAuth({ post: (path, body, signal) => nodeClient.transport.json({ method: 'POST', path, body, signal }) });
  kubelet = new KubeletServer({ host, port: 0, tls, log: pino({ level: 'silent' }), backend: backend(registry), webhook });
  await kubelet.start();
  // A second kubelet whose API server is gone (a port nothing listens on).
  const gone = client(nodeToken, `https://${host}:${await closedPort()}`);
  orphan = new KubeletServer({
    host,
    port: 0,
    tls,
    log: pino({ level: 'silent' }),
    backend: backend(registry),
    webhook: new WebhookAuth({
      post: (path, body, signal) => gone.transport.json({ method: 'POST', path, body, signal }),
      timeoutMs: 5000,
    }),
  });
  await orphan.start();
});
afterAll(async () => {
  await kubelet?.close();
  await orphan?.close();
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('kubelet API with TokenReview and SubjectAccessReview', () => {
  it('lets viewer scrape /metrics (get nodes/metrics) and refuses it nodes/proxy with 403', async () => {
    const viewer = api.tokens.viewer as string;
    const m = await get(kubelet.port, '/metrics', { token: viewer });
    expect(m.status).toBe(200);
    expect(m.body).toContain('podnet_test_scrapes_total 1');
    for (const [method, path, verb] of [
      ['GET', '/containerLogs/default/web/web', 'get'],
      ['POST', '/exec/default/web/web?command=sh', 'create'],
      ['GET', '/pods', 'get'],
    ] as const) {
      const r = await get(kubelet.port, path, { token: viewer, method });
      expect(r.status, path).toBe(403);
      expect(JSON.parse(r.body), path).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `Forbidden (user=viewer, verb=${verb}, resource=nodes, subresource=proxy)`,
        reason: 'Forbidden',
        code: 403,
      });
    }
    const ws = await execUpgrade(kubelet.port, viewer);
    expect(ws.status).toBe(403);
    expect(JSON.parse(ws.body)).toMatchObject({
      reason: 'Forbidden',
      message: 'Forbidden (user=viewer, verb=get, resource=nodes, subresource=proxy)',
    });
  });

  it('lets admin through the reviews to nodes/proxy, and 401s tokens the API server does not know', async () => {
    expect((await get(kubelet.port, '/pods', { token: api.adminToken })).status).toBe(200);
    expect((await get(kubelet.port, '/containerLogs/default/web/web', { token: api.adminToken })).status).toBe(404);
    expect((await execUpgrade(kubelet.port, api.adminToken)).status).toBe(404); // allowed; no such pod here
    const bad = await get(kubelet.port, '/metrics', { token: `${api.adminToken}x` });
    expect(bad.status).toBe(401);
    expect(JSON.parse(bad.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect((await execUpgrade(kubelet.port, 'nope')).status).toBe(401);
  });

  it('reviews each token once and each decision once while cached', async () => {
    const before = { ...webhook.reviews };
    for (let i = 0; i < 5; i++) expect((await get(kubelet.port, '/metrics', { token: api.tokens.viewer })).status).toBe(200);
    expect(webhook.reviews).toEqual(before);
  });

  it("keeps the node's own token and the API server's client certificate working without reviews", async () => {
    const before = { ...webhook.reviews };
    expect((await get(kubelet.port, '/pods', { token: nodeToken })).status).toBe(200);
    const pki = join(dir, 'api', 'pki');
    const cert = readFileSync(join(pki, 'apiserver-kubelet-client.crt'), 'utf8');
    const key = readFileSync(join(pki, 'apiserver-kubelet-client.key'), 'utf8');
    expect((await get(kubelet.port, '/pods', { cert, key })).status).toBe(200);
    expect(webhook.reviews).toEqual(before);
    // The kill entries stay on the node token alone (a reviewed admin token does not open them).
    expect((await get(kubelet.port, '/podnet/kill/default/web', { method: 'POST', token: api.adminToken })).status).toBe(401);
  });

  it('fails closed with 503 when the API server is unreachable, and keeps serving', async () => {
    const r = await get(orphan.port, '/metrics', { token: api.tokens.viewer });
    expect(r.status).toBe(503);
    const body = JSON.parse(r.body);
    expect(body).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
    expect(body.message).toContain('PODNET_ERR_KUBELET_AUTH_UNAVAILABLE: cannot check the bearer token with the API server');
    expect(body.message).toContain('cannot reach the API server');
    expect((await execUpgrade(orphan.port, api.tokens.viewer as string)).status).toBe(503);
    expect((await get(orphan.port, '/metrics', { token: nodeToken })).status).toBe(200);
    expect((await get(orphan.port, '/healthz')).status).toBe(200);
  });
});
