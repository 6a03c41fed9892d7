// Reads the generated type table (api-types.ts): which fields a Kubernetes type has and what type
// each field holds. Both the strategic merge patch (patch.ts: the type of a nested object or list
// element decides its merge keys) and the API server's OpenAPI documents (apiserver
// openapi-schema.ts) walk the types through these functions, so they see the same types.
//
// Type expressions (the table's grammar): `[T]` a list of T, `{T}` a map of string to T,
// `string`, `string/<format>`, `integer/int32`, `number/double`, `boolean`, `int-or-string`,
// `any`, or a type name such as `core.v1.PodSpec` (`<group>.v1.<Type>`, `meta.v1.*` for
// apimachinery meta/v1).
import { API_TYPES } from './api-types.js';
import { RESOURCES } from './resources.js';

const PRIMITIVE = /^(string|integer|number|boolean|int-or-string|any)(\/|$)/;

const parsed = new Map<string, ReadonlyMap<string, string>>();

/** The fields of a table type, name → type expression, in the table's order. */
export function apiTypeFields(type: string): ReadonlyMap<string, string> {
  let fields = parsed.get(type);
  if (fields === undefined) {
    const spec = API_TYPES[type];
    if (spec === undefined) throw new Error(`api-types.ts has no type ${type}`);
    const m = new Map<string, string>();
    for (const f of spec.split(' ')) {
      if (f === '') continue;
      const i = f.indexOf(':');
      m.set(f.slice(0, i), f.slice(i + 1));
    }
    fields = m;
    parsed.set(type, fields);
  }
  return fields;
}

/** Whether the table describes `type` (a type name, not an expression). */
export function isApiType(type: string): boolean {
  return Object.hasOwn(API_TYPES, type);
}

/** The type name an expression refers to directly, if it is one (not a primitive, list or map). */
export function namedTypeOf(expr: string): string | undefined {
  return expr.startsWith('[') || expr.startsWith('{') || PRIMITIVE.test(expr) ? undefined : expr;
}

/** `[T]` → T and `{T}` → T (the element type of a list or map expression); undefined otherwise. */
export function elementExprOf(expr: string): string | undefined {
  return expr.startsWith('[') || expr.startsWith('{') ? expr.slice(1, -1) : undefined;
}

/** The table type of a served kind: core → core.v1, discovery.k8s.io → discovery.v1. */
export function typeOfKind(group: string, kind: string): string {
  return `${group === '' ? 'core' : (group.split('.')[0] as string)}.v1.${kind}`;
}

/** The table type of a kind podnet serves, by kind alone (kinds are unique across its groups). */
export function typeOfServedKind(kind: string): string | undefined {
  const info = RESOURCES.find((r) => r.kind === kind);
  return info && typeOfKind(info.group, info.kind);
}
