// The live page's Prometheus text parser and histogram_quantile, checked against what prom-client
// prints and against Prometheus' bucketQuantile rules (linear interpolation, first bucket from 0,
// +Inf answers the highest finite bound).
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { bucketDelta, bucketsOf, histogramQuantile, parsePromText, sumOf } from './prom-text.js';

describe('parsePromText', () => {
  it('reads prom-client output: labels with escapes, histograms, +Inf', async () => {
    const r = new Registry();
    r.setDefaultLabels({ component: 'x', node: 'node-1' });
    const h = new Histogram({ name: 'lat_seconds', help: 'h', buckets: [0.25, 0.5, 1], labelNames: ['path'], registers: [r] });
    h.observe({ path: 'a "quoted" \\ path' }, 0.3);
    h.observe({ path: 'b' }, 2);
    const samples = parsePromText(await r.metrics());
    expect(samples.find((s) => s.name === 'lat_seconds_count' && s.labels.path === 'a "quoted" \\ path')?.value).toBe(1);
    expect(sumOf(samples, 'lat_seconds_count')).toBe(2);
    const buckets = bucketsOf(samples, 'lat_seconds');
    expect([...buckets]).toEqual([
      [0.25, 0],
      [0.5, 1],
      [1, 1],
      [Number.POSITIVE_INFINITY, 2],
    ]);
    expect(samples.every((s) => s.labels.node === 'node-1')).toBe(true);
  });

  it('skips comments and garbage lines', () => {
    expect(parsePromText('# HELP a b\n\nnot a sample line at all {\na_total 3\nb{x="1"} 2 1700000000\n')).toEqual([
      { name: 'a_total', labels: {}, value: 3 },
      { name: 'b', labels: { x: '1' }, value: 2 },
    ]);
  });
});

describe('histogramQuantile', () => {
  const b = (pairs: Array<[number, number]>) => new Map(pairs);
  it('interpolates linearly inside the bucket', () => {
    // 100 observations: 50 ≤ 1 s, 100 ≤ 2 s → p99 is 99% of the way to rank 99 in (1, 2].
    expect(
      histogramQuantile(
        0.99,
        b([
          [1, 50],
          [2, 100],
          [Number.POSITIVE_INFINITY, 100],
        ]),
      ),
    ).toBeCloseTo(1.98, 12);
    expect(
      histogramQuantile(
        0.5,
        b([
          [1, 50],
          [2, 100],
          [Number.POSITIVE_INFINITY, 100],
        ]),
      ),
    ).toBe(1);
    // The first bucket starts at 0.
    expect(
      histogramQuantile(
        0.5,
        b([
          [0.25, 10],
          [Number.POSITIVE_INFINITY, 10],
        ]),
      ),
    ).toBe(0.125);
  });
  it('answers the highest finite bound for a rank in +Inf, and undefined without observations', () => {
    expect(
      histogramQuantile(
        0.99,
        b([
          [1, 1],
          [2, 1],
          [Number.POSITIVE_INFINITY, 10],
        ]),
      ),
    ).toBe(2);
    expect(
      histogramQuantile(
        0.99,
        b([
          [1, 0],
          [Number.POSITIVE_INFINITY, 0],
        ]),
      ),
    ).toBeUndefined();
    expect(histogramQuantile(0.99, b([[1, 3]]))).toBeUndefined();
  });
  it('bucketDelta subtracts an earlier scrape (and never goes negative after a reset)', () => {
    const d = bucketDelta(
      b([
        [1, 5],
        [Number.POSITIVE_INFINITY, 9],
      ]),
      b([
        [1, 2],
        [Number.POSITIVE_INFINITY, 12],
      ]),
    );
    expect([...d]).toEqual([
      [1, 3],
      [Number.POSITIVE_INFINITY, 0],
    ]);
  });
});
