import { describe, expect, it } from 'vitest';
import { PolicyChangeTracker } from './change-tracker.js';
import type { Pod } from './types.js';

const pod = (labels: Record<string, string>, extra: Partial<Pod['status']> = {}): Pod => ({
  metadata: { namespace: 'x', name: 'a', labels },
  spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ name: 'web', containerPort: 80 }] }] },
  status: { phase: 'Running', podIP: '10.244.1.5', ...extra },
});

describe('PolicyChangeTracker', () => {
  it('keeps {previous, current} per object and drops changes the renderer cannot see', () => {
    const t = new PolicyChangeTracker();
    expect(t.update('pod', undefined, pod({ pod: 'a' }))).toBe(true);
    t.drain();
    // Same labels, IP, node and ports: a status-only update is a no-op.
    expect(
      t.update('pod', pod({ pod: 'a' }), {
        ...pod({ pod: 'a' }),
        metadata: { namespace: 'x', name: 'a', labels: { pod: 'a' }, resourceVersion: '7' },
      }),
    ).toBe(false);
    expect(t.pendingCount).toBe(0);
    expect(t.update('pod', pod({ pod: 'a' }), pod({ pod: 'a', tier: 'web' }))).toBe(true);
    // ...and back again before the sync: the two changes cancel out.
    expect(t.update('pod', pod({ pod: 'a', tier: 'web' }), pod({ pod: 'a' }))).toBe(true);
    expect(t.pendingCount).toBe(0);
    expect(t.update('pod', pod({ pod: 'a' }), pod({ pod: 'a' }, { podIP: '10.244.1.6' }))).toBe(true);
    const changes = t.drain();
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ kind: 'pod', key: 'x/a' });
    expect(t.pods.get('x/a')?.status?.podIP).toBe('10.244.1.6');
  });

  it('tracks namespace labels (including the implicit metadata.name label) and policy specs', () => {
    const t = new PolicyChangeTracker();
    t.update('namespace', undefined, { metadata: { name: 'y' } });
    t.drain();
    expect(
      t.update('namespace', { metadata: { name: 'y' } }, { metadata: { name: 'y', labels: { 'kubernetes.io/metadata.name': 'y' } } }),
    ).toBe(false);
    expect(t.update('namespace', { metadata: { name: 'y' } }, { metadata: { name: 'y', labels: { ns2: 'updated' } } })).toBe(true);
    const policy = { metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {} } };
    expect(t.update('policy', undefined, policy)).toBe(true);
    expect(t.update('policy', policy, undefined)).toBe(true);
    expect(t.policies.size).toBe(0);
    expect(t.drain().map((c) => c.kind)).toEqual(['namespace']);
  });
});
