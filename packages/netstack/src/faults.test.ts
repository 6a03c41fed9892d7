// Fault injection is deterministic for a seed (DESIGN §6.7): the same frames in, the same frames
// out at the same (fake) times; and each fault does what it says.
import { SeededRng } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../wire/src/testing/fake-clock.js';
import { FaultInjector, type FaultOptions } from './faults.js';
import { twoPodsOnBridge } from './testing/topology.js';
import { settle } from './testing/wait.js';

function run(options: FaultOptions, seed: number, frames = 200) {
  const clock = new FakeClock();
  const f = new FaultInjector(options, clock, new SeededRng(seed));
  const out: string[] = [];
  const drops: string[] = [];
  for (let i = 0; i < frames; i++) {
    f.process(
      Buffer.from([i]),
      (b) => out.push(`${b[0]}@${clock.now().toFixed(3)}`),
      (_b, reason) => drops.push(reason),
    );
    clock.advance(1);
  }
  clock.runAll();
  return { out, drops };
}

describe('fault injection', () => {
  const all: FaultOptions = { loss: 0.1, delayMs: 5, jitterMs: 3, duplicate: 0.05, reorder: 0.1 };

  it('is the same run twice for one seed, and differs for another', () => {
    expect(run(all, 42)).toEqual(run(all, 42));
    expect(run(all, 42).out).not.toEqual(run(all, 43).out);
  });

  it('loses about the configured share', () => {
    const { out, drops } = run({ loss: 0.25 }, 1, 2000);
    expect(drops.length).toBeGreaterThan(400);
    expect(drops.length).toBeLessThan(600);
    expect(out.length + drops.length).toBe(2000);
  });

  it('delays by delay ± jitter', () => {
    const { out } = run({ delayMs: 10, jitterMs: 2 }, 3, 50);
    out.forEach((o) => {
      const [n, at] = o.split('@').map(Number) as [number, number];
      expect(at - n).toBeGreaterThanOrEqual(8);
      expect(at - n).toBeLessThanOrEqual(12);
    });
  });

  it('duplicates and reorders', () => {
    const dup = run({ duplicate: 0.5 }, 4, 100).out.map((o) => o.split('@')[0]);
    expect(dup.length).toBeGreaterThan(120);
    const reordered = run({ reorder: 0.3 }, 5, 100).out.map((o) => Number(o.split('@')[0]));
    expect(reordered).toHaveLength(100);
    expect(reordered).not.toEqual([...reordered].sort((a, b) => a - b));
  });

  it('rate-limits: 1000-byte frames at 80 kbit/s leave 100 ms apart', () => {
    const clock = new FakeClock();
    const f = new FaultInjector({ rateBitsPerSecond: 80_000 }, clock, new SeededRng(1));
    const times: number[] = [];
    for (let i = 0; i < 3; i++)
      f.process(
        Buffer.alloc(1000),
        () => times.push(clock.now()),
        () => {},
      );
    clock.runAll();
    expect(times).toEqual([100, 200, 300]);
  });

  it('refuses nonsense options', () => {
    expect(() => new FaultInjector({ loss: 2 }, new FakeClock(), new SeededRng(1))).toThrow(/probability/);
    expect(() => new FaultInjector({ rateBitsPerSecond: 0 }, new FakeClock(), new SeededRng(1))).toThrow(/> 0/);
  });
});

describe('faults on a live link', () => {
  it('delay on both pods adds exactly to the RTT on the fake clock; loss 1 loses the ping', async () => {
    const clock = new FakeClock();
    const t = twoPodsOnBridge({ clock });
    // Resolve ARP first, without faults.
    const warm = t.a.ns.ping(t.b.ip, { timeoutMs: 1000 });
    await settle();
    await warm;
    t.a.ns.setFaults('eth0', { delayMs: 30 });
    t.b.ns.setFaults('eth0', { delayMs: 20 });
    const p = t.a.ns.ping(t.b.ip, { timeoutMs: 1000 });
    for (let i = 0; i < 6; i++) {
      await settle(3);
      clock.advance(10);
    }
    await settle();
    expect((await p).rttMs).toBe(50);
    t.a.ns.setFaults('eth0', { loss: 1 });
    const lost = t.a.ns.ping(t.b.ip, { timeoutMs: 100 }).catch((e) => e);
    await settle();
    clock.advance(100);
    expect(await lost).toMatchObject({ code: 'PODNET_ERR_PING_TIMEOUT' });
    expect(t.a.eth0.counters.dropped('fault-loss')).toBe(1);
    expect(() => t.a.ns.setFaults('eth0', { loss: -1 })).toThrow(/probability/);
    await t.close();
  });
});
