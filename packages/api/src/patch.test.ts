import { describe, expect, it } from 'vitest';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError } from './patch.ts';

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
