import { SeededRng } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { Backoff, sleep } from './backoff.js';

describe('Backoff', () => {
  it('doubles from the initial delay up to the cap, with bounded jitter', () => {
    const b = new Backoff(new SeededRng(1), { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.2 });
    const delays = Array.from({ length: 6 }, () => b.next());
    const bases = [100, 200, 400, 800, 1000, 1000];
    delays.forEach((d, i) => {
      const base = bases[i]!;
      expect(d).toBeGreaterThanOrEqual(base);
      expect(d).toBeLessThanOrEqual(Math.min(1000, base * 1.2));
    });
  });
  it('starts over after reset()', () => {
    const b = new Backoff(new SeededRng(2), { initialMs: 50, jitter: 0 });
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(50);
  });
  it('sleep() ends early when its signal aborts', async () => {
    const ac = new AbortController();
    const started = Date.now();
    const p = sleep(10_000, ac.signal);
    ac.abort();
    await p;
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
