// OpenAPI v3 (/openapi/v3 and one document per group-version), built with /openapi/v2
// (openapi-v2.ts) from the same operations (below) and the same schemas (openapi-schema.ts).
//
// The operations are what kubectl 1.32's field validation looks for to switch to the server
// (cli-runtime pkg/resource/query_param_verifier_v3.go supportsQueryParamV3: each kind's
// group-version document must have a PATCH operation, tagged with its
// x-kubernetes-group-version-kind, that lists the `fieldValidation` query parameter); kubectl
// then sends `fieldValidation=Strict` and the server checks fields (fields.ts). The component
// schemas are what `kubectl explain` reads (kubectl pkg/explain/v2 walks the group-version
// document's components for the kind's x-kubernetes-group-version-kind).
import { createHash } from 'node:crypto';
import { groupVersion, RESOURCES } from '@podnet/api';
import { definitionName, type JsonSchema, schemasFor, servedTypes, typeOfKind } from './openapi-schema.js';

export const OPENAPI_INFO = { title: 'Kubernetes', version: 'v1.32.4-podnet' };

/** Query parameters of the write operations (the ones kubectl checks for and sends). */
export const WRITE_QUERY_PARAMETERS = ['fieldValidation', 'fieldManager', 'dryRun'] as const;

export const PATCH_CONTENT_TYPES = [
  'application/strategic-merge-patch+json',
  'application/merge-patch+json',
  'application/json-patch+json',
  'application/apply-patch+yaml',
] as const;

/** One write operation of a served kind, rendered by the v2 and v3 documents alike. */
export interface ApiOperation {
  path: string;
  method: 'post' | 'put' | 'patch';
  kind: string;
  group: string;
  /** The definition (schema) name of the kind's type. */
  definition: string;
}

export function gvPath(group: string): string {
  return group === '' ? 'api/v1' : `apis/${group}/v1`;
}

export function operations(group?: string): ApiOperation[] {
  const out: ApiOperation[] = [];
  for (const r of RESOURCES.filter((x) => group === undefined || x.group === group)) {
    const collection = `/${gvPath(r.group)}/${r.namespaced ? 'namespaces/{namespace}/' : ''}${r.resource}`;
    const definition = definitionName(typeOfKind(r.group, r.kind));
    const op = (path: string, method: ApiOperation['method']) => ({ path, method, kind: r.kind, group: r.group, definition });
    out.push(op(collection, 'post'), op(`${collection}/{name}`, 'put'), op(`${collection}/{name}`, 'patch'));
  }
  return out;
}

export function operationId(op: ApiOperation): string {
  return `${op.method === 'post' ? 'create' : op.method === 'put' ? 'replace' : 'patch'}${op.kind}`;
}

/** Vendor extensions both versions put on an operation (kube-openapi builder). */
export function operationExtensions(op: ApiOperation): Record<string, unknown> {
  return {
    'x-kubernetes-action': op.method,
    'x-kubernetes-group-version-kind': { group: op.group, version: 'v1', kind: op.kind },
  };
}

function v3Operation(op: ApiOperation): JsonSchema {
  const ref = { $ref: `#/components/schemas/${op.definition}` };
  const body =
    op.method === 'patch'
      ? Object.fromEntries(PATCH_CONTENT_TYPES.map((t) => [t, { schema: { type: 'object' } }]))
      : { 'application/json': { schema: ref }, 'application/yaml': { schema: ref } };
  return {
    operationId: operationId(op),
    ...operationExtensions(op),
    parameters: WRITE_QUERY_PARAMETERS.map((name) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } })),
    requestBody: { content: body, required: true },
    responses: { '200': { description: 'OK', content: { 'application/json': { schema: ref } } } },
  };
}

export function openapiGroupVersion(path: string): Record<string, unknown> | undefined {
  const group = RESOURCES.find((r) => gvPath(r.group) === path)?.group;
  if (group === undefined) return undefined;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations(group)) {
    paths[op.path] ??= {};
    (paths[op.path] as Record<string, unknown>)[op.method] = v3Operation(op);
  }
  return {
    openapi: '3.0.0',
    info: OPENAPI_INFO,
    paths,
    components: { schemas: schemasFor(servedTypes(group), '#/components/schemas/') },
  };
}

/** kube-openapi's ETag and `hash`: the upper-case hex SHA-512 of the served bytes (handler3). */
export function openapiEtag(bytes: string | Uint8Array): string {
  return createHash('sha512').update(bytes).digest('hex').toUpperCase();
}

// The documents never change while the process runs: build each once.
const groupVersionBytes = new Map<string, string | undefined>();
export function openapiGroupVersionJson(path: string): string | undefined {
  if (!groupVersionBytes.has(path)) {
    const doc = openapiGroupVersion(path);
    groupVersionBytes.set(path, doc && JSON.stringify(doc));
  }
  return groupVersionBytes.get(path);
}

export function openapiRoot(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const g of new Set(RESOURCES.map((r) => r.group))) {
    const p = gvPath(g);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${openapiEtag(openapiGroupVersionJson(p) as string)}` };
  }
  return { paths };
}

export { groupVersion };
