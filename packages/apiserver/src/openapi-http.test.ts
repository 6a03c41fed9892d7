import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { negotiate, OPENAPI_V2_PROTOBUF, OPENAPI_V2_PROTOBUF_DEPRECATED, parseAccept } from './openapi-http.ts';
import { decodeOpenapiV2 } from './openapi-v2.ts';
import { type ApiServer, startApiServer } from './server.ts';

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI documents are open-ended JSON
type Obj = Record<string, any>;

let dir: string;
let s: ApiServer;

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(path: string, headers: Record<string, string> = {}, token = s.adminToken): Promise<Raw> {
  const u = new URL(path, s.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        ca: s.caPem,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `podnet-openapi-${process.pid}-`));
  s = await startApiServer({ dataDir: dir, port: 0, logLevel: 'warn' });
});
afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Accept negotiation (goautoneg order)', () => {
  it('orders by q, then specificity, then position', () => {
    expect(parseAccept('text/html;q=0.5, application/*, application/json;q=0.9, */*;q=0.1').map((c) => `${c.type}/${c.subtype}`)).toEqual([
      'application/*',
      'application/json',
      'text/html',
      '*/*',
    ]);
    expect(parseAccept(undefined)).toEqual([{ type: '*', subtype: '*', q: 1 }]);
  });
  it('picks the first offer the best clause accepts; q=0 refuses', () => {
    const offers = ['application/json', OPENAPI_V2_PROTOBUF_DEPRECATED, OPENAPI_V2_PROTOBUF];
    expect(negotiate(OPENAPI_V2_PROTOBUF_DEPRECATED, offers)).toBe(OPENAPI_V2_PROTOBUF_DEPRECATED);
    expect(negotiate('application/json, */*', offers)).toBe('application/json');
    expect(negotiate('*/*', offers)).toBe('application/json');
    expect(negotiate(`application/json;q=0.5, ${OPENAPI_V2_PROTOBUF}`, offers)).toBe(OPENAPI_V2_PROTOBUF);
    expect(negotiate('application/json;q=0, text/plain', offers)).toBeUndefined();
  });
});

describe('GET /openapi/v2', () => {
  it('answers kubectl’s protobuf Accept with a gnostic Document, under the non-deprecated media type', async () => {
    const r = await get('/openapi/v2?timeout=32s', { accept: OPENAPI_V2_PROTOBUF_DEPRECATED });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe(OPENAPI_V2_PROTOBUF);
    expect(r.headers.vary).toBe('Accept');
    expect(r.headers.etag).toMatch(/^"[0-9A-F]{128}"$/);
    const doc = decodeOpenapiV2(r.body) as Obj;
    expect(doc.swagger).toBe('2.0');
    expect(doc.definitions.additional_properties.map((d: Obj) => d.name)).toContain('io.k8s.api.apps.v1.Deployment');
  });

  it('serves JSON for application/json and for no Accept at all', async () => {
    for (const headers of [{ accept: 'application/json' }, {}] as Record<string, string>[]) {
      const r = await get('/openapi/v2', headers);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      const doc = JSON.parse(r.body.toString('utf8'));
      expect(doc.definitions['io.k8s.api.core.v1.Service']['x-kubernetes-group-version-kind']).toEqual([
        { group: '', version: 'v1', kind: 'Service' },
      ]);
    }
  });

  it('revalidates: 304 for a matching If-None-Match (per representation) or If-Modified-Since, 200 otherwise', async () => {
    const pb = await get('/openapi/v2', { accept: OPENAPI_V2_PROTOBUF });
    const json = await get('/openapi/v2', { accept: 'application/json' });
    expect(pb.headers.etag).not.toBe(json.headers.etag);
    const again = await get('/openapi/v2', { accept: OPENAPI_V2_PROTOBUF, 'if-none-match': pb.headers.etag as string });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers.etag).toBe(pb.headers.etag);
    const listed = await get('/openapi/v2', { accept: OPENAPI_V2_PROTOBUF, 'if-none-match': `"stale", W/${pb.headers.etag}` });
    expect(listed.status).toBe(304);
    const crossed = await get('/openapi/v2', { accept: 'application/json', 'if-none-match': pb.headers.etag as string });
    expect(crossed.status).toBe(200);
    const since = await get('/openapi/v2', { accept: 'application/json', 'if-modified-since': json.headers['last-modified'] as string });
    expect(since.status).toBe(304);
    const old = await get('/openapi/v2', { accept: 'application/json', 'if-modified-since': 'Mon, 01 Jan 2001 00:00:00 GMT' });
    expect(old.status).toBe(200);
  });

  it('refuses an Accept it cannot serve with 406 naming what it can, and needs a token', async () => {
    const r = await get('/openapi/v2', { accept: 'text/html' });
    expect(r.status).toBe(406);
    const st = JSON.parse(r.body.toString('utf8'));
    expect(st).toMatchObject({ kind: 'Status', reason: 'NotAcceptable', code: 406 });
    expect(st.message).toContain('application/json');
    expect(st.message).toContain(OPENAPI_V2_PROTOBUF);
    expect((await get('/openapi/v2', {}, '')).status).toBe(401);
  });
});

describe('GET /openapi/v3', () => {
  it('serves a group-version with ?hash= as immutable; redirects a stale hash; 304 on If-None-Match', async () => {
    const root = await get('/openapi/v3');
    expect(root.status).toBe(200);
    expect(root.headers.etag).toMatch(/^"[0-9A-F]{128}"$/);
    const url = JSON.parse(root.body.toString('utf8')).paths['apis/apps/v1'].serverRelativeURL as string;
    const hash = new URL(url, s.url).searchParams.get('hash');
    const doc = await get(url, { accept: 'application/json' });
    expect(doc.status).toBe(200);
    expect(doc.headers.etag).toBe(`"${hash}"`);
    expect(doc.headers['cache-control']).toBe('public, immutable');
    expect(Date.parse(doc.headers.expires as string)).toBeGreaterThan(Date.now() + 300 * 24 * 3600 * 1000);
    const body = JSON.parse(doc.body.toString('utf8'));
    expect(body.components.schemas['io.k8s.api.apps.v1.Deployment']['x-kubernetes-group-version-kind']).toEqual([
      { group: 'apps', version: 'v1', kind: 'Deployment' },
    ]);
    const stale = await get('/openapi/v3/apis/apps/v1?hash=0000', { accept: 'application/json' });
    expect(stale.status).toBe(301);
    expect(stale.headers.location).toBe(url);
    const plain = await get('/openapi/v3/apis/apps/v1');
    expect(plain.status).toBe(200);
    expect(plain.headers['cache-control']).toBeUndefined();
    expect((await get('/openapi/v3/apis/apps/v1', { 'if-none-match': doc.headers.etag as string })).status).toBe(304);
    expect((await get('/openapi/v3/apis/nope/v1')).status).toBe(404);
  });
});
