// The object store: every object by resource/namespace/name, one resourceVersion counter for
// the whole store (as etcd's revision), a bounded watch cache of recent events, and
// durability through the WAL (wal.ts) plus periodic snapshots.
//
// Ordering: a mutation is applied to memory synchronously (so optimistic concurrency checks
// and allocators see every earlier write), appended to the WAL, and acknowledged — returned to
// the caller and delivered to watchers — only after its record is fsync'd. Watch events are
// therefore never sent for a write a crash could lose, and they are sent in resourceVersion
// order because WAL batches complete in order.
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { ApiServerError, ApiServerErrorCodes } from '../errors.js';
import { fsyncDir, recoverLog, WalWriter } from './wal.js';
import { type EventType, type StoreEvent, WatchCache } from './watch-cache.js';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
export type KubeObject = Record<string, any> & { metadata: Record<string, any> };

interface WalRecord {
  rv: number;
  e: EventType;
  r: string; // resource key, "core/pods"
  o: KubeObject;
}

interface Snapshot {
  rv: number;
  objects: [string, KubeObject][];
  events: StoreEvent[];
  compactedThrough: number;
}

export interface StoreOptions {
  dataDir: string;
  /** Events kept for watch resume (default 10,000). */
  watchCacheSize?: number;
  /** Records after which a snapshot is written and older WAL segments deleted (default 20,000). */
  snapshotEvery?: number;
  fsync?: boolean;
  /** Preallocated WAL segment size (default 16 MiB, wal.ts DEFAULT_SEGMENT_BYTES). */
  walSegmentBytes?: number;
  onSync?: (seconds: number, records: number) => void;
  onSnapshot?: (seconds: number, bytes: number) => void;
}

const SNAP_RE = /^snapshot-(\d{16})\.json$/;

export class Store {
  private readonly objects = new Map<string, Map<string, KubeObject>>(); // resource → "ns/name" → obj
  private rv = 0;
  readonly cache: WatchCache;
  private wal!: WalWriter;
  private recordsSinceSnapshot = 0;
  private snapshotting = false;
  private readonly listeners = new Set<(ev: StoreEvent) => void>();
  private pendingDurable: Promise<void> = Promise.resolve();
  /** Bytes truncated from a torn WAL tail at the last open (for logs and tests). */
  truncatedBytes = 0;

  private constructor(private readonly opts: StoreOptions) {
    this.cache = new WatchCache(opts.watchCacheSize ?? 10_000);
  }

  static async open(opts: StoreOptions): Promise<Store> {
    const s = new Store(opts);
    await s.recover();
    return s;
  }

  private bucket(resource: string): Map<string, KubeObject> {
    let b = this.objects.get(resource);
    if (!b) {
      b = new Map();
      this.objects.set(resource, b);
    }
    return b;
  }

  /**
   * One API server per data directory: two writers would interleave WAL records. The LOCK file
   * holds the owner's pid; a lock whose process is gone (after a SIGKILL) is taken over.
   */
  private lock(dir: string): void {
    const path = join(dir, 'LOCK');
    if (existsSync(path)) {
      const pid = Number(readFileSync(path, 'utf8').trim());
      let alive = false;
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch (e) {
          alive = (e as NodeJS.ErrnoException).code === 'EPERM';
        }
      }
      if (alive) {
        throw new ApiServerError(
          ApiServerErrorCodes.USAGE,
          `the data directory ${dir} is in use by process ${pid} (another API server); stop it or use another --data-dir`,
        );
      }
    }
    writeFileSync(path, `${process.pid}\n`);
  }

  private async recover(): Promise<void> {
    const dir = this.opts.dataDir;
    mkdirSync(dir, { recursive: true });
    this.lock(dir);
    const snaps = readdirSync(dir)
      .map((n) => SNAP_RE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[0], rv: Number(m[1]) }))
      .sort((a, b) => b.rv - a.rv);
    let snap: Snapshot | undefined;
    for (const s of snaps) {
      try {
        snap = JSON.parse(readFileSync(join(dir, s.name), 'utf8')) as Snapshot;
        break;
      } catch (e) {
        // Snapshots are written to a temp name and renamed, so a partial one means disk damage.
        throw new ApiServerError(
          ApiServerErrorCodes.SNAPSHOT,
          `${join(dir, s.name)} cannot be read (${(e as Error).message}); move it away to recover from the WAL and older snapshots.`,
        );
      }
    }
    if (snap) {
      this.rv = snap.rv;
      for (const [key, obj] of snap.objects) {
        const i = key.indexOf('/', key.indexOf('/') + 1);
        this.bucket(key.slice(0, i)).set(key.slice(i + 1), obj);
        this.index(key.slice(0, i), key.slice(i + 1), obj);
      }
      this.cache.restore(snap.events, snap.compactedThrough);
    }
    const log = recoverLog(dir);
    this.truncatedBytes = log.truncatedBytes;
    for (const raw of log.records) {
      const rec = raw as WalRecord;
      if (rec.rv <= this.rv) continue;
      this.applyToMemory(rec);
      this.recordsSinceSnapshot++;
    }
    this.wal = await WalWriter.open(dir, this.rv + 1, {
      fsync: this.opts.fsync,
      segmentBytes: this.opts.walSegmentBytes,
      onSync: this.opts.onSync,
    });
  }

  private applyToMemory(rec: WalRecord): StoreEvent {
    const ns = rec.o.metadata.namespace ?? '';
    const k = `${ns}/${rec.o.metadata.name}`;
    const b = this.bucket(rec.r);
    const prev = b.get(k);
    if (prev) this.unindex(rec.r, k, prev);
    if (rec.e === 'DELETED') b.delete(k);
    else {
      b.set(k, rec.o);
      this.index(rec.r, k, rec.o);
    }
    this.rv = rec.rv;
    const ev: StoreEvent = { rv: rec.rv, type: rec.e, resource: rec.r, object: rec.o, prev };
    this.cache.add(ev);
    return ev;
  }

  // uid → where the object lives, and owner uid → its dependents: garbage collection and
  // owner checks without scanning the store (the real GC keeps the same graph in memory).
  private readonly byUid = new Map<string, { resource: string; key: string }>();
  private readonly dependentsByOwner = new Map<string, Set<string>>(); // owner uid → "resource|ns/name"

  private readonly terminatingKeys = new Set<string>(); // "resource|ns/name" with a deletionTimestamp

  private index(resource: string, key: string, o: KubeObject): void {
    if (o.metadata.uid) this.byUid.set(o.metadata.uid, { resource, key });
    if (o.metadata.deletionTimestamp) this.terminatingKeys.add(`${resource}|${key}`);
    for (const ref of (o.metadata.ownerReferences ?? []) as { uid?: string }[]) {
      if (!ref.uid) continue;
      let set = this.dependentsByOwner.get(ref.uid);
      if (!set) {
        set = new Set();
        this.dependentsByOwner.set(ref.uid, set);
      }
      set.add(`${resource}|${key}`);
    }
  }

  private unindex(resource: string, key: string, o: KubeObject): void {
    if (o.metadata.uid && this.byUid.get(o.metadata.uid)?.key === key) this.byUid.delete(o.metadata.uid);
    this.terminatingKeys.delete(`${resource}|${key}`);
    for (const ref of (o.metadata.ownerReferences ?? []) as { uid?: string }[]) {
      const set = ref.uid ? this.dependentsByOwner.get(ref.uid) : undefined;
      if (!set) continue;
      set.delete(`${resource}|${key}`);
      if (set.size === 0) this.dependentsByOwner.delete(ref.uid as string);
    }
  }

  /** The stored object with this uid, if any. */
  getByUid(uid: string): { resource: string; object: KubeObject } | undefined {
    const where = this.byUid.get(uid);
    const object = where ? this.objects.get(where.resource)?.get(where.key) : undefined;
    return where && object ? { resource: where.resource, object } : undefined;
  }

  /** Objects being deleted (with a deletionTimestamp), waiting on finalizers or their kubelet. */
  terminating(): { resource: string; object: KubeObject }[] {
    const out: { resource: string; object: KubeObject }[] = [];
    for (const entry of this.terminatingKeys) {
      const bar = entry.indexOf('|');
      const resource = entry.slice(0, bar);
      const object = this.objects.get(resource)?.get(entry.slice(bar + 1));
      if (object) out.push({ resource, object });
    }
    return out;
  }

  /** Objects with an ownerReference to `uid`. */
  dependents(uid: string): { resource: string; object: KubeObject }[] {
    const out: { resource: string; object: KubeObject }[] = [];
    for (const entry of this.dependentsByOwner.get(uid) ?? []) {
      const bar = entry.indexOf('|');
      const resource = entry.slice(0, bar);
      const object = this.objects.get(resource)?.get(entry.slice(bar + 1));
      if (object) out.push({ resource, object });
    }
    return out;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  get(resource: string, namespace: string, name: string): KubeObject | undefined {
    return this.objects.get(resource)?.get(`${namespace}/${name}`);
  }

  /** Objects of a resource (in one namespace, or all when `namespace` is undefined), sorted by namespace/name. */
  list(resource: string, namespace?: string): KubeObject[] {
    const b = this.objects.get(resource);
    if (!b) return [];
    const out: KubeObject[] = [];
    for (const [k, v] of b) if (namespace === undefined || k.startsWith(`${namespace}/`)) out.push(v);
    return out.sort((a, c) => {
      const ka = `${a.metadata.namespace ?? ''}/${a.metadata.name}`;
      const kc = `${c.metadata.namespace ?? ''}/${c.metadata.name}`;
      return ka < kc ? -1 : ka > kc ? 1 : 0;
    });
  }

  count(resource: string): number {
    return this.objects.get(resource)?.size ?? 0;
  }

  resources(): string[] {
    return [...this.objects.keys()];
  }

  /**
   * Writes (`ADDED`/`MODIFIED`) or removes (`DELETED`) an object, stamping the next
   * resourceVersion. Memory changes now; the returned promise resolves with the stored object
   * once the record is durable, and watchers see the event at that moment.
   */
  commit(resource: string, type: EventType, object: KubeObject): { object: KubeObject; durable: Promise<KubeObject> } {
    const rv = this.rv + 1;
    const o: KubeObject = { ...object, metadata: { ...object.metadata, resourceVersion: String(rv) } };
    const rec: WalRecord = { rv, e: type, r: resource, o };
    const ev = this.applyToMemory(rec);
    this.cache.markPending(rv);
    const appended = this.wal.append(rec, rv);
    const durable = appended.then(() => {
      this.cache.markDurable(rv);
      for (const l of this.listeners) {
        try {
          l(ev);
        } catch {
          // A listener's failure is its own (the watch hub isolates watchers); the write is durable.
        }
      }
      this.recordsSinceSnapshot++;
      if (this.recordsSinceSnapshot >= (this.opts.snapshotEvery ?? 20_000)) void this.snapshot();
      return o;
    });
    this.pendingDurable = durable.then(
      () => undefined,
      () => undefined,
    );
    return { object: o, durable };
  }

  /** Called for every durable event, in resourceVersion order. */
  subscribe(listener: (ev: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Writes a snapshot at the current version and deletes the WAL segments it covers entirely. */
  async snapshot(): Promise<void> {
    if (this.snapshotting) return;
    this.snapshotting = true;
    const started = process.hrtime.bigint();
    try {
      await this.pendingDurable;
      const rv = this.rv;
      const objects: [string, KubeObject][] = [];
      for (const [res, b] of this.objects) for (const [k, o] of b) objects.push([`${res}/${k}`, o]);
      // Once the barrier resolves every record up to rv is on disk, so the cached events up
      // to rv are all durable. The segment is not switched: a preallocated segment is filled
      // first, and recovery skips the records at or before the snapshot's rv.
      await this.wal.barrier();
      const events = this.cache.durableEvents().filter((e) => e.rv <= rv);
      const snap: Snapshot = { rv, objects, events, compactedThrough: this.cache.compactedThrough };
      const body = JSON.stringify(snap);
      const dir = this.opts.dataDir;
      const name = `snapshot-${String(rv).padStart(16, '0')}.json`;
      const tmp = join(dir, `${name}.tmp`);
      writeFileSync(tmp, body);
      const fd = openSync(tmp, 'r+');
      fsyncSync(fd);
      closeSync(fd);
      renameSync(tmp, join(dir, name));
      fsyncDir(dir);
      for (const n of readdirSync(dir)) {
        const m = SNAP_RE.exec(n);
        if (m && Number(m[1]) < rv) unlinkSync(join(dir, n));
      }
      this.wal.deleteSegmentsThrough(rv);
      this.recordsSinceSnapshot = 0;
      this.opts.onSnapshot?.(Number(process.hrtime.bigint() - started) / 1e9, body.length);
    } finally {
      this.snapshotting = false;
    }
  }

  async close(): Promise<void> {
    await this.pendingDurable;
    await this.wal.close();
    const lock = join(this.opts.dataDir, 'LOCK');
    try {
      if (readFileSync(lock, 'utf8').trim() === String(process.pid)) unlinkSync(lock);
    } catch {
      // Already gone.
    }
  }
}

export type { EventType, StoreEvent };
