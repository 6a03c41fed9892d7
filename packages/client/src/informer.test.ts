// The informer against the real API server process: protobuf WebSocket watch, a SIGKILL restart
// of the server (resume from the last resourceVersion, nothing missed), and 410 Gone (relist).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer } from './informer.js';
import { loadKubeconfig } from './kubeconfig.js';
import type { KubeObject } from './object.js';
import { KubeClient } from './rest-client.js';
import { type ApiServerProcess, Relay, startApiServerProcess } from './testing/apiserver-process.js';

type Pod = KubeObject & { spec: { containers: { name: string; image: string }[] } };

const pod = (name: string, suite: string): Pod => ({
  metadata: { name, namespace: 'default', labels: { suite } },
  spec: { containers: [{ name: 'c', image: 'podnet/echo:1.0' }] },
});

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let server: ApiServerProcess;
let writer: KubeClient;
const clients: KubeClient[] = [];
const informers: Informer<Pod>[] = [];

beforeAll(async () => {
  server = await startApiServerProcess(['--watch-cache-size', '50']);
  writer = new KubeClient({ kubeconfig: server.kubeconfigPath });
  clients.push(writer);
});

afterAll(async () => {
  for (const i of informers) await i.stop();
  for (const c of clients) c.close();
  await server?.stop();
});

function record(inf: Informer<Pod>) {
  const log: { type: 'add' | 'update' | 'delete'; name: string; rv: string }[] = [];
  inf.addEventHandler({
    add: (o) => log.push({ type: 'add', name: o.metadata?.name ?? '', rv: o.metadata?.resourceVersion ?? '' }),
    update: (_o, n) => log.push({ type: 'update', name: n.metadata?.name ?? '', rv: n.metadata?.resourceVersion ?? '' }),
    delete: (o) => log.push({ type: 'delete', name: o.metadata?.name ?? '', rv: o.metadata?.resourceVersion ?? '' }),
  });
  return log;
}

describe('Informer (real API server process)', () => {
  it('receives add, update and delete over the protobuf WebSocket watch', async () => {
    const client = new KubeClient({ kubeconfig: server.kubeconfigPath });
    clients.push(client);
    const inf = new Informer<Pod>(client.resource<Pod>('pods'), { namespace: 'default', labelSelector: 'suite=a' });
    informers.push(inf);
    const log = record(inf);
    inf.start();
    await inf.waitForSync();
    expect(inf.hasSynced()).toBe(true);
    const pods = writer.resource<Pod>('pods');
    await pods.create(pod('a1', 'a'));
    await until('add', () => log.some((e) => e.type === 'add' && e.name === 'a1'));
    await pods.patch('a1', { metadata: { annotations: { step: '1' } } });
    await until('update', () => log.some((e) => e.type === 'update' && e.name === 'a1'));
    expect(inf.store.getByName('default', 'a1')?.metadata?.annotations?.step).toBe('1');
    await pods.delete('a1', { gracePeriodSeconds: 0 });
    await until('delete', () => log.some((e) => e.type === 'delete' && e.name === 'a1'));
    expect(inf.store.size).toBe(0);
    expect(log.map((e) => e.type)).toEqual(['add', 'update', 'delete']);
    expect(inf.stats.watchSubprotocol).toBe('podnet.watch.v1.protobuf');
  });

  it('survives a SIGKILL restart of the API server: resumes without relisting and misses no acknowledged write', async () => {
    const client = new KubeClient({ kubeconfig: server.kubeconfigPath, backoff: { initialMs: 50, maxMs: 500 } });
    clients.push(client);
    const inf = new Informer<Pod>(client.resource<Pod>('pods'), {
      namespace: 'default',
      labelSelector: 'suite=b',
      backoff: { initialMs: 50, maxMs: 500 },
    });
    informers.push(inf);
    const log = record(inf);
    inf.start();
    await inf.waitForSync();
    const pods = writer.resource<Pod>('pods');
    await pods.create(pod('b1', 'b'));
    const acked: string[] = [];
    const write = async (i: number) => {
      for (let attempt = 0; attempt < 200; attempt++) {
        try {
          const r = await pods.patch('b1', { metadata: { annotations: { step: String(i) } } });
          acked.push(r.metadata?.resourceVersion ?? '');
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 100)); // the server is down: try again
        }
      }
      throw new Error(`write ${i} never succeeded`);
    };
    for (let i = 0; i < 10; i++) await write(i);
    await server.kill();
    const restarted = (async () => {
      await new Promise((r) => setTimeout(r, 300));
      await server.restart();
    })();
    for (let i = 10; i < 30; i++) await write(i);
    await restarted;
    const final = await pods.get('b1');
    await until(
      'the informer to reach the last write',
      () => inf.store.getByName('default', 'b1')?.metadata?.resourceVersion === final.metadata?.resourceVersion,
    );
    const seen = new Set(log.filter((e) => e.type === 'update' || e.type === 'add').map((e) => e.rv));
    expect(acked.filter((rv) => !seen.has(rv))).toEqual([]);
    const rvs = log.map((e) => Number(e.rv));
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs); // in order, no duplicates
    expect(new Set(rvs).size).toBe(rvs.length);
    expect(inf.stats.lists).toBe(1);
    expect(inf.stats.relists).toBe(0);
    expect(inf.stats.watchErrors + inf.stats.watches).toBeGreaterThan(1); // it did reconnect
  });

  it('relists after 410 Gone and delivers the differences as add, update and delete', async () => {
    const relay = new Relay(server.port);
    await relay.listen();
    const creds = loadKubeconfig(server.kubeconfigPath);
    const client = new KubeClient({ server: `https://127.0.0.1:${relay.port}`, caPem: creds.caPem, token: creds.token, maxAttempts: 1 });
    clients.push(client);
    const pods = writer.resource<Pod>('pods');
    await pods.create(pod('c-stays', 'c'));
    await pods.create(pod('c-goes', 'c'));
    await pods.create(pod('c-same', 'c'));
    const inf = new Informer<Pod>(client.resource<Pod>('pods'), {
      namespace: 'default',
      labelSelector: 'suite=c',
      backoff: { initialMs: 50, maxMs: 300 },
    });
    informers.push(inf);
    const log = record(inf);
    inf.start();
    await inf.waitForSync();
    relay.cut();
    // More writes than the server's watch cache holds (50) while the informer is cut off.
    for (let i = 0; i < 70; i++) await pods.patch('c-stays', { metadata: { annotations: { step: String(i) } } });
    await pods.delete('c-goes', { gracePeriodSeconds: 0 });
    await pods.create(pod('c-new', 'c'));
    relay.restore();
    await until('a relist', () => inf.stats.relists >= 1);
    await until('the cache to match the server', async () => {
      const list = await pods.list({ labelSelector: 'suite=c' });
      const want = list.items.map((p) => `${p.metadata?.name}@${p.metadata?.resourceVersion}`).sort();
      const have = inf.store
        .list()
        .map((p) => `${p.metadata?.name}@${p.metadata?.resourceVersion}`)
        .sort();
      return JSON.stringify(want) === JSON.stringify(have);
    });
    expect(inf.stats.lists).toBeGreaterThanOrEqual(2);
    expect(log.some((e) => e.type === 'delete' && e.name === 'c-goes')).toBe(true);
    expect(log.some((e) => e.type === 'add' && e.name === 'c-new')).toBe(true);
    expect(log.some((e) => e.type === 'update' && e.name === 'c-stays')).toBe(true);
    expect(inf.store.getByName('default', 'c-stays')?.metadata?.annotations?.step).toBe('69');
    // Unchanged across the relist (same resourceVersion): no update delivered.
    expect(log.filter((e) => e.name === 'c-same').map((e) => e.type)).toEqual(['add']);
    // A handler added now gets the cached objects as adds.
    const late: string[] = [];
    inf.addEventHandler({ add: (o) => late.push(o.metadata?.name ?? '') });
    expect(late.sort()).toEqual(['c-new', 'c-same', 'c-stays']);
    await relay.close();
  });
});
