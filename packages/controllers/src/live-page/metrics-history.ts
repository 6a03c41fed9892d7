// The live page's charts without Prometheus: the control plane scrapes every node's cni-agent
// (tunnel counters) and kube-proxy (network programming latency) itself and keeps the last few
// minutes in memory. Each point is what happened since the previous scrape (rates from counter
// deltas, a p99 from histogram bucket deltas), as rate() and histogram_quantile() would show it.
import { bucketDelta, bucketsOf, histogramQuantile, type PromSample, parsePromText, sumOf } from './prom-text.js';

export interface ScrapeTarget {
  node: string;
  component: 'cni-agent' | 'kube-proxy';
  url: string;
}

export interface HistoryPoint {
  /** Unix milliseconds of the scrape. */
  time: number;
  /** Encapsulation overhead bytes / inner bytes sent in the interval, per backend (absent: no traffic). */
  overheadRatio: Record<string, number>;
  /** Inner and wire bytes per second sent by all nodes in the interval. */
  innerBytesPerSecond: number;
  wireBytesPerSecond: number;
  /** p99 of kubeproxy_network_programming_duration_seconds over the interval (absent: no sample). */
  programmingP99Seconds?: number;
  /** The same p99 over everything since the kube-proxies started. */
  programmingP99SecondsTotal?: number;
  /** Targets that answered / were asked. */
  up: number;
  targets: number;
}

interface Totals {
  time: number;
  overhead: Map<string, number>;
  inner: Map<string, number>;
  wire: number;
  innerAll: number;
  programming: Map<number, number>;
}

export interface MetricsHistoryOptions {
  targets(): ScrapeTarget[];
  intervalMs?: number;
  retentionMs?: number;
  /** Per-target fetch timeout. */
  timeoutMs?: number;
  fetchText?(url: string, timeoutMs: number): Promise<string>;
  now?(): number;
}

async function fetchText(url: string, timeoutMs: number): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.text();
}

export class MetricsHistory {
  readonly intervalMs: number;
  readonly retentionMs: number;
  readonly #options: MetricsHistoryOptions;
  readonly #points: HistoryPoint[] = [];
  readonly #listeners = new Set<(p: HistoryPoint) => void>();
  #previous: Totals | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(options: MetricsHistoryOptions) {
    this.#options = options;
    this.intervalMs = options.intervalMs ?? 2000;
    this.retentionMs = options.retentionMs ?? 5 * 60_000;
  }

  start(): void {
    if (this.#timer) return;
    const tick = () => {
      void this.scrapeOnce().finally(() => {
        if (this.#running) this.#timer = setTimeout(tick, this.intervalMs);
      });
    };
    this.#running = true;
    this.#timer = setTimeout(tick, 0);
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  points(): HistoryPoint[] {
    return [...this.#points];
  }

  onPoint(listener: (p: HistoryPoint) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** One scrape of every target; returns the new point (undefined for the first scrape, which has no interval yet). */
  async scrapeOnce(): Promise<HistoryPoint | undefined> {
    const targets = this.#options.targets();
    const timeoutMs = this.#options.timeoutMs ?? 1500;
    const get = this.#options.fetchText ?? fetchText;
    const results = await Promise.allSettled(targets.map((t) => get(t.url, timeoutMs)));
    const samples: PromSample[] = [];
    let up = 0;
    for (const r of results)
      if (r.status === 'fulfilled') {
        up++;
        samples.push(...parsePromText(r.value));
      }
    const time = this.#options.now?.() ?? Date.now();
    const backends = new Set(samples.filter((s) => s.name === 'podnet_tunnel_inner_bytes_total').map((s) => s.labels.backend ?? ''));
    const totals: Totals = {
      time,
      overhead: new Map(
        [...backends].map((b) => [b, sumOf(samples, 'podnet_tunnel_overhead_bytes_total', { backend: b, direction: 'tx' })]),
      ),
      inner: new Map([...backends].map((b) => [b, sumOf(samples, 'podnet_tunnel_inner_bytes_total', { backend: b, direction: 'tx' })])),
      wire: sumOf(samples, 'podnet_tunnel_wire_bytes_total', { direction: 'tx' }),
      innerAll: sumOf(samples, 'podnet_tunnel_inner_bytes_total', { direction: 'tx' }),
      programming: bucketsOf(samples, 'kubeproxy_network_programming_duration_seconds'),
    };
    const prev = this.#previous;
    this.#previous = totals;
    if (!prev) return undefined;
    const seconds = Math.max(0.001, (time - prev.time) / 1000);
    const overheadRatio: Record<string, number> = {};
    for (const b of backends) {
      // A restarted agent resets its counters: a negative delta is "no data", not a negative rate.
      const inner = (totals.inner.get(b) ?? 0) - (prev.inner.get(b) ?? 0);
      const overhead = (totals.overhead.get(b) ?? 0) - (prev.overhead.get(b) ?? 0);
      if (inner > 0 && overhead >= 0) overheadRatio[b] = overhead / inner;
    }
    const point: HistoryPoint = {
      time,
      overheadRatio,
      innerBytesPerSecond: Math.max(0, totals.innerAll - prev.innerAll) / seconds,
      wireBytesPerSecond: Math.max(0, totals.wire - prev.wire) / seconds,
      up,
      targets: targets.length,
    };
    const p99 = histogramQuantile(0.99, bucketDelta(totals.programming, prev.programming));
    if (p99 !== undefined) point.programmingP99Seconds = p99;
    const p99Total = histogramQuantile(0.99, totals.programming);
    if (p99Total !== undefined) point.programmingP99SecondsTotal = p99Total;
    this.#points.push(point);
    while (this.#points.length > 0 && (this.#points[0] as HistoryPoint).time < time - this.retentionMs) this.#points.shift();
    for (const l of this.#listeners) l(point);
    return point;
  }
}
