import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { decodeOpenapiV2, encodeOpenapiV2, openapiV2 } from './openapi-v2.ts';

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI documents are open-ended JSON
type Obj = Record<string, any>;

// gnostic Document → Swagger JSON, for the schemas and operations podnet writes (the test's own
// reading of OpenAPIv2.proto, to show the encoding loses nothing kubectl reads).
function schemaFromGnostic(m: Obj): Obj {
  const s: Obj = {};
  if (m._ref) s.$ref = m._ref;
  if (m.type) s.type = m.type.value[0];
  if (m.format) s.format = m.format;
  if (m.items) s.items = schemaFromGnostic(m.items.schema[0]);
  if (m.additional_properties) s.additionalProperties = schemaFromGnostic(m.additional_properties.schema);
  if (m.properties)
    s.properties = Object.fromEntries(m.properties.additional_properties.map((p: Obj) => [p.name, schemaFromGnostic(p.value)]));
  for (const e of m.vendor_extension ?? []) s[e.name] = parseYaml(e.value.yaml);
  return s;
}

describe('/openapi/v2 in the gnostic protobuf encoding', () => {
  it('writes the field numbers and wire types of gnostic OpenAPIv2.proto (hand-assembled bytes)', () => {
    const bytes = encodeOpenapiV2({
      swagger: '2.0',
      info: { title: 'K', version: 'v' },
      paths: {},
      definitions: { D: { type: 'string', 'x-a': 'b' } },
    });
    const schema = [
      0xb2,
      0x01,
      0x08,
      0x0a,
      0x06,
      ...Buffer.from('string'),
      0xfa,
      0x01,
      0x0b,
      0x0a,
      0x03,
      ...Buffer.from('x-a'),
      0x12,
      0x04,
      0x12,
      0x02,
      0x62,
      0x0a,
    ];
    const named = [0x0a, 0x01, 0x44, 0x12, schema.length, ...schema];
    const expected = [
      ...[0x0a, 0x03, ...Buffer.from('2.0')], // Document.swagger = 1
      ...[0x12, 0x06, 0x0a, 0x01, 0x4b, 0x12, 0x01, 0x76], // Document.info = 2 {title = 1, version = 2}
      ...[0x42, 0x00], // Document.paths = 8
      ...[0x4a, named.length + 2, 0x0a, named.length, ...named], // Document.definitions = 9 {additional_properties = 1}
    ];
    expect([...bytes]).toEqual(expected);
  });

  it('round-trips every definition and the x-kubernetes extensions kubectl reads (vendor extensions as YAML)', () => {
    const doc = openapiV2() as Obj;
    const decoded = decodeOpenapiV2(encodeOpenapiV2(doc)) as Obj;
    expect(decoded.swagger).toBe('2.0');
    expect(decoded.info).toEqual({ title: 'Kubernetes', version: 'v1.32.4-podnet' });
    const defs = Object.fromEntries(decoded.definitions.additional_properties.map((d: Obj) => [d.name, schemaFromGnostic(d.value)]));
    expect(defs).toEqual(doc.definitions);
    const deployment = decoded.definitions.additional_properties.find((d: Obj) => d.name === 'io.k8s.api.apps.v1.Deployment');
    expect(deployment.value.vendor_extension).toEqual([
      { name: 'x-kubernetes-group-version-kind', value: { yaml: '- group: apps\n  version: v1\n  kind: Deployment\n' } },
    ]);
  });

  it('encodes the PATCH operations with their query parameters and group-version-kind', () => {
    const decoded = decodeOpenapiV2(encodeOpenapiV2(openapiV2())) as Obj;
    const item = decoded.paths.path.find((p: Obj) => p.name === '/apis/apps/v1/namespaces/{namespace}/deployments/{name}');
    const patch = item.value.patch;
    expect(patch.operation_id).toBe('patchDeployment');
    expect(patch.consumes).toContain('application/strategic-merge-patch+json');
    const query = patch.parameters.map((p: Obj) => p.parameter.non_body_parameter?.query_parameter_sub_schema).filter(Boolean);
    expect(query.map((q: Obj) => q.name)).toEqual(['fieldValidation', 'fieldManager', 'dryRun']);
    expect(query[0]).toEqual({ name: 'fieldValidation', in: 'query', type: 'string', unique_items: true });
    const ext = Object.fromEntries(patch.vendor_extension.map((e: Obj) => [e.name, parseYaml(e.value.yaml)]));
    expect(ext).toEqual({
      'x-kubernetes-action': 'patch',
      'x-kubernetes-group-version-kind': { group: 'apps', version: 'v1', kind: 'Deployment' },
    });
    expect(patch.responses.response_code[0].name).toBe('200');
  });
});
