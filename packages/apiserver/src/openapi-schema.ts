// The one source of the schemas podnet's /openapi/v2 and /openapi/v3 documents carry: the
// Kubernetes types of every kind podnet serves (field names and JSON types from the generated
// table @podnet/api reads, api-types.ts), plus the strategic-merge metadata kubectl reads from
// them (@podnet/api patch-tags.ts, the same table the server's own strategic merge patch uses).
//
// Why kubectl needs this: `kubectl apply` computes its three-way strategic merge patch from the
// server's OpenAPI schema when it finds the kind there (kubectl pkg/cmd/apply/patcher.go,
// strategicpatch.PatchMetaFromOpenAPI: x-kubernetes-patch-merge-key / x-kubernetes-patch-strategy
// on each field), and validates a `kind: List` manifest client-side against /openapi/v2
// (kubectl pkg/validation/schema.go: the field-validation query parameter verifier reports v1/List
// as unsupported, so Strict falls back to the client-side schema; kube-openapi util/proto
// validation: an undeclared field of an object with `properties` is an "unknown field").
// So every object type below lists all its fields; a type kubectl finds but that lacked a field
// would turn a valid manifest into an error. And the patch kubectl computes from these tags is
// applied by patch.ts with the very same tags, so the two cannot disagree about a merge key.
import { apiTypeFields, elementExprOf, namedTypeOf, patchTagOf, RESOURCES, typeOfKind } from '@podnet/api';

export { typeOfKind };

/** JSON Schema as OpenAPI v2 definitions and v3 components carry it. */
export type JsonSchema = Record<string, unknown>;

/** "core.v1.Pod" → "io.k8s.api.core.v1.Pod"; meta types live in apimachinery. */
export function definitionName(type: string): string {
  return type.startsWith('meta.v1.') ? `io.k8s.apimachinery.pkg.apis.${type}` : `io.k8s.api.${type}`;
}

/** The named types a type expression mentions. */
function refsOf(expr: string): string[] {
  const element = elementExprOf(expr);
  if (element !== undefined) return refsOf(element);
  const named = namedTypeOf(expr);
  return named === undefined ? [] : [named];
}

function schemaOf(expr: string, refPrefix: string): JsonSchema {
  if (expr.startsWith('[')) return { type: 'array', items: schemaOf(expr.slice(1, -1), refPrefix) };
  if (expr.startsWith('{')) return { type: 'object', additionalProperties: schemaOf(expr.slice(1, -1), refPrefix) };
  // IntOrString (apimachinery util/intstr): the spec marks it a string of format int-or-string.
  if (expr === 'int-or-string') return { type: 'string', format: 'int-or-string' };
  // No type, no properties: kube-openapi reads this as Arbitrary (anything validates).
  if (expr === 'any') return {};
  const prim = /^(string|integer|number|boolean)(?:\/(.+))?$/.exec(expr);
  if (prim) return { type: prim[1], ...(prim[2] ? { format: prim[2] } : {}) };
  return { $ref: `${refPrefix}${definitionName(expr)}` };
}

/** Served kinds by table type, for x-kubernetes-group-version-kind. */
function servedKinds(): Map<string, { group: string; version: string; kind: string }> {
  return new Map(RESOURCES.map((r) => [typeOfKind(r.group, r.kind), { group: r.group, version: r.version, kind: r.kind }]));
}

/** One type's schema; `refPrefix` is "#/definitions/" (v2) or "#/components/schemas/" (v3). */
export function typeSchema(type: string, refPrefix: string): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [name, expr] of apiTypeFields(type)) {
    const tag = patchTagOf(type, name);
    properties[name] = {
      ...schemaOf(expr, refPrefix),
      ...(tag?.mergeKey ? { 'x-kubernetes-patch-merge-key': tag.mergeKey } : {}),
      ...(tag ? { 'x-kubernetes-patch-strategy': tag.strategy } : {}),
    };
  }
  const gvk = servedKinds().get(type);
  return { type: 'object', properties, ...(gvk ? { 'x-kubernetes-group-version-kind': [gvk] } : {}) };
}

/** `types` and every type they reach, sorted. */
export function closure(types: Iterable<string>): string[] {
  const seen = new Set<string>();
  const pending = [...types];
  while (pending.length > 0) {
    const t = pending.pop() as string;
    if (seen.has(t)) continue;
    seen.add(t);
    for (const expr of apiTypeFields(t).values()) pending.push(...refsOf(expr));
  }
  return [...seen].sort();
}

/** Definitions (v2) or component schemas (v3) for the given kinds' types and all they reach. */
export function schemasFor(types: Iterable<string>, refPrefix: string): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const t of closure(types)) out[definitionName(t)] = typeSchema(t, refPrefix);
  return out;
}

/** The table types of every kind podnet serves. */
export function servedTypes(group?: string): string[] {
  return RESOURCES.filter((r) => group === undefined || r.group === group).map((r) => typeOfKind(r.group, r.kind));
}
