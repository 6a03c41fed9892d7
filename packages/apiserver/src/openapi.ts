// A minimal OpenAPI v3, just enough for kubectl 1.32's field validation to switch to the
// server (cli-runtime pkg/resource/query_param_verifier_v3.go supportsQueryParamV3: each
// kind's group-version document must have a PATCH operation, tagged with its
// x-kubernetes-group-version-kind, that lists the `fieldValidation` query parameter).
// kubectl then sends `fieldValidation=Strict` and the server checks fields (fields.ts).
// Schemas stay empty: client-side apply computes strategic patches from kubectl's compiled-in types.
import { createHash } from 'node:crypto';
import { groupVersion, RESOURCES } from '@podnet/api';

function gvPath(group: string): string {
  return group === '' ? 'api/v1' : `apis/${group}/v1`;
}

export function openapiGroupVersion(path: string): Record<string, unknown> | undefined {
  const group = RESOURCES.find((r) => gvPath(r.group) === path)?.group;
  if (group === undefined) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of RESOURCES.filter((x) => x.group === group)) {
    const prefix = `/${gvPath(group)}/${r.namespaced ? 'namespaces/{namespace}/' : ''}${r.resource}/{name}`;
    const op = (verb: string) => ({
      operationId: `${verb}${r.kind}`,
      'x-kubernetes-action': verb,
      'x-kubernetes-group-version-kind': { group, version: 'v1', kind: r.kind },
      parameters: [
        { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
        { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
        { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
      ],
      requestBody: {
        content: {
          'application/strategic-merge-patch+json': { schema: {} },
          'application/merge-patch+json': { schema: {} },
          'application/json-patch+json': { schema: {} },
          'application/apply-patch+yaml': { schema: {} },
        },
      },
      responses: { '200': { description: 'OK' } },
    });
    paths[prefix] = { patch: op('patch'), put: op('put') };
    const collection = `/${gvPath(group)}/${r.namespaced ? 'namespaces/{namespace}/' : ''}${r.resource}`;
    paths[collection] = { post: op('post') };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.4-podnet' }, paths, components: { schemas: {} } };
}

export function openapiRoot(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const g of new Set(RESOURCES.map((r) => r.group))) {
    const p = gvPath(g);
    const hash = createHash('sha512')
      .update(JSON.stringify(openapiGroupVersion(p)))
      .digest('hex')
      .slice(0, 128)
      .toUpperCase();
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
  }
  return { paths };
}

export { groupVersion };
