// An informer: list, then watch from the list's resourceVersion, keeping a Store current and
// calling handlers on add/update/delete. It follows client-go's Reflector (tools/cache/
// reflector.go `ListAndWatch`):
// - a watch that ends normally is reopened from the last resourceVersion seen (no relist);
// - a watch or list that fails (server down, restarting) is retried with back-off, again from the
//   last resourceVersion, so nothing is missed when the server's watch cache still has it;
// - 410 Gone (an ERROR event with code 410, or a 410 answer to the upgrade) means that version was
//   compacted away: relist, and turn the difference into add/update/delete calls (`Replace` in
//   delta_fifo.go);
// - bookmarks (allowWatchBookmarks) advance the resourceVersion without changing objects.
// An update handler runs only when the resourceVersion changed (client-go's informers deliver every
// resync; podnet's components only care about real changes).
import { cryptoRng, type Rng } from '@podnet/wire';
import { Backoff, type BackoffOptions, sleep } from './backoff.js';
import { GoneError } from './errors.js';
import { componentLogger, type Logger } from './logger.js';
import { type KubeObject, objectKey } from './object.js';
import type { ResourceClient } from './rest-client.js';
import { type IndexFunc, Store } from './store.js';
import type { Watch, WatchEvent } from './watch.js';

export interface EventHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions<T> {
  namespace?: string;
  labelSelector?: string | Record<string, string>;
  fieldSelector?: string | Record<string, string>;
  indexers?: Record<string, IndexFunc<T>>;
  /** Page size of the initial list. Default 500 (as kubectl and client-go use). */
  pageSize?: number;
  backoff?: BackoffOptions;
  rng?: Rng;
  logger?: Logger;
  /** The `component` of the log lines. Default "informer". */
  component?: string;
}

export interface InformerStats {
  lists: number;
  watches: number;
  /** Relists caused by 410 Gone. */
  relists: number;
  /** Watches that ended with an error (server gone, bad frame) and were retried. */
  watchErrors: number;
  /** The subprotocol of the last watch ("" for JSON text frames). */
  watchSubprotocol?: string;
}

export class Informer<T extends KubeObject> {
  readonly store: Store<T>;
  readonly stats: InformerStats = { lists: 0, watches: 0, relists: 0, watchErrors: 0 };
  readonly #rc: ResourceClient<T>;
  readonly #opts: InformerOptions<T>;
  readonly #handlers: EventHandlers<T>[] = [];
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #abort = new AbortController();
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #running: Promise<void> | undefined;
  #watch: Watch<T> | undefined;
  #resourceVersion: string | undefined;

  constructor(rc: ResourceClient<T>, opts: InformerOptions<T> = {}) {
    this.#rc = rc;
    this.#opts = opts;
    this.store = new Store<T>(opts.indexers);
    this.#log = (opts.logger ?? componentLogger(opts.component ?? 'informer')).child({ resource: rc.info.resource });
    this.#backoff = new Backoff(opts.rng ?? cryptoRng, { initialMs: 200, maxMs: 5000, ...opts.backoff });
  }

  /** Adds handlers; objects already in the cache are delivered to `add` at once, as client-go does. */
  addEventHandler(h: EventHandlers<T>): void {
    this.#handlers.push(h);
    if (h.add) for (const obj of this.store.list()) this.#call(() => h.add?.(obj));
  }

  /** The resourceVersion the cache is at (the last list, event or bookmark). */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves when the first list has been applied; rejects after timeoutMs. */
  waitForSync(timeoutMs = 30_000): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`informer for ${this.#rc.info.resource} did not sync within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#syncWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  start(): void {
    this.#running ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#watch?.close();
    await this.#running;
  }

  async #run(): Promise<void> {
    let needList = true;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.#list();
          needList = false;
        }
        const opened = Date.now();
        let events = 0;
        const watch = await this.#rc.watch({
          namespace: this.#opts.namespace,
          labelSelector: this.#opts.labelSelector,
          fieldSelector: this.#opts.fieldSelector,
          resourceVersion: this.#resourceVersion,
          allowWatchBookmarks: true,
        });
        this.stats.watches++;
        this.stats.watchSubprotocol = watch.codec.subprotocol;
        if (signal.aborted) {
          watch.close();
          break;
        }
        this.#watch = watch;
        let gone = false;
        watch.on('event', (ev) => {
          events++;
          if (this.#apply(ev) === 'gone') {
            gone = true;
            watch.close();
          }
        });
        const end = await watch.ended;
        this.#watch = undefined;
        if (signal.aborted) break;
        if (gone) {
          this.stats.relists++;
          needList = true;
          this.#log.info({ resourceVersion: this.#resourceVersion }, 'watch: resourceVersion too old (410), relisting');
          continue;
        }
        if (end.by === 'error') {
          this.stats.watchErrors++;
          if (events > 0) this.#backoff.reset(); // it worked for a while: retry quickly
          this.#log.warn({ err: end.error?.message }, 'watch failed; retrying from the last resourceVersion');
          await sleep(this.#backoff.next(), signal);
          continue;
        }
        // A normal close (server timeout or shutdown): reopen at once, unless it closed at once
        // without telling anything, which would spin.
        if (events === 0 && Date.now() - opened < 1000) await sleep(this.#backoff.next(), signal);
        else this.#backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof GoneError) {
          this.stats.relists++;
          needList = true;
          this.#log.info('watch refused with 410 Gone; relisting');
          continue;
        }
        this.stats.watchErrors++;
        this.#log.warn({ err: (err as Error).message }, needList ? 'list failed; retrying' : 'watch failed to open; retrying');
        await sleep(this.#backoff.next(), signal);
      }
    }
  }

  async #list(): Promise<void> {
    const list = await this.#rc.listAll({
      namespace: this.#opts.namespace,
      labelSelector: this.#opts.labelSelector,
      fieldSelector: this.#opts.fieldSelector,
      limit: this.#opts.pageSize ?? 500,
      signal: this.#abort.signal,
    });
    this.stats.lists++;
    this.#replace(list.items);
    this.#resourceVersion = list.metadata.resourceVersion;
    this.#backoff.reset();
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
  }

  /** Makes the cache equal to a fresh list, delivering the differences. */
  #replace(items: T[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      seen.add(objectKey(obj));
      this.#upsert(obj);
    }
    for (const key of this.store.keys()) {
      if (seen.has(key)) continue;
      const old = this.store.remove(key);
      if (old) this.#dispatch('delete', old);
    }
  }

  #upsert(obj: T): void {
    const old = this.store.get(objectKey(obj));
    if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    this.store.upsert(obj);
    if (old) this.#dispatch('update', old, obj);
    else this.#dispatch('add', obj);
  }

  #apply(ev: WatchEvent<T>): 'ok' | 'gone' {
    if (ev.type === 'ERROR') {
      const status = ev.object as { code?: number; reason?: string; message?: string };
      if (status.code === 410 || status.reason === 'Expired' || status.reason === 'Gone') return 'gone';
      this.#log.warn({ status }, 'watch ERROR event');
      return 'ok';
    }
    const rv = ev.object.metadata?.resourceVersion;
    if (rv) this.#resourceVersion = rv;
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.#upsert(ev.object);
        break;
      case 'DELETED': {
        const old = this.store.remove(objectKey(ev.object));
        // Deleted before we saw it, or seen already deleted by a relist: nothing to report.
        if (old) this.#dispatch('delete', ev.object);
        break;
      }
      case 'BOOKMARK':
        break;
    }
    return 'ok';
  }

  #dispatch(kind: keyof EventHandlers<T>, a: T, b?: T): void {
    for (const h of this.#handlers) {
      if (kind === 'add') this.#call(() => h.add?.(a));
      else if (kind === 'delete') this.#call(() => h.delete?.(a));
      else this.#call(() => h.update?.(a, b as T));
    }
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // A failing handler must not stop the informer or starve the other handlers.
      this.#log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'event handler threw');
    }
  }
}
