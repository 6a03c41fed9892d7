import { describe, expect, it } from 'vitest';
import { BoundedFrequencyRunner } from './bounded-frequency-runner.js';
import { FakeClock } from './testing/fake-clock.js';

function setup(minIntervalMs = 1000, maxIntervalMs = 30_000) {
  const clock = new FakeClock(0);
  const times: number[] = [];
  const runner = new BoundedFrequencyRunner(
    async () => {
      times.push(clock.now());
    },
    { minIntervalMs, maxIntervalMs, burstRuns: 2, clock },
  );
  runner.start();
  return { clock, runner, times };
}

describe('BoundedFrequencyRunner', () => {
  it('coalesces a burst of requests into one run', async () => {
    const { runner, times } = setup();
    for (let i = 0; i < 100; i++) runner.run();
    await runner.settled();
    expect(times).toEqual([0]);
  });

  it('allows burstRuns back to back, then one per minInterval', async () => {
    const { clock, runner, times } = setup(1000);
    runner.run();
    await runner.settled();
    runner.run();
    await runner.settled();
    expect(times).toEqual([0, 0]);
    runner.run();
    runner.run();
    await runner.settled();
    expect(times).toHaveLength(2);
    clock.advance(999);
    await runner.settled();
    expect(times).toHaveLength(2);
    clock.advance(1);
    await runner.settled();
    expect(times).toEqual([0, 0, 1000]);
    // The two requests above were coalesced: nothing more is pending.
    clock.advance(5000);
    await runner.settled();
    expect(times).toEqual([0, 0, 1000]);
  });

  it('runs at least once per maxInterval without requests', async () => {
    const { clock, runner, times } = setup(1000, 30_000);
    clock.advance(30_000);
    await runner.settled();
    clock.advance(30_000);
    await runner.settled();
    expect(times).toEqual([30_000, 60_000]);
    runner.stop();
    clock.advance(90_000);
    await runner.settled();
    expect(times).toHaveLength(2);
  });

  it('retryAfter schedules a run (a failed sync retries after syncPeriod)', async () => {
    const { clock, runner, times } = setup(1000, 30_000);
    runner.retryAfter(5000);
    runner.retryAfter(20_000); // later than the one scheduled: ignored
    clock.advance(5000);
    await runner.settled();
    expect(times).toEqual([5000]);
  });

  it('a request during a run leads to exactly one more run after it', async () => {
    const clock = new FakeClock(0);
    let release: () => void = () => {};
    let runs = 0;
    const runner = new BoundedFrequencyRunner(
      () => {
        runs++;
        return runs === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve();
      },
      { minIntervalMs: 0, maxIntervalMs: 30_000, clock },
    );
    runner.start();
    runner.run();
    await new Promise((r) => setImmediate(r));
    expect(runs).toBe(1);
    runner.run();
    runner.run();
    await new Promise((r) => setImmediate(r));
    expect(runs).toBe(1); // never overlapping
    release();
    await runner.settled();
    expect(runs).toBe(2);
  });

  it('keeps running after fn rejects, reporting the error', async () => {
    const clock = new FakeClock(0);
    const errors: unknown[] = [];
    let runs = 0;
    const runner = new BoundedFrequencyRunner(
      async () => {
        runs++;
        throw new Error('boom');
      },
      { minIntervalMs: 0, maxIntervalMs: 30_000, clock, onError: (e) => errors.push(e) },
    );
    runner.start();
    runner.run();
    await runner.settled();
    runner.run();
    await runner.settled();
    expect(runs).toBe(2);
    expect(errors).toHaveLength(2);
  });

  it('with retryOnErrorMs, retries a rejected run that much later (the policy agent after a refused restore)', async () => {
    const clock = new FakeClock(0);
    const errors: unknown[] = [];
    const times: number[] = [];
    const runner = new BoundedFrequencyRunner(
      async () => {
        times.push(clock.now());
        if (times.length === 1) throw new Error('refused');
      },
      { minIntervalMs: 0, maxIntervalMs: 10_000, clock, retryOnErrorMs: 50, onError: (e) => errors.push(e) },
    );
    runner.start();
    runner.run();
    await runner.settled();
    expect(errors).toHaveLength(1);
    clock.advance(49);
    await runner.settled();
    expect(times).toEqual([0]);
    clock.advance(1);
    await runner.settled();
    expect(times).toEqual([0, 50]);
    // It succeeded: no further retry, only the periodic run.
    clock.advance(5000);
    await runner.settled();
    expect(times).toEqual([0, 50]);
    runner.stop();
  });

  it('a request made before start() is served once started; none after stop()', async () => {
    const clock = new FakeClock(0);
    let runs = 0;
    const runner = new BoundedFrequencyRunner(async () => void runs++, { minIntervalMs: 100, maxIntervalMs: 10_000, clock });
    runner.run();
    await runner.settled();
    expect(runs).toBe(0);
    runner.start();
    await runner.settled();
    expect(runs).toBe(1);
    runner.stop();
    runner.run();
    runner.retryAfter(10);
    clock.advance(20_000);
    await runner.settled();
    expect(runs).toBe(1);
  });

  it('rejects nonsensical periods with a coded error naming the flags', () => {
    const clock = new FakeClock(0);
    const flags = { minInterval: '--min-sync-period', maxInterval: '--sync-period' };
    expect(() => new BoundedFrequencyRunner(async () => {}, { minIntervalMs: 5000, maxIntervalMs: 1000, clock, flags })).toThrow(
      /minInterval \(5000 ms\) <= maxInterval \(1000 ms\).*fix --min-sync-period \/ --sync-period/,
    );
    expect(() => new BoundedFrequencyRunner(async () => {}, { minIntervalMs: -1, maxIntervalMs: 1000, clock })).toThrowError(
      expect.objectContaining({ code: 'PODNET_ERR_RUNNER_CONFIG' }),
    );
    expect(() => new BoundedFrequencyRunner(async () => {}, { minIntervalMs: 0, maxIntervalMs: 0, clock })).toThrow(/maxInterval > 0/);
    expect(() => new BoundedFrequencyRunner(async () => {}, { minIntervalMs: 0, maxIntervalMs: 10, burstRuns: 0, clock })).toThrow(
      /burstRuns \(0\)/,
    );
    expect(() => new BoundedFrequencyRunner(async () => {}, { minIntervalMs: 0, maxIntervalMs: 10, retryOnErrorMs: -5, clock })).toThrow(
      /retryOnErrorMs \(-5\)/,
    );
  });
});
