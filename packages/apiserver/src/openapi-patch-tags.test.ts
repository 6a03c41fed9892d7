// The merge keys and patch strategies the server's strategic merge patch applies (@podnet/api
// patch.ts) are exactly the ones /openapi/v2 and /openapi/v3 publish, field by field, over HTTP:
// kubectl computes its patches from the published ones, the server applies them with its own.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { patchTaggedFields, patchTagOf, strategicListMergeOf } from '@podnet/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closure, definitionName, servedTypes } from './openapi-schema.ts';
import { type ApiServer, startApiServer } from './server.ts';

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI documents are open-ended JSON
type Obj = Record<string, any>;

let dir: string;
let s: ApiServer;

function getJson(path: string): Promise<Obj> {
  const u = new URL(path, s.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        ca: s.caPem,
        headers: { authorization: `Bearer ${s.adminToken}`, accept: 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`GET ${path}: ${res.statusCode}`));
          else resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `podnet-openapi-tags-${process.pid}-`));
  s = await startApiServer({ dataDir: dir, port: 0, logLevel: 'warn' });
});
afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One published property's patch metadata. */
interface Published {
  doc: string;
  type: string;
  field: string;
  strategy: string | undefined;
  mergeKey: string | undefined;
}

/** Every property of every served schema, with the table type its definition names. */
function publishedProperties(doc: string, schemas: Record<string, Obj>): Published[] {
  const typeOf = new Map(closure(servedTypes()).map((t) => [definitionName(t), t]));
  const out: Published[] = [];
  for (const [name, schema] of Object.entries(schemas)) {
    const type = typeOf.get(name);
    if (type === undefined) throw new Error(`${doc} serves ${name}, which is no table type`);
    for (const [field, p] of Object.entries((schema.properties ?? {}) as Record<string, Obj>)) {
      out.push({ doc, type, field, strategy: p['x-kubernetes-patch-strategy'], mergeKey: p['x-kubernetes-patch-merge-key'] });
    }
  }
  return out;
}

async function everyPublishedDocument(): Promise<Published[]> {
  const v2 = await getJson('/openapi/v2');
  const all = publishedProperties('/openapi/v2', v2.definitions);
  const root = await getJson('/openapi/v3');
  for (const [gv, entry] of Object.entries(root.paths as Record<string, { serverRelativeURL: string }>)) {
    const doc = await getJson(entry.serverRelativeURL);
    all.push(...publishedProperties(`/openapi/v3/${gv}`, doc.components.schemas));
  }
  return all;
}

describe('strategic merge metadata: the server applies what /openapi/v2 and /openapi/v3 publish', () => {
  it('merges a list by the published key exactly where a merge strategy is published, and nowhere else', async () => {
    const published = await everyPublishedDocument();
    expect(new Set(published.map((p) => p.doc)).size).toBe(6);
    let merged = 0;
    for (const p of published) {
      const where = `${p.doc} ${p.type}.${p.field}`;
      const applied = strategicListMergeOf(p.type, p.field);
      if (p.strategy?.split(',').includes('merge')) {
        expect(applied?.key, where).toBe(p.mergeKey ?? '');
        merged++;
      } else {
        expect(applied, where).toBeUndefined();
        expect(p.mergeKey, where).toBeUndefined();
      }
      const tag = patchTagOf(p.type, p.field);
      expect(p.strategy, where).toBe(tag?.strategy);
      expect(p.mergeKey, where).toBe(tag?.mergeKey);
    }
    expect(merged).toBeGreaterThan(30);
  });

  it('publishes every tag the patch code has, in v2 and in the v3 document of each group that reaches it', async () => {
    const published = await everyPublishedDocument();
    const v2 = new Map(published.filter((p) => p.doc === '/openapi/v2').map((p) => [`${p.type}.${p.field}`, p]));
    const v3 = published.filter((p) => p.doc.startsWith('/openapi/v3/'));
    for (const { type, field, tag } of patchTaggedFields()) {
      const key = `${type}.${field}`;
      expect(v2.get(key), `/openapi/v2 ${key}`).toMatchObject({ strategy: tag.strategy, mergeKey: tag.mergeKey });
      const inV3 = v3.filter((p) => p.type === type && p.field === field);
      expect(inV3.length, `/openapi/v3 ${key}`).toBeGreaterThan(0);
      for (const p of inV3) expect(p, `${p.doc} ${key}`).toMatchObject({ strategy: tag.strategy, mergeKey: tag.mergeKey });
    }
    // The keys the issue found missing from the patch code's old separate table.
    for (const [key, mergeKey] of [
      ['core.v1.PodSpec.topologySpreadConstraints', 'topologyKey'],
      ['core.v1.PodSpec.resourceClaims', 'name'],
      ['core.v1.PodSpec.schedulingGates', 'name'],
      ['core.v1.PodStatus.podIPs', 'ip'],
      ['core.v1.PodStatus.hostIPs', 'ip'],
      ['core.v1.NodeSpec.podCIDRs', undefined],
      ['core.v1.NamespaceStatus.conditions', 'type'],
      ['core.v1.ServiceStatus.conditions', 'type'],
    ] as const) {
      expect(v2.get(key), key).toMatchObject({ mergeKey });
      expect(v2.get(key)?.strategy, key).toMatch(/^merge/);
    }
    expect(v2.get('apps.v1.DeploymentSpec.strategy')).toMatchObject({ strategy: 'retainKeys', mergeKey: undefined });
  });
});
