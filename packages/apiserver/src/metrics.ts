// Prometheus metrics (prom-client), named as the real apiserver's where one exists
// (apiserver pkg/endpoints/metrics/metrics.go), podnet_ for the store.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from './store/store.js';

export class ApiMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'verb' | 'resource' | 'code'>;
  readonly duration: Histogram<'verb' | 'resource'>;
  readonly watchers: Gauge<'resource'>;
  readonly longrunning: Gauge<'verb' | 'resource'>;
  readonly walSync: Histogram;
  readonly walBatch: Histogram;
  readonly snapshotDuration: Histogram;
  readonly snapshotBytes: Gauge;
  private store?: Store;

  constructor() {
    this.registry.setDefaultLabels({ component: 'apiserver' });
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'apiserver_request_total',
      help: 'Counter of apiserver requests broken out for each verb, resource and HTTP response code.',
      labelNames: ['verb', 'resource', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'apiserver_request_duration_seconds',
      help: 'Response latency distribution in seconds for each verb and resource.',
      labelNames: ['verb', 'resource'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 5, 10, 30, 60],
      registers,
    });
    this.watchers = new Gauge({
      name: 'apiserver_registered_watchers',
      help: 'Number of currently registered watchers for a given resource.',
      labelNames: ['resource'],
      registers,
    });
    this.longrunning = new Gauge({
      name: 'apiserver_longrunning_requests',
      help: 'Gauge of all active long-running apiserver requests broken out by verb and resource.',
      labelNames: ['verb', 'resource'],
      registers,
    });
    const self = this;
    new Gauge({
      name: 'apiserver_storage_objects',
      help: 'Number of stored objects at the time of last check split by kind.',
      labelNames: ['resource'],
      registers,
      collect() {
        const s = self.store;
        if (!s) return;
        for (const r of s.resources()) this.set({ resource: r.replace(/^core\//, '').replace(/^(.+)\/(.+)$/, '$2.$1') }, s.count(r));
      },
    });
    new Gauge({
      name: 'podnet_store_resource_version',
      help: 'The current resourceVersion of the store.',
      registers,
      collect() {
        if (self.store) this.set(self.store.resourceVersion);
      },
    });
    this.walSync = new Histogram({
      name: 'podnet_wal_fsync_duration_seconds',
      help: 'Time of one write-ahead log batch write plus fdatasync.',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.walBatch = new Histogram({
      name: 'podnet_wal_batch_records',
      help: 'Records committed by one fdatasync (group commit).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024],
      registers,
    });
    this.snapshotDuration = new Histogram({
      name: 'podnet_snapshot_duration_seconds',
      help: 'Time to write one store snapshot.',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.snapshotBytes = new Gauge({ name: 'podnet_snapshot_bytes', help: 'Size of the last store snapshot.', registers });
  }

  attach(store: Store): void {
    this.store = store;
  }
}
