// A metric whose samples are computed at scrape time from plain numbers the data plane keeps
// (Prometheus' "custom collector" pattern, client_golang's prometheus.Collector): the per-frame
// path only adds to numbers in a Map, never hashes a label set, and a scrape turns them into
// samples. prom-client's Registry accepts any object with name/help/type and get() (registry.js
// getMetricsAsString), so these live in the same registry as its own Counters and Gauges.
import type { Metric, Registry } from 'prom-client';

export type Labels = Record<string, string>;
export interface Sample {
  labels: Labels;
  value: number;
  /** `_bucket`, `_sum`, `_count` for histograms; the metric's own name otherwise. */
  metricName?: string;
}

export interface SnapshotMetricOptions {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  collect(): Sample[];
}

export function registerSnapshotMetric(registry: Registry, options: SnapshotMetricOptions): void {
  const metric = {
    name: options.name,
    help: options.help,
    type: options.type,
    aggregator: 'sum',
    get: async () => ({ name: options.name, help: options.help, type: options.type, aggregator: 'sum', values: options.collect() }),
    reset: () => {},
  };
  registry.registerMetric(metric as unknown as Metric);
}

/** Cumulative histogram buckets kept as plain counts (Prometheus histogram semantics: le is inclusive). */
export class BucketCounts {
  readonly bounds: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length).fill(0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (value <= (b[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        return;
      }
    }
  }
  /** The `_bucket` (cumulative, with +Inf), `_sum` and `_count` samples of one label set. */
  samples(name: string, labels: Labels): Sample[] {
    const out: Sample[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i] as number;
      out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: String(this.bounds[i]) }, value: cumulative });
    }
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: this.count });
    out.push({ metricName: `${name}_sum`, labels, value: this.sum });
    out.push({ metricName: `${name}_count`, labels, value: this.count });
    return out;
  }
}

/** 1 µs … 16.4 ms doubling: encapsulating one frame takes microseconds, a loaded event loop milliseconds. */
export const TUNNEL_DURATION_BUCKETS: readonly number[] = Array.from({ length: 15 }, (_, k) => Number((1e-6 * 2 ** k).toPrecision(6)));
