import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from './store.ts';
import { WatchCache } from './watch-cache.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), `podnet-store-${process.pid}-`));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const obj = (name: string, v = 0) => ({ kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { v } });

describe('WatchCache', () => {
  it('serves every event after R while R >= compactedThrough, and only then', () => {
    const c = new WatchCache(3);
    for (let rv = 1; rv <= 5; rv++) c.add({ rv, type: 'ADDED', resource: 'r', object: {} });
    expect(c.compactedThrough).toBe(2);
    expect(c.canServeFrom(1)).toBe(false);
    expect(c.canServeFrom(2)).toBe(true);
    expect(c.since(2).map((e) => e.rv)).toEqual([3, 4, 5]);
    expect(c.since(4).map((e) => e.rv)).toEqual([5]);
  });
  it('holds back events not yet durable', () => {
    const c = new WatchCache(10);
    c.add({ rv: 1, type: 'ADDED', resource: 'r', object: {} });
    c.add({ rv: 2, type: 'ADDED', resource: 'r', object: {} });
    c.markPending(2);
    expect(c.since(0).map((e) => e.rv)).toEqual([1]);
    c.markDurable(2);
    expect(c.since(0).map((e) => e.rv)).toEqual([1, 2]);
  });
});

describe('Store', () => {
  it('persists every acknowledged write and resumes resourceVersions after reopening', async () => {
    const d = tmp();
    const s = await Store.open({ dataDir: d });
    for (let i = 0; i < 20; i++) await s.commit('core/configmaps', 'ADDED', obj(`c${i}`)).durable;
    await s.commit('core/configmaps', 'DELETED', obj('c3')).durable;
    await s.close();
    const s2 = await Store.open({ dataDir: d });
    expect(s2.resourceVersion).toBe(21);
    expect(s2.list('core/configmaps')).toHaveLength(19);
    expect(s2.cache.since(19).map((e) => `${e.rv}:${e.type}`)).toEqual(['20:ADDED', '21:DELETED']);
    const { object } = s2.commit('core/configmaps', 'MODIFIED', obj('c1', 1));
    expect(object.metadata.resourceVersion).toBe('22');
    await s2.close();
  });

  it('snapshots, deletes covered segments, and keeps recent events servable across a restart', async () => {
    const d = tmp();
    const s = await Store.open({ dataDir: d, snapshotEvery: 50, watchCacheSize: 1000 });
    for (let i = 0; i < 120; i++) await s.commit('core/configmaps', 'ADDED', obj(`c${i}`)).durable;
    await s.snapshot();
    await s.commit('core/configmaps', 'MODIFIED', obj('c0', 1)).durable;
    await s.close();
    const s2 = await Store.open({ dataDir: d, watchCacheSize: 1000 });
    expect(s2.resourceVersion).toBe(121);
    expect(s2.list('core/configmaps')).toHaveLength(120);
    expect(s2.get('core/configmaps', 'default', 'c0')?.data).toEqual({ v: 1 });
    expect(s2.cache.canServeFrom(10)).toBe(true);
    expect(s2.cache.since(118).map((e) => e.rv)).toEqual([119, 120, 121]);
    await s2.close();
  });

  it('keeps resourceVersions monotonic across restarts after many WAL segment switches', async () => {
    const d = tmp();
    let last = 0;
    for (let round = 0; round < 4; round++) {
      const s = await Store.open({ dataDir: d, walSegmentBytes: 4096, snapshotEvery: 1_000_000 });
      expect(s.resourceVersion).toBe(last);
      for (let i = 0; i < 100; i++) {
        const { object, durable } = s.commit('core/configmaps', 'ADDED', obj(`r${round}-${i}`));
        expect(Number(object.metadata.resourceVersion)).toBe(last + 1);
        last++;
        await durable;
      }
      await s.close();
    }
    const segments = readdirSync(d).filter((n) => /^wal-\d{16}\.log$/.test(n));
    expect(segments.length).toBeGreaterThan(10);
    const s = await Store.open({ dataDir: d, walSegmentBytes: 4096 });
    expect(s.resourceVersion).toBe(400);
    expect(s.list('core/configmaps')).toHaveLength(400);
    await s.close();
  });

  it('snapshots delete the preallocated segments they cover: the data directory stays bounded', async () => {
    const d = tmp();
    const s = await Store.open({ dataDir: d, walSegmentBytes: 4096, snapshotEvery: 50 });
    for (let i = 0; i < 600; i++) await s.commit('core/configmaps', 'MODIFIED', obj(`c${i % 7}`, i)).durable;
    await s.snapshot();
    const files = readdirSync(d);
    // The segment holding the snapshot's rv (and at most the one before it when the switch came
    // just after), one spare, one snapshot.
    expect(files.filter((n) => /^wal-\d{16}\.log$/.test(n)).length).toBeLessThanOrEqual(2);
    expect(files.filter((n) => n.endsWith('.tmp'))).toEqual(['wal-spare.tmp']);
    expect(files.filter((n) => n.startsWith('snapshot-'))).toHaveLength(1);
    await s.commit('core/configmaps', 'MODIFIED', obj('c0', -1)).durable;
    await s.close();
    const s2 = await Store.open({ dataDir: d, walSegmentBytes: 4096 });
    expect(s2.resourceVersion).toBe(601);
    expect(s2.get('core/configmaps', 'default', 'c0')?.data).toEqual({ v: -1 });
    expect(s2.get('core/configmaps', 'default', 'c6')?.data).toEqual({ v: 594 });
    await s2.close();
  });

  it('answers 410 only for versions compacted out of a small cache', async () => {
    const d = tmp();
    const s = await Store.open({ dataDir: d, watchCacheSize: 5 });
    for (let i = 0; i < 10; i++) await s.commit('core/configmaps', 'ADDED', obj(`c${i}`)).durable;
    expect(s.cache.canServeFrom(4)).toBe(false);
    expect(s.cache.canServeFrom(5)).toBe(true);
    await s.close();
  });
});

describe('Store owner index', () => {
  it('finds dependents and objects by uid, following updates, deletes and a restart', async () => {
    const d = tmp();
    const s = await Store.open({ dataDir: d });
    const owner = { kind: 'ReplicaSet', metadata: { name: 'rs', namespace: 'default', uid: 'owner-1' } };
    const child = (name: string, uid: string, owners: string[]) => ({
      kind: 'Pod',
      metadata: { name, namespace: 'default', uid, ownerReferences: owners.map((o) => ({ uid: o })) },
    });
    await s.commit('apps/replicasets', 'ADDED', owner).durable;
    await s.commit('core/pods', 'ADDED', child('a', 'pa', ['owner-1'])).durable;
    await s.commit('core/pods', 'ADDED', child('b', 'pb', ['owner-1', 'owner-2'])).durable;
    const names = (uid: string) =>
      s
        .dependents(uid)
        .map((x) => x.object.metadata.name)
        .sort();
    expect(names('owner-1')).toEqual(['a', 'b']);
    expect(names('owner-2')).toEqual(['b']);
    await s.commit('core/pods', 'MODIFIED', child('b', 'pb', ['owner-2'])).durable;
    expect(names('owner-1')).toEqual(['a']);
    await s.commit('core/pods', 'DELETED', child('a', 'pa', ['owner-1'])).durable;
    expect(names('owner-1')).toEqual([]);
    expect(s.getByUid('owner-1')?.resource).toBe('apps/replicasets');
    expect(s.getByUid('pa')).toBeUndefined();
    await s.snapshot();
    await s.close();
    const s2 = await Store.open({ dataDir: d });
    expect(s2.dependents('owner-2').map((x) => x.object.metadata.name)).toEqual(['b']);
    expect(s2.getByUid('pb')?.object.metadata.name).toBe('b');
    await s2.close();
  });
});
