import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { proportionalScale, type RsState, resolveFenceposts, rollingStep, scaledValue } from './rolling.js';
import { computeTemplateHash, fnv1a32, safeEncodeString } from './template-hash.js';

describe('fenceposts', () => {
  it('rounds surge up and unavailable down, and never lets both be 0', () => {
    expect(resolveFenceposts('25%', '25%', 3)).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(resolveFenceposts('25%', '25%', 3).maxUnavailable).toBe(0);
    expect(resolveFenceposts(0, 0, 3)).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(resolveFenceposts(1, 0, 3)).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(resolveFenceposts('50%', '50%', 10)).toEqual({ maxSurge: 5, maxUnavailable: 5 });
    expect(() => scaledValue('abc', 3, true, 0)).toThrow(/neither an integer nor a percentage/);
  });
});

describe('rollingStep', () => {
  it('maxSurge=1, maxUnavailable=0 on 3 replicas: surge one, then remove one old pod per ready new pod', () => {
    const fp = resolveFenceposts(1, 0, 3);
    const old: RsState = { name: 'old', replicas: 3, available: 3, created: 1 };
    const fresh: RsState = { name: 'new', replicas: 0, available: 0, created: 2 };
    expect(rollingStep(3, fp, fresh, [old])).toEqual({ kind: 'scale', why: 'scale-up-new', targets: [{ name: 'new', replicas: 1 }] });
    // The new pod is not ready yet: nothing may go.
    expect(rollingStep(3, fp, { ...fresh, replicas: 1 }, [old])).toEqual({ kind: 'none' });
    expect(rollingStep(3, fp, { ...fresh, replicas: 1, available: 1 }, [old])).toEqual({
      kind: 'scale',
      why: 'scale-down-old',
      targets: [{ name: 'old', replicas: 2 }],
    });
  });

  it('never exceeds desired+maxSurge pods nor drops below desired-maxUnavailable available (simulated rollouts)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.boolean(), { minLength: 200, maxLength: 200 }),
        (desired, surge, unavail, readyCoin) => {
          const fp = resolveFenceposts(surge, unavail, desired);
          const old: RsState = { name: 'old', replicas: desired, available: desired, created: 1 };
          const fresh: RsState = { name: 'new', replicas: 0, available: 0, created: 2 };
          let coin = 0;
          for (let step = 0; step < 200; step++) {
            const r = rollingStep(desired, fp, fresh, [old]);
            if (r.kind === 'scale') {
              for (const t of r.targets) {
                const rs = t.name === 'new' ? fresh : old;
                rs.replicas = t.replicas;
                rs.available = Math.min(rs.available, rs.replicas);
              }
            } else if (fresh.available < fresh.replicas && readyCoin[coin++ % readyCoin.length]) {
              fresh.available++; // a new pod became ready
            } else if (fresh.available < fresh.replicas) {
              fresh.available++;
            }
            expect(old.replicas + fresh.replicas).toBeLessThanOrEqual(desired + fp.maxSurge);
            expect(old.available + fresh.available).toBeGreaterThanOrEqual(Math.min(desired, desired - fp.maxUnavailable));
            if (fresh.replicas === desired && fresh.available === desired && old.replicas === 0) return;
          }
          throw new Error(`rollout did not finish: old=${JSON.stringify(old)} new=${JSON.stringify(fresh)}`);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('pod-template-hash', () => {
  it('is FNV-1a over canonical JSON, in the safe alphabet, stable under key order, changed by the collision count', () => {
    expect(fnv1a32(new TextEncoder().encode('a'))).toBe(0xe40c292c); // FNV-1a test vector for "a"
    expect(safeEncodeString('0123456789')).toBe('456789bcdf');
    const a = computeTemplateHash({ metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } });
    const b = computeTemplateHash({ spec: { containers: [{ image: 'x', name: 'c' }] }, metadata: { labels: { app: 'web' } } });
    expect(a).toBe(b);
    expect(a).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    expect(computeTemplateHash({ x: 1 }, 1)).not.toBe(computeTemplateHash({ x: 1 }));
  });
});

describe('proportionalScale', () => {
  it('spreads a scale-up over the active ReplicaSets by size (sync.go scale)', () => {
    // 10 replicas, maxSurge 3: old 8 + new 5 = 13 = max. Scale to 20 (max 23): +10 in proportion.
    const r = proportionalScale(20, 3, [
      { name: 'old', replicas: 8, created: 1, maxReplicasAnnotation: 13 },
      { name: 'new', replicas: 5, created: 2, maxReplicasAnnotation: 13 },
    ]);
    expect(r.get('old')! + r.get('new')!).toBe(23);
    expect(r.get('old')).toBe(14); // 8 × 23/13 ≈ 14.15
    expect(r.get('new')).toBe(9); // 5 × 23/13 ≈ 8.85
  });
  it('spreads a scale-down, and scales everything to 0 for 0 replicas', () => {
    const r = proportionalScale(5, 1, [
      { name: 'old', replicas: 6, created: 1, maxReplicasAnnotation: 11 },
      { name: 'new', replicas: 5, created: 2, maxReplicasAnnotation: 11 },
    ]);
    expect(r.get('old')! + r.get('new')!).toBe(6);
    expect(r.get('old')).toBe(3);
    expect(r.get('new')).toBe(3);
    const z = proportionalScale(0, 0, [
      { name: 'a', replicas: 3, created: 1, maxReplicasAnnotation: 4 },
      { name: 'b', replicas: 1, created: 2, maxReplicasAnnotation: 4 },
    ]);
    expect([...z.values()]).toEqual([0, 0]);
  });
  it('always lands exactly on desired + maxSurge from a consistent state', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 0, max: 5 }),
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 2, maxLength: 4 }),
        (desired, surge, sizes) => {
          // Every ReplicaSet was last scaled for the current total (its max-replicas annotation).
          const total = sizes.reduce((a, b) => a + b, 0);
          const r = proportionalScale(
            desired,
            surge,
            sizes.map((replicas, i) => ({ name: `rs${i}`, replicas, created: i, maxReplicasAnnotation: total })),
          );
          const after = [...r.values()].reduce((a, b) => a + b, 0);
          expect([...r.values()].every((v) => v >= 0)).toBe(true);
          expect(after).toBe(desired === 0 ? 0 : desired + surge);
        },
      ),
    );
  });
});
