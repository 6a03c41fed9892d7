// The watch cache: the most recent events, so a watch can resume from a resourceVersion
// (apiserver pkg/storage/cacher/watch_cache.go keeps a bounded cyclic buffer the same way).
// A resume from R needs every event after R; it is possible exactly when no event after R
// was dropped from the buffer: R >= compactedThrough. Only then is "too old resource version"
// (410 Expired) the answer.

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  type: EventType;
  resource: string;
  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
  object: Record<string, any>;
  /** The object before this event (for selector transitions), when known. */
  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
  prev?: Record<string, any>;
}

export class WatchCache {
  private events: StoreEvent[] = [];
  private start = 0; // index of the oldest event in `events` (amortised shift)
  /** The highest resourceVersion whose event was dropped (0 when nothing was). */
  compactedThrough = 0;
  /** Versions applied in memory but not yet durable (never served to watchers). */
  private pending = new Set<number>();

  constructor(readonly capacity: number) {}

  add(ev: StoreEvent): void {
    this.events.push(ev);
    if (this.events.length - this.start > this.capacity) {
      const dropped = this.events[this.start] as StoreEvent;
      this.compactedThrough = dropped.rv;
      this.start++;
      if (this.start > 4096 && this.start * 2 > this.events.length) {
        this.events = this.events.slice(this.start);
        this.start = 0;
      }
    }
  }

  markPending(rv: number): void {
    this.pending.add(rv);
  }

  markDurable(rv: number): void {
    this.pending.delete(rv);
  }

  /** True when events after `rv` are all still in the cache. */
  canServeFrom(rv: number): boolean {
    return rv >= this.compactedThrough;
  }

  /** Durable events with rv > `after`, oldest first. Throws nothing: check canServeFrom first. */
  since(after: number): StoreEvent[] {
    const out: StoreEvent[] = [];
    // Binary search the first index with rv > after.
    let lo = this.start;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.events[mid] as StoreEvent).rv <= after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.events.length; i++) {
      const ev = this.events[i] as StoreEvent;
      if (this.pending.has(ev.rv)) break;
      out.push(ev);
    }
    return out;
  }

  /** The oldest resourceVersion still cached, for the 410 message. */
  get oldest(): number {
    return (this.events[this.start] as StoreEvent | undefined)?.rv ?? this.compactedThrough + 1;
  }

  get size(): number {
    return this.events.length - this.start;
  }

  durableEvents(): StoreEvent[] {
    return this.events
      .slice(this.start)
      .filter((e) => !this.pending.has(e.rv))
      .map(({ prev: _prev, ...e }) => e);
  }

  restore(events: StoreEvent[], compactedThrough: number): void {
    this.events = [];
    this.start = 0;
    this.compactedThrough = compactedThrough;
    for (const e of events) this.add(e);
  }
}
