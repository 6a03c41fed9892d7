// /openapi/v2: the Swagger 2.0 document of the kinds podnet serves, as JSON and in the gnostic
// protobuf encoding kubectl asks for (client-go discovery OpenAPISchema sends
// `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and proto.Unmarshals the
// body into gnostic-models openapi_v2.Document; it has no JSON fallback). kubectl uses it to
// validate `kind: List` manifests client-side and to compute apply's strategic merge patches
// (openapi-schema.ts says why). Operations and schemas come from the same source as /openapi/v3.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { stringify as toYaml } from 'yaml';
import {
  type ApiOperation,
  OPENAPI_INFO,
  operationExtensions,
  operationId,
  operations,
  PATCH_CONTENT_TYPES,
  WRITE_QUERY_PARAMETERS,
} from './openapi.js';
import { type JsonSchema, schemasFor, servedTypes } from './openapi-schema.js';

const PROTO_URL = new URL('../../../proto/openapiv2-subset.proto', import.meta.url);
const root = protobuf.parse(readFileSync(PROTO_URL, 'utf8'), { keepCase: true }).root;
const DocumentType = root.lookupType('openapi.v2.Document');

function v2Operation(op: ApiOperation): JsonSchema {
  const ref = { $ref: `#/definitions/${op.definition}` };
  return {
    operationId: operationId(op),
    consumes: op.method === 'patch' ? [...PATCH_CONTENT_TYPES] : ['application/json', 'application/yaml'],
    produces: ['application/json', 'application/yaml'],
    parameters: [
      { name: 'body', in: 'body', required: true, schema: op.method === 'patch' ? { type: 'object' } : ref },
      ...WRITE_QUERY_PARAMETERS.map((name) => ({ name, in: 'query', type: 'string', uniqueItems: true })),
    ],
    responses: { '200': { description: 'OK', schema: ref } },
    ...operationExtensions(op),
  };
}

export function openapiV2(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations()) {
    paths[op.path] ??= {};
    (paths[op.path] as Record<string, unknown>)[op.method] = v2Operation(op);
  }
  return { swagger: '2.0', info: OPENAPI_INFO, paths, definitions: schemasFor(servedTypes(), '#/definitions/') };
}

// ---- the gnostic encoding ------------------------------------------------------------------

type Message = Record<string, unknown>;

/** `x-*` keys → gnostic NamedAny list (each value as YAML text, as gnostic's compiler stores it). */
function vendorExtensions(o: Record<string, unknown>): Message[] {
  return Object.entries(o)
    .filter(([k]) => k.startsWith('x-'))
    .map(([name, value]) => ({ name, value: { yaml: toYaml(value) } }));
}

function gnosticSchema(s: JsonSchema): Message {
  const m: Message = {};
  if (typeof s.$ref === 'string') m._ref = s.$ref;
  if (typeof s.format === 'string') m.format = s.format;
  if (typeof s.description === 'string') m.description = s.description;
  if (Array.isArray(s.required)) m.required = s.required;
  if (typeof s.type === 'string') m.type = { value: [s.type] };
  if (s.items) m.items = { schema: [gnosticSchema(s.items as JsonSchema)] };
  if (s.additionalProperties) m.additional_properties = { schema: gnosticSchema(s.additionalProperties as JsonSchema) };
  if (s.properties) {
    m.properties = {
      additional_properties: Object.entries(s.properties as Record<string, JsonSchema>).map(([name, v]) => ({
        name,
        value: gnosticSchema(v),
      })),
    };
  }
  const ext = vendorExtensions(s);
  if (ext.length > 0) m.vendor_extension = ext;
  return m;
}

function gnosticParameter(p: JsonSchema): Message {
  if (p.in === 'body') {
    return {
      parameter: { body_parameter: { name: p.name, in: 'body', required: p.required, schema: gnosticSchema(p.schema as JsonSchema) } },
    };
  }
  const sub = { name: p.name, in: p.in, type: p.type, unique_items: p.uniqueItems, required: p.required };
  return {
    parameter: { non_body_parameter: p.in === 'path' ? { path_parameter_sub_schema: sub } : { query_parameter_sub_schema: sub } },
  };
}

function gnosticOperation(o: JsonSchema): Message {
  const responses = Object.entries(o.responses as Record<string, JsonSchema>).map(([name, r]) => ({
    name,
    value: { response: { description: r.description, ...(r.schema ? { schema: { schema: gnosticSchema(r.schema as JsonSchema) } } : {}) } },
  }));
  return {
    operation_id: o.operationId,
    consumes: o.consumes,
    produces: o.produces,
    parameters: (o.parameters as JsonSchema[]).map(gnosticParameter),
    responses: { response_code: responses },
    vendor_extension: vendorExtensions(o),
  };
}

/** The Swagger 2.0 JSON document → gnostic openapi_v2.Document bytes. */
export function encodeOpenapiV2(doc: Record<string, unknown>): Uint8Array {
  const info = doc.info as { title: string; version: string };
  const paths = Object.entries(doc.paths as Record<string, Record<string, JsonSchema>>).map(([name, item]) => ({
    name,
    value: Object.fromEntries(Object.entries(item).map(([method, op]) => [method, gnosticOperation(op)])),
  }));
  const definitions = Object.entries(doc.definitions as Record<string, JsonSchema>).map(([name, s]) => ({ name, value: gnosticSchema(s) }));
  const message = DocumentType.fromObject({
    swagger: doc.swagger,
    info: { title: info.title, version: info.version },
    paths: { path: paths },
    definitions: { additional_properties: definitions },
  });
  return DocumentType.encode(message).finish();
}

/** Decodes gnostic Document bytes (for tests and tools; the server only encodes). */
export function decodeOpenapiV2(bytes: Uint8Array): Record<string, unknown> {
  return DocumentType.toObject(DocumentType.decode(bytes), { defaults: false, arrays: true }) as Record<string, unknown>;
}
