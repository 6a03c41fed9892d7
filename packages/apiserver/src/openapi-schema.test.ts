import { describe, expect, it } from 'vitest';
import { openapiGroupVersion, openapiRoot } from './openapi.ts';
import { closure, definitionName, type JsonSchema, schemasFor, servedTypes, typeSchema } from './openapi-schema.ts';
import { openapiV2 } from './openapi-v2.ts';

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI documents are open-ended JSON
type Obj = Record<string, any>;

/** Every `$ref` in a document, anywhere. */
function refs(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) refs(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.push(x);
      else refs(x, out);
    }
  }
  return out;
}

describe('openapi-schema (the one source of /openapi/v2 and /openapi/v3 schemas)', () => {
  it('marks each served kind with x-kubernetes-group-version-kind, as the real spec does', () => {
    expect(typeSchema('apps.v1.Deployment', '#/definitions/')['x-kubernetes-group-version-kind']).toEqual([
      { group: 'apps', version: 'v1', kind: 'Deployment' },
    ]);
    expect(typeSchema('core.v1.Service', '#/definitions/')['x-kubernetes-group-version-kind']).toEqual([
      { group: '', version: 'v1', kind: 'Service' },
    ]);
    expect(typeSchema('discovery.v1.EndpointSlice', '#/definitions/')['x-kubernetes-group-version-kind']).toEqual([
      { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice' },
    ]);
    expect(typeSchema('core.v1.PodSpec', '#/definitions/')['x-kubernetes-group-version-kind']).toBeUndefined();
    expect(servedTypes()).toHaveLength(11);
  });

  it('carries the patchStrategy/patchMergeKey tags of k8s.io/api on the fields strategic merge keys', () => {
    const field = (type: string, name: string) => (typeSchema(type, '#/definitions/').properties as Obj)[name];
    expect(field('core.v1.PodSpec', 'containers')).toEqual({
      type: 'array',
      items: { $ref: '#/definitions/io.k8s.api.core.v1.Container' },
      'x-kubernetes-patch-merge-key': 'name',
      'x-kubernetes-patch-strategy': 'merge',
    });
    expect(field('core.v1.PodSpec', 'volumes')).toMatchObject({
      'x-kubernetes-patch-merge-key': 'name',
      'x-kubernetes-patch-strategy': 'merge,retainKeys',
    });
    expect(field('core.v1.Container', 'ports')).toMatchObject({ 'x-kubernetes-patch-merge-key': 'containerPort' });
    expect(field('core.v1.Container', 'env')).toMatchObject({ 'x-kubernetes-patch-merge-key': 'name' });
    expect(field('core.v1.Container', 'args')).toEqual({ type: 'array', items: { type: 'string' } });
    expect(field('core.v1.ServiceSpec', 'ports')).toMatchObject({ 'x-kubernetes-patch-merge-key': 'port' });
    expect(field('core.v1.ServicePort', 'targetPort')).toEqual({ type: 'string', format: 'int-or-string' });
    expect(field('apps.v1.DeploymentSpec', 'strategy')).toEqual({
      $ref: '#/definitions/io.k8s.api.apps.v1.DeploymentStrategy',
      'x-kubernetes-patch-strategy': 'retainKeys',
    });
    expect(field('meta.v1.ObjectMeta', 'finalizers')).toEqual({
      type: 'array',
      items: { type: 'string' },
      'x-kubernetes-patch-strategy': 'merge',
    });
    expect(field('meta.v1.ObjectMeta', 'labels')).toEqual({ type: 'object', additionalProperties: { type: 'string' } });
    expect(field('meta.v1.ManagedFieldsEntry', 'fieldsV1')).toEqual({});
  });

  it('names definitions as the real spec does', () => {
    expect(definitionName('core.v1.Pod')).toBe('io.k8s.api.core.v1.Pod');
    expect(definitionName('meta.v1.ObjectMeta')).toBe('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
    expect(closure(['coordination.v1.Lease'])).toEqual([
      'coordination.v1.Lease',
      'coordination.v1.LeaseSpec',
      'meta.v1.ManagedFieldsEntry',
      'meta.v1.ObjectMeta',
      'meta.v1.OwnerReference',
    ]);
  });

  it('serves the same schemas in v2 definitions and v3 components (only the $ref prefix differs), every $ref resolving', () => {
    const v2 = openapiV2() as Obj;
    expect(v2.swagger).toBe('2.0');
    for (const r of refs(v2)) expect(v2.definitions[r.replace('#/definitions/', '')], r).toBeDefined();
    const root = openapiRoot() as Obj;
    expect(Object.keys(root.paths).sort()).toEqual([
      'api/v1',
      'apis/apps/v1',
      'apis/coordination.k8s.io/v1',
      'apis/discovery.k8s.io/v1',
      'apis/networking.k8s.io/v1',
    ]);
    let compared = 0;
    for (const gv of Object.keys(root.paths)) {
      const doc = openapiGroupVersion(gv) as Obj;
      for (const r of refs(doc)) expect(doc.components.schemas[r.replace('#/components/schemas/', '')], `${gv} ${r}`).toBeDefined();
      for (const [name, s] of Object.entries(doc.components.schemas as Record<string, JsonSchema>)) {
        const asV2 = JSON.parse(JSON.stringify(s).replaceAll('#/components/schemas/', '#/definitions/'));
        expect(asV2, name).toEqual(v2.definitions[name]);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(Object.keys(v2.definitions).length);
    expect(Object.keys(schemasFor(servedTypes('apps'), '#/definitions/'))).toContain('io.k8s.api.core.v1.PodSpec');
  });

  it('describes the same write operations in both versions, with the query parameters kubectl checks for', () => {
    const v2 = openapiV2() as Obj;
    const v3 = openapiGroupVersion('apis/apps/v1') as Obj;
    const path = '/apis/apps/v1/namespaces/{namespace}/deployments/{name}';
    for (const op of [v2.paths[path].patch, v3.paths[path].patch]) {
      expect(op['x-kubernetes-group-version-kind']).toEqual({ group: 'apps', version: 'v1', kind: 'Deployment' });
      expect(op['x-kubernetes-action']).toBe('patch');
      expect(op.parameters.map((p: Obj) => p.name)).toEqual(expect.arrayContaining(['fieldValidation', 'fieldManager', 'dryRun']));
    }
    const v2Ops = Object.entries(v2.paths as Obj).flatMap(([p, item]) => Object.keys(item).map((m) => `${m} ${p}`));
    expect(v2Ops).toContain('post /api/v1/namespaces/{namespace}/pods');
    expect(v2Ops).toContain('put /api/v1/nodes/{name}');
    expect(v2Ops).toHaveLength(33);
  });
});
