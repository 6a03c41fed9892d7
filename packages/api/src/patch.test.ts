import { describe, expect, it } from 'vitest';
import { apiTypeFields, elementExprOf, namedTypeOf, typeOfKind } from './api-schema.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError, strategicListMergeOf } from './patch.ts';
import { patchTaggedFields } from './patch-tags.ts';
import { RESOURCES } from './resources.ts';

const deployment = {
  metadata: { name: 'echo', finalizers: ['a'] },
  spec: {
    template: {
      spec: {
        containers: [
          {
            name: 'echo',
            image: 'echo:1.0',
            args: ['--port', '8080'],
            ports: [{ containerPort: 8080, protocol: 'TCP' }],
            env: [{ name: 'A', value: '1' }],
          },
          { name: 'side', image: 'side:1' },
        ],
      },
    },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%' } },
  },
};

describe('RFC 7386 merge patch', () => {
  it('merges objects, deletes null members, replaces arrays and scalars (RFC 7386 §3 examples)', () => {
    expect(applyMergePatch({ a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } })).toEqual({ a: 'z', c: { d: 'e' } });
    expect(applyMergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(applyMergePatch({ a: 'foo' }, 'bar')).toBe('bar');
    expect(applyMergePatch({}, { a: { bb: { ccc: null } } })).toEqual({ a: { bb: {} } });
  });
});

describe('RFC 6902 JSON patch', () => {
  it('applies add/remove/replace/move/copy/test, with ~1 escapes and "-" append', () => {
    const doc = { a: { 'b/c': 1 }, list: [1, 2] };
    const out = applyJsonPatch(doc, [
      { op: 'add', path: '/list/-', value: 3 },
      { op: 'replace', path: '/a/b~1c', value: 2 },
      { op: 'copy', from: '/a', path: '/x' },
      { op: 'move', from: '/list/0', path: '/first' },
      { op: 'remove', path: '/a' },
      { op: 'test', path: '/x/b~1c', value: 2 },
    ]);
    expect(out).toEqual({ list: [2, 3], x: { 'b/c': 2 }, first: 1 });
    expect(doc).toEqual({ a: { 'b/c': 1 }, list: [1, 2] });
  });
  it('fails a whole patch on a failed test or a missing path, leaving the target unchanged', () => {
    const doc = { a: 1 };
    expect(() =>
      applyJsonPatch(doc, [
        { op: 'replace', path: '/a', value: 2 },
        { op: 'test', path: '/a', value: 1 },
      ]),
    ).toThrow(PatchError);
    expect(() => applyJsonPatch(doc, [{ op: 'remove', path: '/nope' }])).toThrow(/path does not exist/);
    expect(() => applyJsonPatch(doc, { op: 'add' })).toThrow(/array of operations/);
    expect(doc).toEqual({ a: 1 });
  });
});

describe('strategic merge patch', () => {
  it('merges containers by name: a changed image keeps args and ports (kubectl apply after an image change)', () => {
    const patch = {
      spec: {
        template: {
          spec: { '$setElementOrder/containers': [{ name: 'echo' }, { name: 'side' }], containers: [{ name: 'echo', image: 'echo:1.1' }] },
        },
      },
    };
    const out = applyStrategicMergePatch(deployment, patch, 'Deployment') as typeof deployment;
    const c = out.spec.template.spec.containers;
    expect(c.map((x) => x.name)).toEqual(['echo', 'side']);
    expect(c[0]).toEqual({ ...deployment.spec.template.spec.containers[0], image: 'echo:1.1' });
  });
  it('merges ports by containerPort and env by name; adds new elements', () => {
    const patch = {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: 'echo',
                ports: [{ containerPort: 9090 }],
                env: [
                  { name: 'A', value: '2' },
                  { name: 'B', value: '3' },
                ],
              },
            ],
          },
        },
      },
    };
    const out = applyStrategicMergePatch(deployment, patch, 'Deployment') as typeof deployment;
    const c = out.spec.template.spec.containers[0] as (typeof deployment.spec.template.spec.containers)[0];
    expect(c.ports).toEqual([{ containerPort: 8080, protocol: 'TCP' }, { containerPort: 9090 }]);
    expect(c.env).toEqual([
      { name: 'A', value: '2' },
      { name: 'B', value: '3' },
    ]);
  });
  it('honours $patch: delete on a list element and $patch: replace on a list and a map', () => {
    const del = applyStrategicMergePatch(
      deployment,
      { spec: { template: { spec: { containers: [{ name: 'side', $patch: 'delete' }] } } } },
      'Deployment',
    ) as typeof deployment;
    expect(del.spec.template.spec.containers.map((x) => x.name)).toEqual(['echo']);
    const rep = applyStrategicMergePatch(
      deployment,
      { spec: { template: { spec: { containers: [{ name: 'only', image: 'x' }, { $patch: 'replace' }] } } } },
      'Deployment',
    ) as typeof deployment;
    expect(rep.spec.template.spec.containers).toEqual([{ name: 'only', image: 'x' }]);
    const map = applyStrategicMergePatch(
      deployment,
      { spec: { strategy: { $patch: 'replace', type: 'Recreate' } } },
      'Deployment',
    ) as typeof deployment;
    expect(map.spec.strategy).toEqual({ type: 'Recreate' });
  });
  it('honours $retainKeys (switching strategy type drops rollingUpdate) and null deletes', () => {
    const out = applyStrategicMergePatch(
      deployment,
      { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } }, metadata: { finalizers: null } },
      'Deployment',
    ) as typeof deployment;
    expect(out.spec.strategy).toEqual({ type: 'Recreate' });
    expect(out.metadata).toEqual({ name: 'echo' });
  });
  it('merges primitive lists with a merge strategy (finalizers) and deletes from them', () => {
    const out = applyStrategicMergePatch(deployment, { metadata: { finalizers: ['b', 'a'] } }, 'Deployment') as typeof deployment;
    expect(out.metadata.finalizers).toEqual(['a', 'b']);
    const del = applyStrategicMergePatch(
      out,
      { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } },
      'Deployment',
    ) as typeof deployment;
    expect(del.metadata.finalizers).toEqual(['b']);
  });
  it('reorders with $setElementOrder alone, and replaces lists that have no merge key (args)', () => {
    const out = applyStrategicMergePatch(
      deployment,
      {
        spec: {
          template: {
            spec: { '$setElementOrder/containers': [{ name: 'side' }, { name: 'echo' }], containers: [{ name: 'echo', args: ['x'] }] },
          },
        },
      },
      'Deployment',
    ) as typeof deployment;
    expect(out.spec.template.spec.containers.map((x) => x.name)).toEqual(['side', 'echo']);
    expect((out.spec.template.spec.containers[1] as { args: string[] }).args).toEqual(['x']);
  });
  it('merges Service ports by port', () => {
    const svc = { spec: { ports: [{ port: 80, targetPort: 8080, nodePort: 30001 }, { port: 81 }] } };
    const out = applyStrategicMergePatch(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }] } }, 'Service');
    expect(out).toEqual({ spec: { ports: [{ port: 80, targetPort: 9090, nodePort: 30001 }, { port: 81 }] } });
  });
  it('rejects a keyed-list element without its merge key, and unknown directives', () => {
    expect(() =>
      applyStrategicMergePatch(deployment, { spec: { template: { spec: { containers: [{ image: 'x' }] } } } }, 'Deployment'),
    ).toThrow(/merge key "name"/);
    expect(() => applyStrategicMergePatch(deployment, { spec: { $patch: 'explode' } }, 'Deployment')).toThrow(/unknown \$patch/);
  });
});

// Fields whose merge keys come from k8s.io/api types.go tags (the one table in patch-tags.ts that
// /openapi/v2 and v3 publish too); each list below merges by its key instead of being replaced.
describe('strategic merge patch: merge keys from the k8s.io/api tags', () => {
  const pod = {
    metadata: { name: 'p' },
    spec: {
      containers: [{ name: 'c', image: 'c:1' }],
      topologySpreadConstraints: [
        { topologyKey: 'zone', maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' },
        { topologyKey: 'kubernetes.io/hostname', maxSkew: 2, whenUnsatisfiable: 'ScheduleAnyway' },
      ],
      resourceClaims: [
        { name: 'gpu', resourceClaimName: 'gpu-claim' },
        { name: 'nic', resourceClaimTemplateName: 'nic-template' },
      ],
      schedulingGates: [{ name: 'example.com/quota' }],
    },
    status: {
      podIPs: [{ ip: '10.244.1.5' }],
      hostIPs: [{ ip: '172.18.0.2' }],
      containerStatuses: [{ name: 'c', allocatedResourcesStatus: [{ name: 'claim:gpu/r', resources: [{ resourceID: 'a' }] }] }],
    },
  };

  it('merges PodSpec.topologySpreadConstraints by topologyKey', () => {
    const out = applyStrategicMergePatch(
      pod,
      { spec: { topologySpreadConstraints: [{ topologyKey: 'zone', maxSkew: 3 }] } },
      'Pod',
    ) as typeof pod;
    expect(out.spec.topologySpreadConstraints).toEqual([
      { topologyKey: 'zone', maxSkew: 3, whenUnsatisfiable: 'DoNotSchedule' },
      { topologyKey: 'kubernetes.io/hostname', maxSkew: 2, whenUnsatisfiable: 'ScheduleAnyway' },
    ]);
  });

  it('merges a Deployment template PodSpec.topologySpreadConstraints by topologyKey (DeploymentSpec → PodTemplateSpec → PodSpec)', () => {
    const deploy = { spec: { template: { spec: { topologySpreadConstraints: pod.spec.topologySpreadConstraints } } } };
    const out = applyStrategicMergePatch(
      deploy,
      { spec: { template: { spec: { topologySpreadConstraints: [{ topologyKey: 'rack', maxSkew: 1 }] } } } },
      'Deployment',
    ) as typeof deploy;
    expect(out.spec.template.spec.topologySpreadConstraints.map((c) => c.topologyKey)).toEqual(['zone', 'kubernetes.io/hostname', 'rack']);
    const rs = applyStrategicMergePatch(
      deploy,
      { spec: { template: { spec: { topologySpreadConstraints: [{ topologyKey: 'zone', $patch: 'delete' }] } } } },
      'ReplicaSet',
    ) as typeof deploy;
    expect(rs.spec.template.spec.topologySpreadConstraints.map((c) => c.topologyKey)).toEqual(['kubernetes.io/hostname']);
  });

  it('merges PodSpec.resourceClaims and schedulingGates by name', () => {
    const out = applyStrategicMergePatch(
      pod,
      {
        spec: {
          resourceClaims: [{ name: 'gpu', resourceClaimName: 'gpu-claim-2' }],
          schedulingGates: [{ name: 'example.com/approval' }],
        },
      },
      'Pod',
    ) as typeof pod;
    expect(out.spec.resourceClaims).toEqual([
      { name: 'gpu', resourceClaimName: 'gpu-claim-2' },
      { name: 'nic', resourceClaimTemplateName: 'nic-template' },
    ]);
    expect(out.spec.schedulingGates).toEqual([{ name: 'example.com/quota' }, { name: 'example.com/approval' }]);
    const ungated = applyStrategicMergePatch(
      pod,
      { spec: { schedulingGates: [{ name: 'example.com/quota', $patch: 'delete' }] } },
      'Pod',
    ) as typeof pod;
    expect(ungated.spec.schedulingGates).toEqual([]);
  });

  it('merges PodStatus.podIPs and hostIPs by ip; replaces containerStatuses (untagged) as a whole', () => {
    const out = applyStrategicMergePatch(
      pod,
      {
        status: {
          podIPs: [{ ip: 'fd00::5' }],
          hostIPs: [{ ip: '172.18.0.2' }, { ip: 'fd00::2' }],
          containerStatuses: [{ name: 'c', allocatedResourcesStatus: [{ name: 'claim:nic/r', resources: [] }] }],
        },
      },
      'Pod',
    ) as typeof pod;
    expect(out.status.podIPs).toEqual([{ ip: '10.244.1.5' }, { ip: 'fd00::5' }]);
    expect(out.status.hostIPs).toEqual([{ ip: '172.18.0.2' }, { ip: 'fd00::2' }]);
    // containerStatuses itself has no patch strategy (replaced), but its elements are ContainerStatus.
    expect(out.status.containerStatuses).toEqual([{ name: 'c', allocatedResourcesStatus: [{ name: 'claim:nic/r', resources: [] }] }]);
    expect(() => applyStrategicMergePatch(pod, { status: { podIPs: [{ address: 'x' }] } }, 'Pod')).toThrow(/merge key "ip"/);
  });

  it('merges NodeSpec.podCIDRs as a set of primitives (patchStrategy "merge", no key) and deletes from it', () => {
    const node = { spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] }, status: { addresses: [] } };
    const out = applyStrategicMergePatch(node, { spec: { podCIDRs: ['fd00:1::/64', '10.244.1.0/24'] } }, 'Node') as typeof node;
    expect(out.spec.podCIDRs).toEqual(['10.244.1.0/24', 'fd00:1::/64']);
    const del = applyStrategicMergePatch(out, { spec: { '$deleteFromPrimitiveList/podCIDRs': ['fd00:1::/64'] } }, 'Node') as typeof node;
    expect(del.spec.podCIDRs).toEqual(['10.244.1.0/24']);
  });

  it('merges Namespace and Service status conditions by type', () => {
    const cond = (type: string, status: string) => ({ type, status, reason: 'R', message: '', lastTransitionTime: '2026-12-01T00:00:00Z' });
    const ns = { status: { phase: 'Terminating', conditions: [cond('NamespaceDeletionDiscoveryFailure', 'False')] } };
    const nsOut = applyStrategicMergePatch(
      ns,
      { status: { conditions: [{ type: 'NamespaceContentRemaining', status: 'True' }] } },
      'Namespace',
    ) as typeof ns;
    expect(nsOut.status.conditions.map((c) => `${c.type}=${c.status}`)).toEqual([
      'NamespaceDeletionDiscoveryFailure=False',
      'NamespaceContentRemaining=True',
    ]);
    const svc = { spec: { ports: [{ port: 80 }] }, status: { conditions: [cond('Ready', 'False'), cond('Degraded', 'False')] } };
    const svcOut = applyStrategicMergePatch(svc, { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'Service') as typeof svc;
    expect(svcOut.status.conditions).toEqual([{ ...cond('Ready', 'False'), status: 'True' }, cond('Degraded', 'False')]);
  });

  it('applies $retainKeys on DeploymentSpec.strategy as kubectl apply sends it (RollingUpdate → Recreate clears rollingUpdate)', () => {
    // What kubectl apply computes when the manifest switches type (DeploymentSpec.strategy is tagged
    // retainKeys, so the patch names the keys to keep): apimachinery applyRetainKeysDirective.
    const out = applyStrategicMergePatch(
      deployment,
      { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: null, type: 'Recreate' } } },
      'Deployment',
    ) as typeof deployment;
    expect(out.spec.strategy).toEqual({ type: 'Recreate' });
    const back = applyStrategicMergePatch(
      out,
      { spec: { strategy: { $retainKeys: ['rollingUpdate', 'type'], rollingUpdate: { maxUnavailable: 1 }, type: 'RollingUpdate' } } },
      'Deployment',
    ) as typeof deployment;
    expect(back.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
  });

  it('rejects a $retainKeys patch that sets a field it does not retain (mergepatch.ErrBadPatchFormatForRetainKeys)', () => {
    expect(() =>
      applyStrategicMergePatch(
        deployment,
        { spec: { strategy: { $retainKeys: ['type'], type: 'RollingUpdate', rollingUpdate: {} } } },
        'Deployment',
      ),
    ).toThrow(/invalid patch format of retainKeys: the patch sets "rollingUpdate"/);
    expect(() => applyStrategicMergePatch(deployment, { spec: { strategy: { $retainKeys: 'type' } } }, 'Deployment')).toThrow(
      /\$retainKeys must be a list/,
    );
  });

  it('reports the list merges it applies (the facts /openapi/v2 and v3 publish)', () => {
    expect(strategicListMergeOf('core.v1.PodSpec', 'topologySpreadConstraints')).toEqual({
      key: 'topologyKey',
      element: 'core.v1.TopologySpreadConstraint',
    });
    expect(strategicListMergeOf('core.v1.NodeSpec', 'podCIDRs')).toEqual({ key: '', element: 'string' });
    expect(strategicListMergeOf('core.v1.NodeSpec', 'taints')).toBeUndefined();
    expect(strategicListMergeOf('apps.v1.DeploymentSpec', 'strategy')).toBeUndefined();
    expect(() => applyStrategicMergePatch({}, {}, 'ConfigMap')).toThrow(/no schema for kind "ConfigMap"/);
  });
});

describe('strategic merge patch: every tagged list is merged by its key wherever a served kind reaches it', () => {
  type Step = { field: string; via: 'object' | 'map' | 'list'; key?: string };

  /** For each tagged list field, the first path from a served kind that strategic merge descends along. */
  function reachableTaggedLists(): Map<string, { kind: string; path: Step[]; key: string }> {
    const found = new Map<string, { kind: string; path: Step[]; key: string }>();
    for (const r of RESOURCES) {
      const seen = new Set<string>();
      const pending: Array<{ type: string; path: Step[] }> = [{ type: typeOfKind(r.group, r.kind), path: [] }];
      while (pending.length > 0) {
        const { type, path } = pending.shift() as { type: string; path: Step[] };
        if (seen.has(type)) continue;
        seen.add(type);
        for (const [field, expr] of apiTypeFields(type)) {
          const list = strategicListMergeOf(type, field);
          if (list !== undefined && !found.has(`${type}.${field}`))
            found.set(`${type}.${field}`, { kind: r.kind, path: [...path, { field, via: 'list' }], key: list.key });
          const element = elementExprOf(expr);
          const named = namedTypeOf(element ?? expr);
          if (named === undefined) continue;
          if (element === undefined) pending.push({ type: named, path: [...path, { field, via: 'object' }] });
          else if (expr.startsWith('{')) pending.push({ type: named, path: [...path, { field, via: 'map' }] });
          // Only a merged list is descended into: a list without a merge strategy is replaced whole.
          else if (list !== undefined && list.key !== '')
            pending.push({ type: named, path: [...path, { field, via: 'list', key: list.key }] });
        }
      }
    }
    return found;
  }

  /** An object holding `leaf` at `path` (each keyed list holds one element, key "k0"). */
  function nest(path: Step[], leaf: unknown): unknown {
    if (path.length === 0) return leaf;
    const [step, ...rest] = path as [Step, ...Step[]];
    if (rest.length === 0) return { [step.field]: leaf };
    const inner = nest(rest, leaf) as Record<string, unknown>;
    if (step.via === 'object') return { [step.field]: inner };
    if (step.via === 'map') return { [step.field]: { m: inner } };
    return { [step.field]: [{ [step.key as string]: 'k0', ...inner }] };
  }

  function at(o: unknown, path: Step[]): unknown {
    let cur = o as Record<string, unknown>;
    for (const step of path) {
      const v = cur[step.field];
      if (step === path[path.length - 1]) return v;
      if (step.via === 'object') cur = v as Record<string, unknown>;
      else if (step.via === 'map') cur = (v as Record<string, unknown>).m as Record<string, unknown>;
      else cur = (v as Record<string, unknown>[]).find((e) => e[step.key as string] === 'k0') as Record<string, unknown>;
    }
    return cur;
  }

  it('reaches each one and merges by the key, for keyed lists and lists of primitives alike', () => {
    const reachable = reachableTaggedLists();
    for (const [field, { kind, path, key }] of reachable) {
      const where = `${kind}: ${path.map((s) => s.field).join('.')} (${field})`;
      if (key === '') {
        const out = applyStrategicMergePatch(nest(path, ['a', 'b']), nest(path, ['c', 'a']), kind);
        expect(at(out, path), where).toEqual(['a', 'b', 'c']);
      } else {
        const original = nest(path, [
          { [key]: 'a', kept: 1 },
          { [key]: 'b', kept: 2 },
        ]);
        const out = applyStrategicMergePatch(original, nest(path, [{ [key]: 'a', added: 3 }]), kind);
        expect(at(out, path), where).toEqual([
          { [key]: 'a', kept: 1, added: 3 },
          { [key]: 'b', kept: 2 },
        ]);
      }
    }
    expect(reachable.get('core.v1.Container.ports')?.path.map((s) => s.field)).toEqual(['spec', 'containers', 'ports']);
    expect(reachable.get('core.v1.PodSpec.topologySpreadConstraints')?.kind).toBe('Pod');
    // ContainerStatus is reached only through PodStatus.containerStatuses, which has no patch
    // strategy (replaced whole), so its tagged list is published but never merged server-side.
    const lists = patchTaggedFields().filter((t) => t.tag.strategy.includes('merge'));
    expect(lists.filter((t) => !reachable.has(`${t.type}.${t.field}`)).map((t) => `${t.type}.${t.field}`)).toEqual([
      'core.v1.ContainerStatus.allocatedResourcesStatus',
    ]);
  });
});
