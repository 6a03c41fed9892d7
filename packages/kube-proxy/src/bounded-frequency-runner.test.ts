import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../wire/src/testing/fake-clock.js';
import { BoundedFrequencyRunner } from './bounded-frequency-runner.js';

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

  it('rejects nonsensical periods with a configuration error', () => {
    const clock = new FakeClock(0);
    expect(() => new BoundedFrequencyRunner(async () => {}, { minIntervalMs: 5000, maxIntervalMs: 1000, clock })).toThrow(
      /minInterval \(5000 ms\) <= maxInterval \(1000 ms\)/,
    );
    expect(() => new BoundedFrequencyRunner(async () => {}, { minIntervalMs: -1, maxIntervalMs: 1000, clock })).toThrowError(
      expect.objectContaining({ code: 'PODNET_ERR_KUBE_PROXY_CONFIG' }),
    );
  });
});
