// The kubelet server's authentication and its serving certificate, against the real API server
// (in process): the node-agent's CSR is signed by the cluster CA and reused while valid; the
// kubelet API answers only the API server's apiserver-kubelet-client certificate or the node
// token (401 otherwise, /healthz excepted); the kill entries keep their token check.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiServer, startApiServer } from '@podnet/apiserver';
import { KubeClient } from '@podnet/client';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { obtainServingCert } from '../../packages/node-agent/src/certs.ts';
import { KubeletServer } from '../../packages/node-agent/src/server/kubelet-server.ts';

let dir: string;
let api: ApiServer;
let kubelet: KubeletServer;
let nodeToken: string;
let killed = 0;
const host = '127.0.0.1';

const client = (token: string) => new KubeClient({ server: api.url, caPem: api.caPem, token });

function get(
  path: string,
  o: { token?: string; cert?: string; key?: string; method?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host,
        port: kubelet.port,
        path,
        method: o.method ?? 'GET',
        ca: api.caPem, // the serving certificate must verify against the cluster CA
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

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `podnet-kubelet-auth-${process.pid}-`));
  api = await startApiServer({ dataDir: join(dir, 'api'), port: 0, logLevel: 'silent' });
  nodeToken = api.tokens['node-agent'] as string;
  const tls = await obtainServingCert(join(dir, 'node', 'pki'), 'node-1', host, client(nodeToken).transport);
  const registry = new Registry();
  kubelet = new KubeletServer({
    host,
    port: 0,
    tls,
    log: pino({ level: 'silent' }),
    backend: {
      node: 'node-1',
      findPod: () => undefined,
      pods: () => [],
      killPod: () => 0,
      killNode: () => {
        killed++;
      },
      registry,
      controlTokens: [nodeToken],
    },
  });
  await kubelet.start();
});
afterAll(async () => {
  await kubelet?.close();
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('kubelet serving certificate', () => {
  it('is signed by the cluster CA for the node name and address, and reused while valid', async () => {
    const pki = join(dir, 'node', 'pki');
    const text = execFileSync('openssl', ['x509', '-in', join(pki, 'kubelet.crt'), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toContain('DNS:node-1, IP Address:127.0.0.1');
    const first = readFileSync(join(pki, 'kubelet.crt'), 'utf8');
    const again = await obtainServingCert(pki, 'node-1', host, client(nodeToken).transport);
    expect(again.certPem).toBe(first);
    // A new transport address needs a new certificate (the API server checks the dialled IP).
    const moved = await obtainServingCert(pki, 'node-1', '127.0.1.9', client(nodeToken).transport);
    expect(moved.certPem).not.toBe(first);
    expect(execFileSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName'], { input: moved.certPem, encoding: 'utf8' })).toContain(
      '127.0.1.9',
    );
  });

  it('fails the start with PODNET_ERR_NODE_CERT when the API server refuses to sign', async () => {
    const err = await obtainServingCert(join(dir, 'viewer', 'pki'), 'node-2', host, client(api.tokens.viewer as string).transport).catch(
      (e) => e,
    );
    expect(err.code).toBe('PODNET_ERR_NODE_CERT');
    expect(err.message).toContain('HTTP 403');
    expect(err.message).toContain('cannot obtain a kubelet serving certificate');
  });
});

describe('kubelet API authentication', () => {
  it('serves /healthz to anyone and 401s every other endpoint without credentials', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, body: 'ok' });
    for (const path of ['/containerLogs/default/web/web', '/metrics', '/pods', '/exec/default/web/web']) {
      const r = await get(path);
      expect(r.status, path).toBe(401);
      expect(JSON.parse(r.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
      expect(JSON.parse(r.body).message).toContain('apiserver-kubelet-client');
      expect((await get(path, { token: api.adminToken.slice(1) })).status, path).toBe(401);
    }
  });

  it("accepts the API server's apiserver-kubelet-client certificate and the node token", async () => {
    const pki = join(dir, 'api', 'pki');
    const cert = readFileSync(join(pki, 'apiserver-kubelet-client.crt'), 'utf8');
    const key = readFileSync(join(pki, 'apiserver-kubelet-client.key'), 'utf8');
    expect((await get('/pods', { cert, key })).status).toBe(200);
    const logs = await get('/containerLogs/default/web/web', { cert, key });
    expect(logs.status).toBe(404); // authenticated; this node runs no such pod
    expect((await get('/metrics', { token: nodeToken })).status).toBe(200);
  });

  it('refuses a client certificate with the right name that the cluster CA did not sign', async () => {
    const d = mkdtempSync(join(tmpdir(), `podnet-rogue-${process.pid}-`));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=apiserver-kubelet-client',
          '-keyout',
          'k.pem',
          '-out',
          'c.pem',
        ],
        { cwd: d, stdio: 'ignore' },
      );
      const r = await get('/pods', { cert: readFileSync(join(d, 'c.pem'), 'utf8'), key: readFileSync(join(d, 'k.pem'), 'utf8') });
      expect(r.status).toBe(401);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('keeps the kill entries on their node-token check (the client certificate does not open them)', async () => {
    const pki = join(dir, 'api', 'pki');
    const cert = readFileSync(join(pki, 'apiserver-kubelet-client.crt'), 'utf8');
    const key = readFileSync(join(pki, 'apiserver-kubelet-client.key'), 'utf8');
    expect((await get('/podnet/kill-node', { method: 'POST', cert, key })).status).toBe(401);
    expect(killed).toBe(0);
    const ok = await get('/podnet/kill-node', { method: 'POST', token: nodeToken });
    expect(ok.status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect(killed).toBe(1);
  });
});
