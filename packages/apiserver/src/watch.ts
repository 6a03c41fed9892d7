// Watches: one subscription to the store fans durable events out to every watcher of a
// resource. A watcher filters by namespace and selectors, turning selector transitions into
// ADDED/DELETED as the real cacher does (apiserver pkg/storage/cacher/cache_watcher.go), resumes
// from a resourceVersion out of the watch cache (410 Expired only when compacted away), sends
// synthetic ADDED events for the current state when asked, BOOKMARKs, and ends at timeoutSeconds.
// Transports (chunked HTTP, WebSocket JSON text frames, WebSocket protobuf binary frames) only
// implement `WatchSink`; serialised forms are cached per event, so fan-out encodes each event once.
import { encodeWatchEvent, type ResourceInfo, resourceKey } from '@podnet/api';
import { Registry, type Selectors } from './registry.js';
import type { KubeObject, Store, StoreEvent } from './store/store.js';

export type WireType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchSink {
  /** Sends one event; `cached` holds its encoded forms, shared with every other watcher. */
  send(type: WireType, object: Record<string, unknown>, cached: EncodedCache): void;
  close(): void;
}

/**
 * How many times events were serialised, per format, in this process: a fan-out to N watchers
 * must add 1 per event and format, never N (the watch fan-out test and the bench read it).
 */
export const watchEncodeCounts = { json: 0, protobuf: 0 };

/**
 * Per-event cache of encoded forms, shared by every watcher: the JSON object is stringified
 * once, each event line (JSON watch over chunked HTTP, or a WebSocket text frame) is UTF-8
 * encoded once into a Buffer, and the protobuf WatchEvent is encoded once per event type (one
 * StoreEvent can reach watchers as MODIFIED, ADDED or DELETED by selector transitions). Every
 * watcher is handed the same bytes, as the real cacher serialises an event once per encoding
 * (apiserver pkg/storage/cacher: cachingObject).
 */
export class EncodedCache {
  private json?: string;
  private readonly lines: Partial<Record<WireType, Buffer>> = {};
  private readonly protos: Partial<Record<WireType, Uint8Array>> = {};
  constructor(readonly object: Record<string, unknown>) {}
  objectJson(): string {
    if (this.json === undefined) {
      this.json = JSON.stringify(this.object);
      watchEncodeCounts.json++;
    }
    return this.json;
  }
  /** `{"type":T,"object":{...}}\n` as UTF-8 bytes: one line of a JSON watch, or one text frame. */
  eventJsonLine(type: WireType): Buffer {
    let b = this.lines[type];
    if (b === undefined) {
      b = Buffer.from(`{"type":"${type}","object":${this.objectJson()}}\n`, 'utf8');
      this.lines[type] = b;
    }
    return b;
  }
  /** The podnet.watch.v1.WatchEvent message of this event as `type` (one binary frame). */
  eventProto(type: WireType): Uint8Array {
    let b = this.protos[type];
    if (b === undefined) {
      b = encodeWatchEvent({ type, object: this.object });
      watchEncodeCounts.protobuf++;
      this.protos[type] = b;
    }
    return b;
  }
}

const eventCaches = new WeakMap<StoreEvent, EncodedCache>();
function cacheOf(ev: StoreEvent): EncodedCache {
  let c = eventCaches.get(ev);
  if (!c) {
    c = new EncodedCache(ev.object);
    eventCaches.set(ev, c);
  }
  return c;
}

export interface WatchParams {
  info: ResourceInfo;
  namespace?: string;
  selectors: Selectors;
  resourceVersion?: string;
  sendInitialEvents?: boolean;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

class Watcher {
  lastRv: number;
  private timers: NodeJS.Timeout[] = [];
  closed = false;

  constructor(
    readonly hub: WatchHub,
    readonly params: WatchParams,
    readonly sink: WatchSink,
    startRv: number,
  ) {
    this.lastRv = startRv;
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
  private matches(o: Record<string, any> | undefined): boolean {
    if (!o) return false;
    if (this.params.namespace !== undefined && (o.metadata?.namespace ?? '') !== this.params.namespace) return false;
    return Registry.matches(this.params.selectors, o);
  }

  deliver(ev: StoreEvent): void {
    if (this.closed || ev.rv <= this.lastRv) return;
    this.lastRv = ev.rv;
    const cur = this.matches(ev.object);
    const prev = ev.prev === undefined ? cur : this.matches(ev.prev);
    let type: WireType | undefined;
    if (ev.type === 'ADDED') type = cur ? 'ADDED' : undefined;
    else if (ev.type === 'DELETED') type = cur || prev ? 'DELETED' : undefined;
    else if (cur && prev) type = 'MODIFIED';
    else if (cur) type = 'ADDED';
    else if (prev) type = 'DELETED';
    if (type) this.sink.send(type, ev.object, cacheOf(ev));
  }

  bookmark(extraAnnotations?: Record<string, string>): void {
    if (this.closed) return;
    const rv = Math.max(this.lastRv, this.hub.durableRv);
    const object = {
      kind: this.params.info.kind,
      apiVersion: this.params.info.group ? `${this.params.info.group}/v1` : 'v1',
      metadata: { resourceVersion: String(rv), ...(extraAnnotations ? { annotations: extraAnnotations } : {}) },
    };
    this.sink.send('BOOKMARK', object, new EncodedCache(object));
  }

  startTimers(bookmarkMs: number): void {
    if (this.params.allowWatchBookmarks) this.timers.push(setInterval(() => this.bookmark(), bookmarkMs));
    const t = this.params.timeoutSeconds;
    if (t !== undefined && t > 0) this.timers.push(setTimeout(() => this.stop(), t * 1000));
  }

  stop(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.hub.remove(this);
    this.sink.close();
  }
}

export interface WatchHandle {
  stop(): void;
}

export class WatchHub {
  private readonly byResource = new Map<string, Set<Watcher>>();
  durableRv: number;
  private readonly unsubscribe: () => void;

  constructor(
    readonly store: Store,
    private readonly bookmarkMs = 10_000,
    private readonly onCountChange?: (resource: string, n: number) => void,
    private readonly onWatcherError?: (err: Error) => void,
  ) {
    this.durableRv = store.resourceVersion;
    this.unsubscribe = store.subscribe((ev) => {
      this.durableRv = ev.rv;
      const set = this.byResource.get(ev.resource);
      if (!set) return;
      for (const w of set) {
        try {
          w.deliver(ev);
        } catch (e) {
          // One watcher failing (an object its Table printer cannot render, a dead socket)
          // ends that watch only; the client re-watches. Never the write, never the others.
          this.onWatcherError?.(e as Error);
          w.stop();
        }
      }
    });
  }

  get count(): number {
    let n = 0;
    for (const s of this.byResource.values()) n += s.size;
    return n;
  }

  remove(w: Watcher): void {
    const key = resourceKey(w.params.info);
    const set = this.byResource.get(key);
    set?.delete(w);
    this.onCountChange?.(key, set?.size ?? 0);
  }

  /** Starts a watch. Everything up to registration is synchronous, so no event slips between replay and live delivery. */
  start(params: WatchParams, sink: WatchSink): WatchHandle {
    const key = resourceKey(params.info);
    const rvParam = params.resourceVersion;
    const fromState = rvParam === undefined || rvParam === '' || rvParam === '0' || params.sendInitialEvents === true;
    const cache = this.store.cache;
    if (!fromState) {
      const rv = Number(rvParam);
      if (!Number.isInteger(rv) || rv < 0) {
        const status = {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `invalid resourceVersion "${rvParam}": must be a non-negative integer from a list or watch`,
          reason: 'BadRequest',
          code: 400,
        };
        sink.send('ERROR', status, new EncodedCache(status));
        sink.close();
        return { stop: () => {} };
      }
      if (rv > this.store.resourceVersion) {
        // A version this store never issued (the real cacher waits 3 s, then answers this).
        const status = {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `Too large resource version: ${rv}, current: ${this.store.resourceVersion}`,
          reason: 'Timeout',
          details: { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 },
          code: 504,
        };
        sink.send('ERROR', status, new EncodedCache(status));
        sink.close();
        return { stop: () => {} };
      }
      if (!cache.canServeFrom(rv)) {
        // The real cacher's "too old resource version" error watcher (cacher.go newErrWatcher).
        const status = {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: ${rv} (${cache.compactedThrough})`,
          reason: 'Expired',
          code: 410,
        };
        sink.send('ERROR', status, new EncodedCache(status));
        sink.close();
        return { stop: () => {} };
      }
      const w = new Watcher(this, params, sink, rv);
      for (const ev of cache.since(rv)) if (ev.resource === key) w.deliver(ev);
      w.lastRv = Math.max(w.lastRv, this.lastCachedDurable(rv));
      this.register(key, w);
      return w;
    }
    const startRv = this.store.resourceVersion;
    const w = new Watcher(this, params, sink, startRv);
    const objects: KubeObject[] = this.store.list(key, params.namespace).filter((o) => Registry.matches(params.selectors, o));
    for (const o of objects) sink.send('ADDED', o, new EncodedCache(o));
    if (params.sendInitialEvents && params.allowWatchBookmarks) w.bookmark({ 'k8s.io/initial-events-end': 'true' });
    this.register(key, w);
    return w;
  }

  /** Highest durable rv at or after `rv` seen by the hub (events of other resources advance it too). */
  private lastCachedDurable(rv: number): number {
    return Math.max(rv, Math.min(this.durableRv, this.store.resourceVersion));
  }

  private register(key: string, w: Watcher): void {
    let set = this.byResource.get(key);
    if (!set) {
      set = new Set();
      this.byResource.set(key, set);
    }
    set.add(w);
    this.onCountChange?.(key, set.size);
    w.startTimers(this.bookmarkMs);
  }

  close(): void {
    this.unsubscribe();
    for (const set of this.byResource.values()) for (const w of [...set]) w.stop();
  }
}
