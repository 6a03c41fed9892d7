import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../wire/src/testing/fake-clock.js';
import { SyncRunner } from './sync-runner.js';

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('SyncRunner', () => {
  it('runs a burst of two at once, then once per minInterval, coalescing requests', async () => {
    const clock = new FakeClock(0);
    let runs = 0;
    const r = new SyncRunner(async () => void runs++, { clock, minIntervalMs: 100, maxIntervalMs: 10_000 });
    r.start();
    r.run();
    await r.settled();
    r.run();
    await r.settled();
    for (let i = 0; i < 10; i++) r.run();
    await flush();
    expect(runs).toBe(2);
    clock.advance(100);
    await r.settled();
    expect(runs).toBe(3);
    clock.advance(10_000);
    await r.settled();
    expect(runs).toBe(4);
    r.stop();
  });

  it('retries a failed run and reports the error', async () => {
    const clock = new FakeClock(0);
    const errors: unknown[] = [];
    let calls = 0;
    const r = new SyncRunner(
      async () => {
        calls++;
        if (calls === 1) throw new Error('refused');
      },
      { clock, minIntervalMs: 0, maxIntervalMs: 10_000, retryMs: 50, onError: (e) => errors.push(e) },
    );
    r.start();
    r.run();
    await flush();
    expect(errors).toHaveLength(1);
    clock.advance(50);
    await r.settled();
    expect(calls).toBe(2);
    r.stop();
  });

  it('refuses nonsense intervals', () => {
    expect(() => new SyncRunner(async () => {}, { clock: new FakeClock(0), minIntervalMs: 10, maxIntervalMs: 5 })).toThrow(
      /PODNET_ERR|minIntervalMs/,
    );
  });
});
