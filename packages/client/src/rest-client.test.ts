// The REST client against the real API server: every verb, paging, selectors, the three patch
// kinds, delete options, typed Status errors, and retries (429 from a rate-limited server, a
// server that is restarting).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer } from '@podnet/apiserver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError, ConflictError, InvalidError, NotFoundError } from './errors.js';
import { loadKubeconfig } from './kubeconfig.js';
import type { KubeObject } from './object.js';
import { KubeClient } from './rest-client.js';
import { type ApiServerProcess, Relay, startApiServerProcess } from './testing/apiserver-process.js';

type Svc = KubeObject & {
  spec: { selector?: Record<string, string>; ports: { name?: string; port: number; targetPort?: number | string }[]; clusterIP?: string };
};
type Pod = KubeObject & {
  spec: { containers: { name: string; image: string; ports?: unknown[]; args?: string[] }[]; nodeName?: string };
  status?: { phase?: string };
};

let server: ApiServerProcess;
let client: KubeClient;

beforeAll(async () => {
  server = await startApiServerProcess();
  client = new KubeClient({ kubeconfig: server.kubeconfigPath });
});
afterAll(async () => {
  client?.close();
  await server?.stop();
});

describe('KubeClient (real API server process)', () => {
  it('creates, gets, updates with optimistic concurrency and deletes', async () => {
    const svcs = client.resource<Svc>('services');
    const made = await svcs.create({
      metadata: { name: 'echo', namespace: 'default' },
      spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80 }] },
    });
    expect(made.metadata?.uid).toBeTruthy();
    expect(made.spec.clusterIP).toMatch(/^10\.(9[6-9]|1[01]\d)\./);
    const got = await svcs.get('echo');
    expect(got.metadata?.resourceVersion).toBe(made.metadata?.resourceVersion);
    const updated = await svcs.update({ ...got, metadata: { ...got.metadata, labels: { tier: 'web' } } });
    expect(updated.metadata?.labels).toEqual({ tier: 'web' });
    // The stale copy is refused with the server's message.
    const stale = svcs.update({ ...got, metadata: { ...got.metadata, labels: { tier: 'db' } } });
    await expect(stale).rejects.toBeInstanceOf(ConflictError);
    await expect(stale).rejects.toThrow(/the object has been modified/);
    await expect(svcs.create({ metadata: { name: 'echo' }, spec: { ports: [{ port: 80 }] } })).rejects.toBeInstanceOf(AlreadyExistsError);
    await svcs.delete('echo', { propagationPolicy: 'Background' });
    const missing = svcs.get('echo');
    await expect(missing).rejects.toBeInstanceOf(NotFoundError);
    await expect(missing).rejects.toThrow(/services "echo" not found/);
  });

  it('turns 422 into InvalidError with the causes', async () => {
    const err = await client
      .resource<Svc>('services')
      .create({ metadata: { name: 'Bad_Name' }, spec: { ports: [{ port: 80 }] } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidError);
    expect((err as InvalidError).status.details?.causes?.some((c) => c.field === 'metadata.name')).toBe(true);
  });

  it('lists with label and field selectors and pages with limit/continue', async () => {
    const pods = client.resource<Pod>('pods');
    for (let i = 0; i < 7; i++) {
      await pods.create({
        metadata: { name: `page-${i}`, namespace: 'default', labels: { suite: 'paging', parity: i % 2 ? 'odd' : 'even' } },
        spec: { containers: [{ name: 'c', image: 'podnet/echo:1.0' }] },
      });
    }
    const first = await pods.list({ labelSelector: 'suite=paging', limit: 3 });
    expect(first.items).toHaveLength(3);
    expect(first.metadata.continue).toBeTruthy();
    const all = await pods.listAll({ labelSelector: { suite: 'paging' }, limit: 3 });
    expect(all.items.map((p) => p.metadata?.name).sort()).toEqual(Array.from({ length: 7 }, (_, i) => `page-${i}`));
    expect(all.metadata.resourceVersion).toBeTruthy();
    const odd = await pods.list({ labelSelector: 'suite=paging,parity in (odd)' });
    expect(odd.items).toHaveLength(3);
    const byName = await pods.list({ fieldSelector: { 'metadata.name': 'page-4' } });
    expect(byName.items.map((p) => p.metadata?.name)).toEqual(['page-4']);
    const everywhere = await pods.list({ labelSelector: 'suite=paging' }); // namespace unset on a list: all namespaces
    expect(everywhere.items).toHaveLength(7);
  });

  it('patches with merge, strategic and JSON patches, and updates status', async () => {
    const pods = client.resource<Pod>('pods');
    await pods.create({
      metadata: { name: 'patchme', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'podnet/echo:1.0', args: ['--port', '8080'], ports: [{ containerPort: 8080 }] }] },
    });
    const merged = await pods.patch('patchme', { metadata: { labels: { a: '1' } } }, { type: 'merge' });
    expect(merged.metadata?.labels).toEqual({ a: '1' });
    const strategic = await pods.patch(
      'patchme',
      { spec: { containers: [{ name: 'c', image: 'podnet/echo:2.0' }] } },
      { type: 'strategic' },
    );
    expect(strategic.spec.containers[0]).toMatchObject({ image: 'podnet/echo:2.0', args: ['--port', '8080'] });
    const json = await pods.patch('patchme', [{ op: 'add', path: '/metadata/annotations', value: { b: '2' } }], { type: 'json' });
    expect(json.metadata?.annotations).toEqual({ b: '2' });
    const withStatus = await pods.updateStatus({ ...json, status: { phase: 'Running' } });
    expect(withStatus.status?.phase).toBe('Running');
    // A precondition on delete that does not hold is a Conflict; gracePeriodSeconds 0 deletes at once.
    await expect(pods.delete('patchme', { preconditions: { uid: 'not-the-uid' } })).rejects.toBeInstanceOf(ConflictError);
    await pods.delete('patchme', { gracePeriodSeconds: 0, preconditions: { uid: json.metadata?.uid } });
    await expect(pods.get('patchme')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('watches with JSON text frames when asked, from a resourceVersion', async () => {
    const c = new KubeClient({ kubeconfig: server.kubeconfigPath, watchEncoding: 'json' });
    try {
      const pods = c.resource<Pod>('pods');
      const list = await pods.list({ labelSelector: 'suite=json' });
      const watch = await pods.watch({ namespace: 'default', labelSelector: 'suite=json', resourceVersion: list.metadata.resourceVersion });
      expect(watch.codec.subprotocol).toBe('');
      const got: string[] = [];
      const done = (async () => {
        for await (const ev of watch) {
          got.push(`${ev.type} ${ev.object.metadata?.name}`);
          if (got.length === 2) break;
        }
      })();
      await pods.create({
        metadata: { name: 'json-1', namespace: 'default', labels: { suite: 'json' } },
        spec: { containers: [{ name: 'c', image: 'x' }] },
      });
      await pods.delete('json-1', { gracePeriodSeconds: 0 });
      await done;
      watch.close();
      expect(got).toEqual(['ADDED json-1', 'DELETED json-1']);
      expect((await watch.ended).by).toBe('client');
    } finally {
      c.close();
    }
  });

  it('reuses one keep-alive connection for sequential requests', async () => {
    const relay = new Relay(server.port);
    await relay.listen();
    const creds = loadKubeconfig(server.kubeconfigPath);
    const c = new KubeClient({ server: `https://127.0.0.1:${relay.port}`, caPem: creds.caPem, token: creds.token });
    try {
      for (let i = 0; i < 20; i++) await c.resource('namespaces').get('default');
      await c.resource('pods').list({ namespace: 'default' });
      expect(relay.connections).toBe(1);
    } finally {
      c.close();
      await relay.close();
    }
  });

  it('retries a GET while the API server restarts', async () => {
    const c = new KubeClient({ kubeconfig: server.kubeconfigPath, maxAttempts: 30, backoff: { initialMs: 100, maxMs: 300 } });
    try {
      await server.kill();
      const restarting = new Promise((r) => setTimeout(r, 500)).then(() => server.restart());
      const ns = await c.resource('namespaces').get('default');
      expect(ns.metadata?.name).toBe('default');
      await restarting;
    } finally {
      c.close();
    }
  });
});

describe('KubeClient retries on 429', () => {
  it('waits out Retry-After from a rate-limited server and succeeds', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), `podnet-rl-${process.pid}-`));
    const s = await startApiServer({ dataDir, port: 0, host: '127.0.0.1', rateLimit: { perSecond: 2, burst: 2 }, logLevel: 'silent' });
    const c = new KubeClient({ server: s.url, caPem: s.caPem, token: s.adminToken, maxAttempts: 10 });
    try {
      const results = await Promise.all(Array.from({ length: 5 }, () => c.resource('namespaces').get('default')));
      expect(results.every((r) => r.metadata?.name === 'default')).toBe(true);
    } finally {
      c.close();
      await s.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
