import { describe, expect, it } from 'vitest';
import type { KubeObject } from './object.js';
import { Store } from './store.js';

type P = KubeObject & { spec?: { nodeName?: string } };
const pod = (name: string, node?: string, ns = 'default'): P => ({ metadata: { name, namespace: ns }, spec: { nodeName: node } });

describe('Store', () => {
  it('keys objects by namespace/name and keeps indexes in step with changes', () => {
    const s = new Store<P>({ byNode: (p) => (p.spec?.nodeName ? [p.spec.nodeName] : []) });
    s.upsert(pod('a', 'node-1'));
    s.upsert(pod('b', 'node-1'));
    s.upsert(pod('c'));
    expect(s.keys().sort()).toEqual(['default/a', 'default/b', 'default/c']);
    expect(
      s
        .byIndex('byNode', 'node-1')
        .map((p) => p.metadata?.name)
        .sort(),
    ).toEqual(['a', 'b']);
    s.upsert(pod('a', 'node-2'));
    expect(s.byIndex('byNode', 'node-1').map((p) => p.metadata?.name)).toEqual(['b']);
    expect(s.byIndex('byNode', 'node-2').map((p) => p.metadata?.name)).toEqual(['a']);
    s.remove('default/b');
    expect(s.byIndex('byNode', 'node-1')).toEqual([]);
    expect(s.getByName('default', 'a')?.spec?.nodeName).toBe('node-2');
    expect(() => s.byIndex('nope', 'x')).toThrow(/no index named "nope"/);
  });
  it('keys cluster-scoped objects by name', () => {
    const s = new Store<KubeObject>();
    s.upsert({ metadata: { name: 'node-1' } });
    expect(s.get('node-1')).toBeDefined();
    expect(s.getByName(undefined, 'node-1')).toBeDefined();
  });
});
