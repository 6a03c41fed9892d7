// The API server in process (startApiServer), over real HTTPS and WebSocket connections.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWatchEvent, WATCH_PROTOBUF_SUBPROTOCOL } from '@podnet/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { api, waitFor } from '../../../test/apiserver/support.ts';
import { type ApiServer, startApiServer } from './server.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
type Obj = Record<string, any>;

let dir: string;
let s: ApiServer;
const call = (method: string, path: string, body?: unknown, ct?: string, token: string | undefined = s.adminToken) =>
  api(s.url, s.caPem, token, method, path, body, ct);
const pod = (name: string, extra: Obj = {}) => ({
  metadata: { name, labels: { app: 'web', ...(extra.labels ?? {}) } },
  spec: { containers: [{ name: 'c', image: 'i:1' }], ...(extra.spec ?? {}) },
});

let kubeletPort: number;

function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `podnet-apiserver-${process.pid}-`));
  kubeletPort = await freePort();
  s = await startApiServer({
    dataDir: dir,
    port: 0,
    kubeletPort,
    logLevel: 'warn',
    bookmarkIntervalMs: 200,
    rateLimit: { perSecond: 1000, burst: 2000 },
    bodyLimitBytes: 256 * 1024,
    watchCacheSize: 500,
  });
});
afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

function wsWatch(path: string, protocol?: string): { ws: WebSocket; events: Obj[]; opened: Promise<void> } {
  const events: Obj[] = [];
  const ws = new WebSocket(`${s.url.replace('https', 'wss')}${path}`, protocol ? [protocol] : [], {
    ca: s.caPem,
    headers: { authorization: `Bearer ${s.adminToken}` },
  });
  ws.on('message', (data, isBinary) => {
    if (isBinary) events.push({ binary: true, ...decodeWatchEvent(new Uint8Array(data as Buffer)) });
    else events.push({ binary: false, text: String(data), ...JSON.parse(String(data)) });
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.on('open', () => resolve());
    ws.on('error', reject);
  });
  return { ws, events, opened };
}

describe('security, limits and bad input', () => {
  it('needs a token except on /version and the health paths; 401 and 403 are Status objects', async () => {
    expect((await call('GET', '/version', undefined, undefined, '')).body.minor).toBe('32');
    expect((await call('GET', '/healthz', undefined, undefined, '')).status).toBe(200);
    const anon = await call('GET', '/api/v1/pods', undefined, undefined, '');
    expect(anon.status).toBe(401);
    expect(anon.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect((await call('GET', '/api/v1/pods', undefined, undefined, 'wrong')).status).toBe(401);
    const viewer = s.tokens.viewer as string;
    expect((await call('GET', '/api/v1/namespaces/default/pods', undefined, undefined, viewer)).status).toBe(200);
    const denied = await call('POST', '/api/v1/namespaces/default/pods', pod('v'), undefined, viewer);
    expect(denied.status).toBe(403);
    expect(denied.body.message).toBe(
      'pods is forbidden: User "viewer" cannot create resource "pods" in API group "" in the namespace "default"',
    );
  });

  it('rejects malformed JSON and YAML with 400 and changes nothing; accepts YAML bodies', async () => {
    const rv = (await call('GET', '/api/v1/namespaces/default/pods')).body.metadata.resourceVersion;
    const bad = await call('POST', '/api/v1/namespaces/default/pods', '{"metadata": {"name": "x"', 'application/json');
    expect(bad.status).toBe(400);
    expect(bad.body.reason).toBe('BadRequest');
    expect(bad.body.message).toMatch(/not valid JSON/);
    const badYaml = await call('POST', '/api/v1/namespaces/default/pods', 'metadata: {name: [x', 'application/yaml');
    expect(badYaml.status).toBe(400);
    expect(badYaml.body.message).toMatch(/not valid YAML/);
    expect((await call('GET', '/api/v1/namespaces/default/pods')).body.metadata.resourceVersion).toBe(rv);
    const yaml = await call(
      'POST',
      '/api/v1/namespaces/default/pods',
      'metadata:\n  name: from-yaml\nspec:\n  containers:\n  - name: c\n    image: i:1\n',
      'application/yaml',
    );
    expect(yaml.status).toBe(201);
  });

  it('answers 413 for an oversized body and 429 with Retry-After when over the rate', async () => {
    const big = await call('POST', '/api/v1/namespaces/default/pods', {
      metadata: { name: 'big', annotations: { a: 'x'.repeat(300 * 1024) } },
    });
    expect(big.status).toBe(413);
    expect(big.body.reason).toBe('RequestEntityTooLarge');
    const d2 = mkdtempSync(join(tmpdir(), `podnet-apiserver-rl-${process.pid}-`));
    const limited = await startApiServer({ dataDir: d2, port: 0, logLevel: 'warn', rateLimit: { perSecond: 1, burst: 3 } });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 6; i++)
        codes.push((await api(limited.url, limited.caPem, limited.adminToken, 'GET', '/api/v1/namespaces')).status);
      expect(codes.slice(0, 3)).toEqual([200, 200, 200]);
      expect(codes).toContain(429);
      const r = await api(limited.url, limited.caPem, limited.adminToken, 'GET', '/api/v1/namespaces');
      expect(r.headers['retry-after']).toBe('1');
      expect(r.body.reason).toBe('TooManyRequests');
    } finally {
      await limited.close();
      rmSync(d2, { recursive: true, force: true });
    }
  });

  it('honours fieldValidation Strict (400), Warn (Warning header) and Ignore', async () => {
    const body = { ...pod('fv'), extra: 1 };
    const strict = await call('POST', '/api/v1/namespaces/default/pods?fieldValidation=Strict', body);
    expect(strict.status).toBe(400);
    expect(strict.body.message).toBe('Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "extra"');
    const warn = await call('POST', '/api/v1/namespaces/default/pods?fieldValidation=Warn', body);
    expect(warn.status).toBe(201);
    expect(warn.headers.warning).toBe('299 - "unknown field \\"extra\\""');
    expect(warn.body.extra).toBeUndefined();
  });
});

describe('REST semantics', () => {
  it('creates with generateName, 409s a duplicate, and 409s an update with a stale resourceVersion', async () => {
    const g = await call('POST', '/api/v1/namespaces/default/pods', {
      metadata: { generateName: 'gen-' },
      spec: { containers: [{ name: 'c', image: 'i' }] },
    });
    expect(g.status).toBe(201);
    expect(g.body.metadata.name).toMatch(/^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect((await call('POST', '/api/v1/namespaces/default/pods', pod('dup'))).status).toBe(201);
    const dup = await call('POST', '/api/v1/namespaces/default/pods', pod('dup'));
    expect(dup.body).toMatchObject({ code: 409, reason: 'AlreadyExists', message: 'pods "dup" already exists' });
    const cur = (await call('GET', '/api/v1/namespaces/default/pods/dup')).body;
    const ok = await call('PUT', '/api/v1/namespaces/default/pods/dup', { ...cur, metadata: { ...cur.metadata, labels: { x: '1' } } });
    expect(ok.status).toBe(200);
    const stale = await call('PUT', '/api/v1/namespaces/default/pods/dup', { ...cur, metadata: { ...cur.metadata, labels: { x: '2' } } });
    expect(stale.body).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(stale.body.message).toContain('the object has been modified');
    expect((await call('POST', '/api/v1/namespaces/nope/pods', pod('x'))).body).toMatchObject({
      code: 404,
      message: 'namespaces "nope" not found',
    });
  });

  it('lists with label and field selectors, limit and continue', async () => {
    for (const n of ['sel-a', 'sel-b', 'sel-c'])
      await call(
        'POST',
        '/api/v1/namespaces/default/pods',
        pod(n, { labels: { tier: n === 'sel-c' ? 'back' : 'front' }, spec: { nodeName: n === 'sel-a' ? 'node-9' : undefined } }),
      );
    const names = async (q: string) =>
      ((await call('GET', `/api/v1/namespaces/default/pods?${q}`)).body.items as Obj[]).map((o) => o.metadata.name);
    expect(await names('labelSelector=tier%20in%20(front)')).toEqual(['sel-a', 'sel-b']);
    expect(await names('labelSelector=tier!=front,tier')).toEqual(['sel-c']);
    expect(await names('fieldSelector=spec.nodeName%3Dnode-9')).toEqual(['sel-a']);
    expect(await names('fieldSelector=metadata.name%3Dsel-b')).toEqual(['sel-b']);
    const bad = await call('GET', '/api/v1/namespaces/default/pods?fieldSelector=spec.foo%3D1');
    expect(bad.status).toBe(400);
    const page1 = (await call('GET', '/api/v1/namespaces/default/pods?labelSelector=tier&limit=2')).body;
    expect(page1.items).toHaveLength(2);
    expect(page1.metadata.remainingItemCount).toBe(1);
    const page2 = (await call('GET', `/api/v1/namespaces/default/pods?labelSelector=tier&limit=2&continue=${page1.metadata.continue}`))
      .body;
    expect(page2.items.map((o: Obj) => o.metadata.name)).toEqual(['sel-c']);
    expect(page2.metadata.continue).toBeUndefined();
  });

  it('serves Tables, aggregated discovery and the minimal OpenAPI v3', async () => {
    const u = new URL('/api/v1/namespaces/default/services', s.url);
    const res = await fetchWithCa(u, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    expect(res.kind).toBe('Table');
    expect(res.columnDefinitions.map((c: Obj) => `${c.name}:${c.priority}`)).toEqual([
      'Name:0',
      'Type:0',
      'Cluster-IP:0',
      'External-IP:0',
      'Port(s):0',
      'Age:0',
      'Selector:1',
    ]);
    expect(res.rows[0].cells.slice(0, 5)).toEqual(['kubernetes', 'ClusterIP', '10.96.0.1', '<none>', '443/TCP']);
    const agg = await fetchWithCa(new URL('/apis', s.url), {
      accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json',
    });
    expect(agg.kind).toBe('APIGroupDiscoveryList');
    const apps = agg.items.find((i: Obj) => i.metadata.name === 'apps');
    const deploy = apps.versions[0].resources.find((r: Obj) => r.resource === 'deployments');
    expect(deploy.shortNames).toEqual(['deploy']);
    expect(deploy.subresources.map((x: Obj) => x.subresource)).toEqual(['status', 'scale']);
    const root = (await call('GET', '/openapi/v3')).body;
    expect(Object.keys(root.paths)).toContain('apis/apps/v1');
    const doc = (await call('GET', `/${root.paths['apis/apps/v1'].serverRelativeURL.slice(1)}`)).body;
    const patch = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'].patch;
    expect(patch['x-kubernetes-group-version-kind']).toEqual({ group: 'apps', version: 'v1', kind: 'Deployment' });
    expect(patch.parameters.map((p: Obj) => p.name)).toContain('fieldValidation');
  });

  it('allocates ClusterIPs and NodePorts without doubles (concurrent creates), honours requests, 422s clashes, frees on delete', async () => {
    const svc = (name: string, spec: Obj = {}) => ({
      metadata: { name },
      spec: { type: 'NodePort', selector: { app: name }, ports: [{ port: 80 }], ...spec },
    });
    const made = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call('POST', '/api/v1/namespaces/default/services', svc(`par-${i}`))),
    );
    expect(made.every((r) => r.status === 201)).toBe(true);
    const ips = made.map((r) => r.body.spec.clusterIP);
    const ports = made.map((r) => r.body.spec.ports[0].nodePort);
    expect(new Set(ips).size).toBe(20);
    expect(new Set(ports).size).toBe(20);
    expect(made[0]?.body.spec.ports[0]).toMatchObject({ protocol: 'TCP', targetPort: 80 });
    const want = await call(
      'POST',
      '/api/v1/namespaces/default/services',
      svc('want', { clusterIP: '10.96.0.10', ports: [{ port: 53, nodePort: 31053 }] }),
    );
    expect(want.body.spec.clusterIP).toBe('10.96.0.10');
    const clash = await call('POST', '/api/v1/namespaces/default/services', svc('clash', { clusterIP: '10.96.0.10' }));
    expect(clash.status).toBe(422);
    expect(clash.body.details.causes[0]).toMatchObject({ field: 'spec.clusterIPs', reason: 'FieldValueInvalid' });
    const range = await call('POST', '/api/v1/namespaces/default/services', svc('range', { ports: [{ port: 1, nodePort: 80 }] }));
    expect(range.status).toBe(422);
    expect(range.body.message).toContain('provided port is not in the valid range');
    expect((await call('DELETE', '/api/v1/namespaces/default/services/want')).status).toBe(200);
    const again = await call(
      'POST',
      '/api/v1/namespaces/default/services',
      svc('again', { clusterIP: '10.96.0.10', ports: [{ port: 53, nodePort: 31053 }] }),
    );
    expect(again.status).toBe(201);
    // A PUT that leaves out the allocated values keeps them (kubectl replace -f manifest).
    const cur = (await call('GET', '/api/v1/namespaces/default/services/again')).body;
    const put = await call('PUT', '/api/v1/namespaces/default/services/again', {
      metadata: { name: 'again' },
      spec: { type: 'NodePort', selector: { app: 'x' }, ports: [{ port: 53 }] },
    });
    expect(put.status).toBe(200);
    expect(put.body.spec.clusterIP).toBe(cur.spec.clusterIP);
    expect(put.body.spec.ports[0].nodePort).toBe(31053);
    const immut = await call(
      'PATCH',
      '/api/v1/namespaces/default/services/again',
      { spec: { clusterIP: '10.96.0.11' } },
      'application/merge-patch+json',
    );
    expect(immut.status).toBe(422);
  });

  it('patches with all three kinds and applies server-side as an upsert', async () => {
    await call('POST', '/api/v1/namespaces/default/pods', pod('patchme'));
    const j = await call(
      'PATCH',
      '/api/v1/namespaces/default/pods/patchme',
      [{ op: 'add', path: '/metadata/labels/j', value: '1' }],
      'application/json-patch+json',
    );
    expect(j.body.metadata.labels).toEqual({ app: 'web', j: '1' });
    const m = await call(
      'PATCH',
      '/api/v1/namespaces/default/pods/patchme',
      { metadata: { labels: { app: null } } },
      'application/merge-patch+json',
    );
    expect(m.body.metadata.labels).toEqual({ j: '1' });
    const sm = await call(
      'PATCH',
      '/api/v1/namespaces/default/pods/patchme',
      { spec: { containers: [{ name: 'c', image: 'i:2' }] } },
      'application/strategic-merge-patch+json',
    );
    expect(sm.body.spec.containers[0]).toMatchObject({ name: 'c', image: 'i:2', terminationMessagePath: '/dev/termination-log' });
    const bad = await call(
      'PATCH',
      '/api/v1/namespaces/default/pods/patchme',
      { spec: { containers: [{ name: 'c', args: ['x'] }] } },
      'application/strategic-merge-patch+json',
    );
    expect(bad.status).toBe(422);
    expect(bad.body.message).toContain('pod updates may not change fields');
    const ssa = await call(
      'PATCH',
      '/api/v1/namespaces/default/pods/ssa?fieldManager=kubectl',
      JSON.stringify(pod('ssa')),
      'application/apply-patch+yaml',
    );
    expect(ssa.status).toBe(201);
    const bogus = await call('PATCH', '/api/v1/namespaces/default/pods/patchme', { a: 1 }, 'application/json');
    expect(bogus.status).toBe(415);
  });

  it('honours finalizers, Orphan and Foreground propagation, deletecollection, and namespace deletion', async () => {
    await call('POST', '/api/v1/namespaces', { metadata: { name: 'gc' } });
    const ns = (await call('GET', '/api/v1/namespaces/gc')).body;
    expect(ns.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': 'gc' });
    const fin = await call('POST', '/api/v1/namespaces/gc/pods', {
      ...pod('fin'),
      metadata: { name: 'fin', finalizers: ['example.com/hold'] },
    });
    expect(fin.status).toBe(201);
    const d = await call('DELETE', '/api/v1/namespaces/gc/pods/fin');
    expect(d.body.metadata.deletionTimestamp).toBeDefined();
    expect((await call('GET', '/api/v1/namespaces/gc/pods/fin')).status).toBe(200);
    await call('PATCH', '/api/v1/namespaces/gc/pods/fin', { metadata: { finalizers: null } }, 'application/merge-patch+json');
    expect((await call('GET', '/api/v1/namespaces/gc/pods/fin')).status).toBe(404);

    const owner = (
      await call('POST', '/apis/apps/v1/namespaces/gc/replicasets', {
        metadata: { name: 'rs' },
        spec: {
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
        },
      })
    ).body;
    const ref = [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true },
    ];
    await call('POST', '/api/v1/namespaces/gc/pods', { ...pod('child'), metadata: { name: 'child', ownerReferences: ref } });
    await call('DELETE', '/apis/apps/v1/namespaces/gc/replicasets/rs', { propagationPolicy: 'Orphan' });
    const orphan = (await call('GET', '/api/v1/namespaces/gc/pods/child')).body;
    expect(orphan.metadata.ownerReferences).toBeUndefined();

    const owner2 = (
      await call('POST', '/apis/apps/v1/namespaces/gc/replicasets', {
        metadata: { name: 'rs2' },
        spec: {
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
        },
      })
    ).body;
    await call('POST', '/api/v1/namespaces/gc/pods', {
      ...pod('child2'),
      metadata: { name: 'child2', ownerReferences: [{ ...ref[0], name: 'rs2', uid: owner2.metadata.uid }] },
    });
    const fg = await call('DELETE', '/apis/apps/v1/namespaces/gc/replicasets/rs2?propagationPolicy=Foreground');
    expect(fg.body.metadata.finalizers).toContain('foregroundDeletion');
    await waitFor('foreground deletion to finish', async () =>
      (await call('GET', '/apis/apps/v1/namespaces/gc/replicasets/rs2')).status === 404 ? true : undefined,
    );
    expect((await call('GET', '/api/v1/namespaces/gc/pods/child2')).status).toBe(404);

    await call('POST', '/api/v1/namespaces/gc/pods', pod('dc1', { labels: { batch: 'x' } }));
    await call('POST', '/api/v1/namespaces/gc/pods', pod('dc2', { labels: { batch: 'x' } }));
    const dc = await call('DELETE', '/api/v1/namespaces/gc/pods?labelSelector=batch%3Dx');
    expect(dc.body.items.map((o: Obj) => o.metadata.name)).toEqual(['dc1', 'dc2']);

    // A pod bound to a node holds the namespace in Terminating until its kubelet confirms.
    await call('POST', '/api/v1/namespaces/gc/pods', pod('held', { spec: { nodeName: 'node-x' } }));
    const immortal = await call('DELETE', '/api/v1/namespaces/kube-system');
    expect(immortal.body).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      message: 'namespaces "kube-system" is forbidden: this namespace may not be deleted',
    });
    const nsDel = await call('DELETE', '/api/v1/namespaces/gc');
    expect(nsDel.body.status.phase).toBe('Terminating');
    const late = await call('POST', '/api/v1/namespaces/gc/pods', pod('late'));
    expect(late.status).toBe(403);
    expect(late.body.message).toBe('pods "late" is forbidden: unable to create new content in namespace gc because it is being terminated');
    await waitFor('the held pod to be marked', async () =>
      (await call('GET', '/api/v1/namespaces/gc/pods/held')).body.metadata?.deletionTimestamp ? true : undefined,
    );
    expect((await call('GET', '/api/v1/namespaces/gc')).status).toBe(200);
    expect((await call('DELETE', '/api/v1/namespaces/gc/pods/held', { gracePeriodSeconds: 0 })).status).toBe(200);
    await waitFor('the namespace to go', async () => ((await call('GET', '/api/v1/namespaces/gc')).status === 404 ? true : undefined));
    expect((await call('GET', '/api/v1/namespaces/gc/pods/child')).status).toBe(404);
  });

  it('binds pods once through pods/binding and evicts through pods/eviction', async () => {
    await call('POST', '/api/v1/namespaces/default/pods', pod('tobind'));
    const uid = (await call('GET', '/api/v1/namespaces/default/pods/tobind')).body.metadata.uid;
    const b = await call('POST', '/api/v1/namespaces/default/pods/tobind/binding', {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'tobind', uid },
      target: { apiVersion: 'v1', kind: 'Node', name: 'node-7' },
    });
    expect(b.status).toBe(201);
    expect(b.body).toMatchObject({ kind: 'Status', status: 'Success' });
    const bound = (await call('GET', '/api/v1/namespaces/default/pods/tobind')).body;
    expect(bound.spec.nodeName).toBe('node-7');
    expect(bound.status.conditions).toEqual([expect.objectContaining({ type: 'PodScheduled', status: 'True' })]);
    const again = await call('POST', '/api/v1/namespaces/default/pods/tobind/binding', { target: { name: 'node-8' } });
    expect(again.status).toBe(409);
    expect(again.body.message).toContain('is already assigned to node "node-7"');
    expect((await call('POST', '/api/v1/namespaces/default/pods/tobind/binding', { target: {} })).status).toBe(422);
    const ev = await call('POST', '/api/v1/namespaces/default/pods/tobind/eviction', {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'tobind' },
    });
    expect(ev.status).toBe(201);
    // Bound: eviction is graceful, the kubelet finishes it.
    expect((await call('GET', '/api/v1/namespaces/default/pods/tobind')).body.metadata.deletionGracePeriodSeconds).toBe(30);
  });

  it('refuses verbs a subresource does not have (405), without touching the object', async () => {
    await call('POST', '/api/v1/namespaces/default/pods', pod('sub405'));
    const del = await call('DELETE', '/api/v1/namespaces/default/pods/sub405/status');
    expect(del.body).toMatchObject({ code: 405, reason: 'MethodNotAllowed' });
    expect((await call('GET', '/api/v1/namespaces/default/pods/sub405')).status).toBe(200);
    expect((await call('PUT', '/api/v1/namespaces/default/pods/sub405/log', {})).status).toBe(405);
    expect((await call('POST', '/api/v1/namespaces/default/pods/sub405')).status).toBe(405);
  });

  it('scales through the scale subresource', async () => {
    await call('POST', '/apis/apps/v1/namespaces/default/deployments', {
      metadata: { name: 'sc' },
      spec: {
        selector: { matchLabels: { app: 'sc' } },
        template: { metadata: { labels: { app: 'sc' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
      },
    });
    const sc = await call(
      'PATCH',
      '/apis/apps/v1/namespaces/default/deployments/sc/scale',
      { spec: { replicas: 4 } },
      'application/merge-patch+json',
    );
    expect(sc.body).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 4 }, status: { selector: 'app=sc' } });
    expect((await call('GET', '/apis/apps/v1/namespaces/default/deployments/sc')).body.spec.replicas).toBe(4);
  });

  it('proxies pods/log to the node-agent and says clearly when nothing listens there', async () => {
    await call('POST', '/api/v1/nodes', { metadata: { name: 'log-node', annotations: { 'podnet.dev/transport-address': '127.0.0.1' } } });
    await call('POST', '/api/v1/namespaces/default/pods', pod('logpod', { spec: { nodeName: 'log-node' } }));
    const r = await call('GET', '/api/v1/namespaces/default/pods/logpod/log');
    expect(r.status).toBe(502);
    expect(r.body.reason).toBe('ServiceUnavailable');
    expect(r.body.message).toContain(`error dialing backend: dial tcp 127.0.0.1:${kubeletPort}`);
    expect(r.body.message).toContain('the node-agent of node "log-node" is not reachable');
    const unbound = await call('GET', '/api/v1/namespaces/default/pods/patchme/log');
    expect(unbound.status).toBe(400);
    expect(unbound.body.message).toBe('pod patchme does not have a host assigned');
    // A stand-in node-agent on the kubelet port: the kubelet's /containerLogs path.
    const paths: string[] = [];
    const agent = createHttpsServer(
      { key: readFileSync(join(dir, 'pki', 'apiserver.key')), cert: readFileSync(join(dir, 'pki', 'apiserver.crt')) },
      (req, res) => {
        paths.push(req.url ?? '');
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('hello from c\n');
      },
    );
    await new Promise<void>((resolve) => agent.listen(kubeletPort, '127.0.0.1', () => resolve()));
    try {
      const ok = await call('GET', '/api/v1/namespaces/default/pods/logpod/log?tailLines=5');
      expect(ok.status).toBe(200);
      expect(ok.body).toBe('hello from c\n');
      expect(paths).toEqual(['/containerLogs/default/logpod/c?tailLines=5']);
    } finally {
      await new Promise((resolve) => agent.close(resolve));
    }
  });

  it('proxies a pods/exec WebSocket to the node-agent, both ways, and 502s when nothing listens', async () => {
    const path = '/api/v1/namespaces/default/pods/logpod/exec?command=sh&container=c&stdin=true&stdout=true';
    const open = (protocols: string[]) =>
      new WebSocket(`${s.url.replace('https', 'wss')}${path}`, protocols, {
        ca: s.caPem,
        headers: { authorization: `Bearer ${s.adminToken}` },
      });
    const refused = open(['v5.channel.k8s.io']);
    const code = await new Promise<number>((resolve) => refused.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0)));
    expect(code).toBe(502);
    const https = createHttpsServer({
      key: readFileSync(join(dir, 'pki', 'apiserver.key')),
      cert: readFileSync(join(dir, 'pki', 'apiserver.crt')),
    });
    const agentWs = new WebSocketServer({
      server: https,
      handleProtocols: (p) => (p.has('v5.channel.k8s.io') ? 'v5.channel.k8s.io' : false),
    });
    const seenPaths: string[] = [];
    agentWs.on('connection', (sock, req) => {
      seenPaths.push(req.url ?? '');
      sock.on('message', (m) => sock.send(Buffer.concat([Buffer.from([1]), Buffer.from(m as Buffer).subarray(1)])));
    });
    await new Promise<void>((resolve) => https.listen(kubeletPort, '127.0.0.1', () => resolve()));
    try {
      const ws = open(['v5.channel.k8s.io']);
      await new Promise<void>((resolve, reject) => {
        ws.on('open', () => resolve());
        ws.on('error', reject);
      });
      expect(ws.protocol).toBe('v5.channel.k8s.io');
      const reply = new Promise<Buffer>((resolve) => ws.on('message', (m) => resolve(m as Buffer)));
      ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('echo hi\n')]));
      const got = await reply;
      expect(got[0]).toBe(1);
      expect(got.subarray(1).toString()).toBe('echo hi\n');
      expect(seenPaths).toEqual(['/exec/default/logpod/c?command=sh&stdin=true&stdout=true&input=1&output=1']);
      ws.close();
    } finally {
      for (const c of agentWs.clients) c.terminate();
      agentWs.close();
      await new Promise((resolve) => https.close(resolve));
    }
  });

  it('exposes metrics (authenticated)', async () => {
    expect((await call('GET', '/metrics', undefined, undefined, '')).status).toBe(401);
    const m = (await call('GET', '/metrics')).body as string;
    expect(m).toMatch(/apiserver_request_total\{verb="create",resource="pods",code="201",component="apiserver"\} \d+/);
    expect(m).toContain('apiserver_request_duration_seconds_bucket');
    expect(m).toMatch(/apiserver_storage_objects\{resource="pods",component="apiserver"\} \d+/);
    expect(m).toContain('podnet_wal_fsync_duration_seconds_count');
  });
});

describe('watch', () => {
  it('streams over WebSocket JSON text frames, one event per message', async () => {
    const w = wsWatch('/api/v1/namespaces/default/pods?watch=true&labelSelector=ws%3D1');
    await w.opened;
    await call('POST', '/api/v1/namespaces/default/pods', pod('ws-a', { labels: { ws: '1' } }));
    await call('DELETE', '/api/v1/namespaces/default/pods/ws-a');
    await waitFor('two events', () => (w.events.length >= 2 ? true : undefined));
    expect(w.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED ws-a', 'DELETED ws-a']);
    expect(w.events.every((e) => e.binary === false && e.text.endsWith('}\n'))).toBe(true);
    w.ws.close();
  });

  it('streams protobuf WatchEvents in binary frames under the podnet subprotocol', async () => {
    const w = wsWatch('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?watch=true', WATCH_PROTOBUF_SUBPROTOCOL);
    await w.opened;
    expect(w.ws.protocol).toBe(WATCH_PROTOBUF_SUBPROTOCOL);
    const body = {
      metadata: { name: 'pb-1' },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.1.9'], conditions: { ready: true } }],
      ports: [{ port: 8080, protocol: 'TCP' }],
    };
    const created = (await call('POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', body)).body;
    await waitFor('the event', () => (w.events.length >= 1 ? true : undefined));
    const ev = w.events[0] as Obj;
    expect(ev.binary).toBe(true);
    expect(ev.type).toBe('ADDED');
    expect(ev.resourceVersion).toBe(created.metadata.resourceVersion);
    expect(ev.object).toMatchObject({
      kind: 'EndpointSlice',
      apiVersion: 'discovery.k8s.io/v1',
      addressType: 'IPv4',
      endpoints: body.endpoints,
      ports: body.ports,
    });
    w.ws.close();
  });

  it('turns selector transitions into ADDED/DELETED, sends BOOKMARKs and initial events, and ends at timeoutSeconds', async () => {
    const base = (await call('GET', '/api/v1/namespaces/default/pods')).body.metadata.resourceVersion;
    await call('POST', '/api/v1/namespaces/default/pods', pod('tr', { labels: { stage: 'a' } }));
    const w = wsWatch(
      `/api/v1/namespaces/default/pods?watch=true&labelSelector=stage%3Db&resourceVersion=${base}&allowWatchBookmarks=true`,
    );
    await w.opened;
    await call('PATCH', '/api/v1/namespaces/default/pods/tr', { metadata: { labels: { stage: 'b' } } }, 'application/merge-patch+json');
    await call('PATCH', '/api/v1/namespaces/default/pods/tr', { metadata: { labels: { stage: 'c' } } }, 'application/merge-patch+json');
    await waitFor('transitions and a bookmark', () =>
      w.events.some((e) => e.type === 'BOOKMARK') && w.events.filter((e) => e.type !== 'BOOKMARK').length >= 2 ? true : undefined,
    );
    expect(w.events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata.labels.stage}`)).toEqual([
      'ADDED b',
      'DELETED c',
    ]);
    const bm = w.events.find((e) => e.type === 'BOOKMARK') as Obj;
    expect(bm.object).toEqual({ kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: expect.stringMatching(/^\d+$/) } });
    w.ws.close();

    const init = wsWatch(
      '/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dtr&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1',
    );
    const closed = new Promise<void>((resolve) => init.ws.on('close', () => resolve()));
    await closed;
    expect(init.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'tr' } } });
    expect(init.events[1]).toMatchObject({
      type: 'BOOKMARK',
      object: { metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } },
    });
  });

  it('answers 410 Expired only for a resourceVersion compacted out of the cache', async () => {
    const first = Number((await call('GET', '/api/v1/namespaces/default/pods')).body.metadata.resourceVersion);
    for (let i = 0; i < 510; i++)
      await call('POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', { metadata: { name: `l-${i}` }, spec: {} });
    const old = wsWatch(`/api/v1/namespaces/default/pods?watch=true&resourceVersion=${first}`);
    await new Promise<void>((resolve) => old.ws.on('close', () => resolve()));
    expect(old.events).toHaveLength(1);
    expect(old.events[0]).toMatchObject({ type: 'ERROR', object: { kind: 'Status', reason: 'Expired', code: 410 } });
    expect(old.events[0]?.object.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
    const recent = Number((await call('GET', '/api/v1/namespaces/default/pods')).body.metadata.resourceVersion) - 100;
    const ok = wsWatch(`/api/v1/namespaces/default/pods?watch=true&resourceVersion=${recent}`);
    await ok.opened;
    await call('POST', '/api/v1/namespaces/default/pods', pod('after-410'));
    await waitFor('an event', () => (ok.events.length >= 1 ? true : undefined));
    expect(ok.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'after-410' } } });
    ok.ws.close();
  });

  it('streams chunked HTTP: headers at once, one JSON line per event, bare-newline heartbeats, Table rows for kubectl', async () => {
    const { request } = await import('node:https');
    const open = (path: string, accept: string) => {
      const u = new URL(path, s.url);
      let text = '';
      let status = 0;
      let headersAt = 0;
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname + u.search,
          ca: s.caPem,
          headers: { accept, authorization: `Bearer ${s.adminToken}` },
        },
        (res) => {
          status = res.statusCode ?? 0;
          headersAt = Date.now();
          res.on('data', (d: Buffer) => {
            text += d.toString();
          });
        },
      );
      req.end();
      return { req, text: () => text, status: () => status, headersAt: () => headersAt };
    };
    const plain = open('/api/v1/namespaces/default/pods?watch=true&labelSelector=chunk%3D1', 'application/json');
    const future = open('/api/v1/namespaces/default/pods?watch=true&resourceVersion=999999999', 'application/json');
    const table = open(
      '/api/v1/namespaces/default/pods?watch=true&labelSelector=chunk%3D1',
      'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    );
    // The 200 arrives before any event does (flushed headers).
    await waitFor('headers', () => (plain.headersAt() && table.headersAt() ? true : undefined));
    expect(plain.status()).toBe(200);
    await waitFor('a heartbeat', () => (plain.text().includes('\n') ? true : undefined));
    await call('POST', '/api/v1/namespaces/default/pods', pod('chunky', { labels: { chunk: '1' } }));
    await waitFor('the event on both', () => (plain.text().includes('chunky') && table.text().includes('chunky') ? true : undefined));
    const line = plain
      .text()
      .split('\n')
      .find((l) => l.includes('chunky')) as string;
    expect(JSON.parse(line)).toMatchObject({ type: 'ADDED', object: { kind: 'Pod', metadata: { name: 'chunky' } } });
    const row = JSON.parse(
      table
        .text()
        .split('\n')
        .find((l) => l.includes('chunky')) as string,
    );
    expect(row.type).toBe('ADDED');
    expect(row.object.kind).toBe('Table');
    expect(row.object.rows[0].cells.slice(0, 3)).toEqual(['chunky', '0/1', 'Pending']);
    await waitFor('the too-large answer', () => (future.text().includes('ERROR') ? true : undefined));
    expect(JSON.parse(future.text().trim())).toMatchObject({
      type: 'ERROR',
      object: { code: 504, details: { causes: [{ reason: 'ResourceVersionTooLarge' }] } },
    });
    plain.req.destroy();
    table.req.destroy();
    future.req.destroy();
    await waitFor('the watch gauge to drop', async () => {
      const m = (await call('GET', '/metrics')).body as string;
      return /apiserver_longrunning_requests\{verb="watch",resource="pods",component="apiserver"\} 0\b/.test(m) ? true : undefined;
    });
  });

  it('keeps serving when a stored object has an odd shape (Tables, protobuf and JSON watches)', async () => {
    const pbw = wsWatch(
      '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?watch=true&labelSelector=odd%3D1',
      WATCH_PROTOBUF_SUBPROTOCOL,
    );
    await pbw.opened;
    const odd = await call('POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
      metadata: { name: 'odd', labels: { odd: '1' } },
      addressType: 'IPv4',
      endpoints: { not: 'a list' },
      ports: 'eighty',
    });
    expect(odd.status).toBe(201);
    const t = await fetchWithCa(new URL('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=odd%3D1', s.url), {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    });
    expect(t.rows[0].cells.slice(0, 4)).toEqual(['odd', 'IPv4', '<unset>', '<none>']);
    await waitFor('the odd event', () => (pbw.events.length >= 1 ? true : undefined));
    expect(pbw.events[0]?.object.endpoints).toEqual({ not: 'a list' });
    pbw.ws.close();
  });

  it('refuses a WebSocket watch without a token', async () => {
    const ws = new WebSocket(`${s.url.replace('https', 'wss')}/api/v1/pods?watch=true`, { ca: s.caPem });
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(401);
  });
});

async function fetchWithCa(u: URL, headers: Record<string, string>): Promise<Obj> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        ca: s.caPem,
        headers: { ...headers, authorization: `Bearer ${s.adminToken}` },
      },
      (res) => {
        let t = '';
        res.on('data', (d: Buffer) => {
          t += d.toString();
        });
        res.on('end', () => resolve(JSON.parse(t)));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
