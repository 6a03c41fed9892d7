// The API server towards kubelets: it signs node-agent serving certificates, verifies them when
// it proxies pods/log and pods/exec, authenticates with its apiserver-kubelet-client certificate,
// keeps a follow stream open through silence longer than the dial timeout, and refuses
// WebSocket subprotocols it does not speak.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, request } from 'node:https';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { WATCH_PROTOBUF_SUBPROTOCOL } from '@podnet/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { api } from '../../../test/apiserver/support.ts';
import { KUBELET_CERT_PATH } from './kubelet-certs.ts';
import { type ApiServer, startApiServer } from './server.ts';

let dir: string;
let s: ApiServer;
let kubeletPort: number;
const DIAL_MS = 400;
const call = (method: string, path: string, body?: unknown, token: string | undefined = s.adminToken) =>
  api(s.url, s.caPem, token, method, path, body);

function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

/** A key and CSR made with openssl, as the node-agent makes them. */
function makeCsr(): { keyPem: string; csr: string } {
  const d = mkdtempSync(join(tmpdir(), `podnet-csr-${process.pid}-`));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        '/CN=x',
        '-keyout',
        'k.pem',
        '-out',
        'r.csr',
      ],
      { cwd: d, stdio: 'ignore' },
    );
    return { keyPem: readFileSync(join(d, 'k.pem'), 'utf8'), csr: readFileSync(join(d, 'r.csr'), 'utf8') };
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

function certText(pem: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-text'], { input: pem, encoding: 'utf8' });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `podnet-kubelet-proxy-${process.pid}-`));
  kubeletPort = await freePort();
  s = await startApiServer({ dataDir: dir, port: 0, kubeletPort, kubeletDialTimeoutMs: DIAL_MS, logLevel: 'warn' });
  await call('POST', '/api/v1/nodes', { metadata: { name: 'kp-node', annotations: { 'podnet.dev/transport-address': '127.0.0.1' } } });
  await call('POST', '/api/v1/namespaces/default/pods', {
    metadata: { name: 'kp' },
    spec: { nodeName: 'kp-node', containers: [{ name: 'c', image: 'i:1' }] },
  });
});
afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A stand-in kubelet on the kubelet port with the given certificate, asking for client certs. */
async function kubelet(
  tls: { key: string; cert: string },
  handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void,
): Promise<{ close(): Promise<void> }> {
  const srv = createHttpsServer({ ...tls, ca: s.caPem, requestCert: true, rejectUnauthorized: false }, handler);
  await new Promise<void>((resolve) => srv.listen(kubeletPort, '127.0.0.1', () => resolve()));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        srv.closeAllConnections();
        srv.close(() => resolve());
      }),
  };
}

async function signedKubeletTls(): Promise<{ key: string; cert: string }> {
  const { keyPem, csr } = makeCsr();
  const r = await call('POST', KUBELET_CERT_PATH, { nodeName: 'kp-node', address: '127.0.0.1', csr }, s.tokens['node-agent']);
  expect(r.status).toBe(201);
  return { key: keyPem, cert: r.body.certificate };
}

describe('kubelet serving certificates', () => {
  it('signs a node-agent CSR for its name and address, serverAuth, chained to the cluster CA', async () => {
    const { csr } = makeCsr();
    const r = await call('POST', KUBELET_CERT_PATH, { nodeName: 'node-7', address: '127.0.1.7', csr }, s.tokens['node-agent']);
    expect(r.status).toBe(201);
    expect(r.body.ca).toBe(s.caPem);
    const text = certText(r.body.certificate);
    expect(text).toContain('DNS:node-7, IP Address:127.0.1.7');
    expect(text).toContain('TLS Web Server Authentication');
    expect(text).toContain('CN = system:node:node-7');
    expect(text).toMatch(/Issuer: CN ?= ?podnet-ca/);
  });

  it('refuses anonymous callers (401), read-only users (403) and malformed requests (400)', async () => {
    const { csr } = makeCsr();
    const body = { nodeName: 'node-7', address: '127.0.1.7', csr };
    expect((await call('POST', KUBELET_CERT_PATH, body, '')).status).toBe(401);
    const viewer = await call('POST', KUBELET_CERT_PATH, body, s.tokens.viewer);
    expect(viewer.status).toBe(403);
    expect(viewer.body.message).toContain('cannot obtain a kubelet serving certificate');
    const badAddr = await call('POST', KUBELET_CERT_PATH, { ...body, address: '127.0.1.7,DNS:evil' }, s.tokens['node-agent']);
    expect(badAddr.status).toBe(400);
    expect(badAddr.body.message).toContain('"address" must be the node\'s IPv4 transport address');
    const badCsr = await call(
      'POST',
      KUBELET_CERT_PATH,
      { ...body, csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' },
      s.tokens['node-agent'],
    );
    expect(badCsr.status).toBe(400);
    expect(badCsr.body.message).toContain('the CSR is not a valid');
  });
});

describe('pods/log and pods/exec proxy', () => {
  it('presents the apiserver-kubelet-client certificate to a kubelet it verified', async () => {
    const seen: string[] = [];
    const k = await kubelet(await signedKubeletTls(), (req, res) => {
      const sock = req.socket as TLSSocket;
      seen.push(`${sock.authorized} ${sock.getPeerCertificate().subject?.CN}`);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('line\n');
    });
    try {
      const r = await call('GET', '/api/v1/namespaces/default/pods/kp/log');
      expect(r.status).toBe(200);
      expect(r.body).toBe('line\n');
      expect(seen).toEqual(['true apiserver-kubelet-client']);
    } finally {
      await k.close();
    }
  });

  it('refuses a kubelet whose certificate does not chain to the cluster CA (logs and exec)', async () => {
    const d = mkdtempSync(join(tmpdir(), `podnet-selfsigned-${process.pid}-`));
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
        '/CN=rogue',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        'k.pem',
        '-out',
        'c.pem',
      ],
      { cwd: d, stdio: 'ignore' },
    );
    let served = 0;
    const k = await kubelet({ key: readFileSync(join(d, 'k.pem'), 'utf8'), cert: readFileSync(join(d, 'c.pem'), 'utf8') }, (_req, res) => {
      served++;
      res.end('secret');
    });
    try {
      const r = await call('GET', '/api/v1/namespaces/default/pods/kp/log');
      expect(r.status).toBe(502);
      expect(r.body.message).toMatch(/self[- ]signed certificate/);
      const ws = new WebSocket(
        `${s.url.replace('https', 'wss')}/api/v1/namespaces/default/pods/kp/exec?command=sh&stdout=true`,
        ['v5.channel.k8s.io'],
        {
          ca: s.caPem,
          headers: { authorization: `Bearer ${s.adminToken}` },
        },
      );
      const code = await new Promise<number>((resolve) => ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0)));
      expect(code).toBe(502);
      expect(served).toBe(0);
    } finally {
      await k.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('keeps a follow stream open through silence longer than the dial timeout', async () => {
    let finish: (() => void) | undefined;
    const k = await kubelet(await signedKubeletTls(), (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first\n');
      finish = () => res.end('second\n');
    });
    try {
      const chunks: string[] = [];
      let ended = false;
      const done = new Promise<void>((resolve, reject) => {
        const req = request(
          new URL('/api/v1/namespaces/default/pods/kp/log?follow=true', s.url),
          { ca: s.caPem, headers: { authorization: `Bearer ${s.adminToken}` } },
          (res) => {
            expect(res.statusCode).toBe(200);
            res.on('data', (d: Buffer) => chunks.push(d.toString()));
            res.on('end', () => {
              ended = true;
              resolve();
            });
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end();
      });
      const until = Date.now() + 10_000;
      while (!chunks.join('').includes('first') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      // Silent for four dial timeouts: the proxy must not cut the stream.
      await new Promise((r) => setTimeout(r, DIAL_MS * 4));
      expect(ended).toBe(false);
      finish?.();
      await done;
      expect(chunks.join('')).toBe('first\nsecond\n');
    } finally {
      await k.close();
    }
  });

  it('still gives up dialing a kubelet that never completes the TLS handshake', async () => {
    const held: Socket[] = [];
    const black: Server = createServer((c) => held.push(c));
    await new Promise<void>((resolve) => black.listen(kubeletPort, '127.0.0.1', () => resolve()));
    try {
      const r = await call('GET', '/api/v1/namespaces/default/pods/kp/log?follow=true');
      expect(r.status).toBe(502);
      expect(r.body.message).toContain(`timed out after ${DIAL_MS} ms`);
    } finally {
      for (const c of held) c.destroy();
      await new Promise((resolve) => black.close(resolve));
    }
  });
});

describe('WebSocket subprotocols', () => {
  const refusal = (path: string, protocols: string[]) =>
    new Promise<{ code: number; body: string }>((resolve) => {
      const ws = new WebSocket(`${s.url.replace('https', 'wss')}${path}`, protocols, {
        ca: s.caPem,
        headers: { authorization: `Bearer ${s.adminToken}` },
      });
      ws.on('open', () => {
        ws.close();
        resolve({ code: 101, body: ws.protocol });
      });
      ws.on('unexpected-response', (_q, res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
        });
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      });
    });

  it('refuses a watch offering only unknown subprotocols with a 400 Status naming them', async () => {
    const r = await refusal('/api/v1/pods?watch=true', ['v1.podnet.json', 'chat']);
    expect(r.code).toBe(400);
    const st = JSON.parse(r.body);
    expect(st).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
    expect(st.message).toContain('the unsupported subprotocol(s) v1.podnet.json, chat');
    expect(st.message).toContain(WATCH_PROTOBUF_SUBPROTOCOL);
  });

  it('accepts the protobuf subprotocol, no subprotocol, and a bearer-token carrier beside them', async () => {
    expect(await refusal('/api/v1/pods?watch=true', [WATCH_PROTOBUF_SUBPROTOCOL, 'chat'])).toEqual({
      code: 101,
      body: WATCH_PROTOBUF_SUBPROTOCOL,
    });
    expect(await refusal('/api/v1/pods?watch=true', [])).toEqual({ code: 101, body: '' });
    // The token carrier authenticates (no Authorization header) and is never the one selected.
    const bearer = `base64url.bearer.authorization.k8s.io.${Buffer.from(s.adminToken).toString('base64url')}`;
    const ws = new WebSocket(`${s.url.replace('https', 'wss')}/api/v1/pods?watch=true`, [bearer, WATCH_PROTOBUF_SUBPROTOCOL], {
      ca: s.caPem,
    });
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve());
      ws.on('error', reject);
    });
    expect(ws.protocol).toBe(WATCH_PROTOBUF_SUBPROTOCOL);
    ws.close();
  });

  it('refuses exec without a channel subprotocol before dialing the kubelet', async () => {
    const r = await refusal('/api/v1/namespaces/default/pods/kp/exec?command=sh&stdout=true', ['chat']);
    expect(r.code).toBe(400);
    expect(JSON.parse(r.body).message).toContain('pods/exec needs one of the channel subprotocols v5.channel.k8s.io');
  });
});
