import { describe, expect, it } from 'vitest';
import type { Node, Pod } from '../kube-types.js';
import { chooseNode, tolerates } from './choose-node.js';

const node = (name: string, extra: Partial<Node> = {}, ready = 'True'): Node => ({
  metadata: { name, labels: { 'kubernetes.io/hostname': name } },
  spec: {},
  status: { conditions: [{ type: 'Ready', status: ready as 'True' }] },
  ...extra,
});
const pod = (name: string, owner?: string, nodeName?: string, extra: Partial<Pod['spec']> = {}): Pod => ({
  metadata: {
    name,
    namespace: 'default',
    uid: `uid-${name}`,
    ownerReferences: owner ? [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner, uid: owner, controller: true }] : [],
  },
  spec: { containers: [{ name: 'c' }], nodeName, ...extra },
});

describe('chooseNode', () => {
  it('spreads the pods of one owner first, then balances the total', () => {
    const nodes = [node('node-1'), node('node-2'), node('node-3')];
    const bound = [pod('a', 'rs1', 'node-1'), pod('x', 'other', 'node-2'), pod('y', 'other', 'node-2')];
    // node-1 has a pod of rs1; node-2 and node-3 have none; node-3 has fewer pods overall.
    expect(chooseNode(pod('b', 'rs1'), nodes, bound)).toEqual({ node: 'node-3' });
    expect(chooseNode(pod('c', 'rs2'), nodes, bound)).toEqual({ node: 'node-3' });
  });
  it('skips NotReady, unschedulable, tainted and non-matching nodes, and says why', () => {
    const nodes = [
      node('node-1', {}, 'Unknown'),
      node('node-2', { spec: { unschedulable: true } }),
      node('node-3', { spec: { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' }] } }),
      node('node-4'),
    ];
    expect(chooseNode(pod('p'), nodes, [])).toEqual({ node: 'node-4' });
    const r = chooseNode(pod('p', undefined, undefined, { nodeSelector: { disk: 'ssd' } }), nodes, []);
    expect(r.node).toBeUndefined();
    expect(r).toEqual({
      message:
        "0/4 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 1 node(s) were not ready, 1 node(s) were unschedulable.",
    });
    expect(chooseNode(pod('p'), nodes.slice(2, 3), [])).toEqual({
      message: '0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.',
    });
    expect(chooseNode(pod('p'), [], [])).toEqual({ message: 'no nodes available to schedule pods' });
  });
  it('honours tolerations and nodeSelector', () => {
    const tainted = node('node-1', { spec: { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] } });
    tainted.metadata.labels = { disk: 'ssd' };
    const p = pod('p', undefined, undefined, {
      nodeSelector: { disk: 'ssd' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }],
    });
    expect(chooseNode(p, [tainted, node('node-2')], [])).toEqual({ node: 'node-1' });
    expect(tolerates({ operator: 'Exists' }, { key: 'any', effect: 'NoExecute' })).toBe(true);
    expect(tolerates({ key: 'a', value: 'x' }, { key: 'a', value: 'y', effect: 'NoSchedule' })).toBe(false);
  });
});
