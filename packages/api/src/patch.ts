// The three patch kinds the apiserver accepts (apiserver pkg/endpoints/handlers/patch.go):
//   application/json-patch+json            RFC 6902 (JSON pointers per RFC 6901)
//   application/merge-patch+json           RFC 7386
//   application/strategic-merge-patch+json Kubernetes strategic merge
//     (apimachinery pkg/util/strategicpatch/patch.go): lists with a patch merge key are merged
//     element by element, `$patch: delete|replace`, `$setElementOrder/<list>`, `$retainKeys`,
//     `$deleteFromPrimitiveList/<list>`.

import { apiTypeFields, elementExprOf, isApiType, namedTypeOf, typeOfServedKind } from './api-schema.js';
import { type PatchTag, patchTagOf } from './patch-tags.js';

type Json = unknown;
type JsonObject = Record<string, Json>;

export class PatchError extends Error {
  readonly code = 'PODNET_ERR_PATCH';
  /** 400 for a malformed patch document, 422 for an operation that cannot apply. */
  readonly status: 400 | 422;
  constructor(status: 400 | 422, message: string) {
    super(message);
    this.name = 'PatchError';
    this.status = status;
  }
}

function isObject(v: Json): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return v === undefined ? v : (structuredClone(v) as T);
}

function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

// ---- RFC 7386 -------------------------------------------------------------------------

/** RFC 7386 §2 MergePatch(Target, Patch). */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = applyMergePatch(result[k], v);
  }
  return result;
}

// ---- RFC 6902 -------------------------------------------------------------------------

/** RFC 6901 §3/§4: "/a/b~1c" → ["a", "b/c"]. */
function parsePointer(pointer: string, where: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(400, `${where}: JSON pointer "${pointer}" must start with "/" (RFC 6901)`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(arr: Json[], token: string, forAdd: boolean, where: string): number {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchError(422, `${where}: "${token}" is not an array index`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length))
    throw new PatchError(422, `${where}: index ${i} is out of range (length ${arr.length})`);
  return i;
}

function resolveParent(doc: Json, tokens: string[], where: string): Json {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false, where)];
    else if (isObject(cur) && Object.hasOwn(cur, t)) cur = cur[t];
    else throw new PatchError(422, `${where}: path does not exist (missing "${t}")`);
  }
  return cur;
}

function getAt(doc: Json, tokens: string[], where: string): Json {
  if (tokens.length === 0) return doc;
  const parent = resolveParent(doc, tokens, where);
  const last = tokens[tokens.length - 1] as string;
  if (Array.isArray(parent)) return parent[arrayIndex(parent, last, false, where)];
  if (isObject(parent) && Object.hasOwn(parent, last)) return parent[last];
  throw new PatchError(422, `${where}: path does not exist (missing "${last}")`);
}

function addAt(doc: Json, tokens: string[], value: Json, where: string): Json {
  if (tokens.length === 0) return value;
  const parent = resolveParent(doc, tokens, where);
  const last = tokens[tokens.length - 1] as string;
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true, where), 0, value);
  else if (isObject(parent)) parent[last] = value;
  else throw new PatchError(422, `${where}: parent of "${last}" is not an object or array`);
  return doc;
}

function removeAt(doc: Json, tokens: string[], where: string): Json {
  if (tokens.length === 0) throw new PatchError(422, `${where}: cannot remove the whole document`);
  const parent = resolveParent(doc, tokens, where);
  const last = tokens[tokens.length - 1] as string;
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false, where), 1);
  else if (isObject(parent) && Object.hasOwn(parent, last)) delete parent[last];
  else throw new PatchError(422, `${where}: path does not exist (missing "${last}")`);
  return doc;
}

/** RFC 6902 §4: applies the operations in order; any failure leaves `target` untouched. */
export function applyJsonPatch(target: Json, patch: Json): Json {
  if (!Array.isArray(patch)) throw new PatchError(400, 'a JSON patch (RFC 6902) must be an array of operations');
  let doc = clone(target);
  patch.forEach((op, i) => {
    const where = `JSON patch operation ${i}`;
    if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw new PatchError(400, `${where}: needs string "op" and "path" members (RFC 6902 §4)`);
    }
    const path = parsePointer(op.path, where);
    const needValue = () => {
      if (!Object.hasOwn(op, 'value')) throw new PatchError(400, `${where}: "${op.op}" needs a "value" member`);
      return clone(op.value);
    };
    const from = () => {
      if (typeof op.from !== 'string') throw new PatchError(400, `${where}: "${op.op}" needs a "from" member`);
      return parsePointer(op.from, where);
    };
    switch (op.op) {
      case 'add':
        doc = addAt(doc, path, needValue(), where);
        break;
      case 'remove':
        doc = removeAt(doc, path, where);
        break;
      case 'replace': {
        const v = needValue();
        getAt(doc, path, where);
        doc = path.length === 0 ? v : addAt(removeAt(doc, path, where), path, v, where);
        break;
      }
      case 'move': {
        const f = from();
        const v = getAt(doc, f, where);
        doc = addAt(removeAt(doc, f, where), path, v, where);
        break;
      }
      case 'copy':
        doc = addAt(doc, path, clone(getAt(doc, from(), where)), where);
        break;
      case 'test':
        if (!deepEqual(getAt(doc, path, where), needValue())) throw new PatchError(422, `${where}: test failed at "${op.path}"`);
        break;
      default:
        throw new PatchError(400, `${where}: unknown op "${op.op}" (add, remove, replace, move, copy, test)`);
    }
  });
  return doc;
}

// ---- strategic merge patch ----------------------------------------------------------------

// Which lists merge, by which key, and what type each nested object has come from the type table
// (api-schema.ts) and the patch tags (patch-tags.ts): the same source the API server's OpenAPI
// documents are built from, so a patch kubectl computes from /openapi/v2 merges here as computed.
// A value is described by a type expression (a type name, or `{T}` for a map of T).

/** The type expression of member `k` of an object described by `expr`. */
function memberExpr(expr: string | undefined, k: string): string | undefined {
  if (expr === undefined) return undefined;
  if (expr.startsWith('{')) return elementExprOf(expr);
  const type = namedTypeOf(expr);
  return type !== undefined && isApiType(type) ? apiTypeFields(type).get(k) : undefined;
}

/** The patch tag of member `k` of an object described by `expr`. */
function memberTag(expr: string | undefined, k: string): PatchTag | undefined {
  const type = expr === undefined ? undefined : namedTypeOf(expr);
  return type === undefined ? undefined : patchTagOf(type, k);
}

/** How a list merges: by `key` ('' for a list of primitives), elements described by `element`. */
export interface ListMerge {
  key: string;
  element: string | undefined;
}

/**
 * How strategic merge merges the list member `k` of an object described by `expr` (a type name
 * such as "core.v1.PodSpec"); undefined when the list is replaced as a whole. A list merges element
 * by element only under patchStrategy "merge" (apimachinery strategicpatch mergeSliceHandler).
 */
export function strategicListMergeOf(expr: string | undefined, k: string): ListMerge | undefined {
  const tag = memberTag(expr, k);
  if (tag === undefined || !tag.strategy.split(',').includes('merge')) return undefined;
  const field = memberExpr(expr, k);
  return { key: tag.mergeKey ?? '', element: field === undefined ? undefined : elementExprOf(field) };
}

const ORDER_PREFIX = '$setElementOrder/';
const DELETE_PRIMITIVE_PREFIX = '$deleteFromPrimitiveList/';

function stripDirectives(v: Json): Json {
  if (Array.isArray(v))
    return v.filter((e) => !(isObject(e) && e.$patch !== undefined && Object.keys(e).length === 1)).map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith(ORDER_PREFIX) || k.startsWith(DELETE_PRIMITIVE_PREFIX)) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}

function orderBy(list: Json[], order: Json, key: string | undefined): Json[] {
  if (!Array.isArray(order)) return list;
  const ident = (e: Json) => (key && isObject(e) ? e[key] : e);
  const wanted = order.map(ident);
  const ordered: Json[] = [];
  for (const w of wanted) for (const e of list) if (deepEqual(ident(e), w) && !ordered.includes(e)) ordered.push(e);
  return [...ordered, ...list.filter((e) => !ordered.includes(e))];
}

function mergeList(original: Json, patch: Json[], how: ListMerge, order: Json, where: string): Json[] {
  const key = how.key;
  if (patch.some((e) => isObject(e) && e.$patch === 'replace')) return stripDirectives(patch) as Json[];
  const result: Json[] = Array.isArray(original) ? clone(original) : [];
  if (key === '') {
    for (const v of patch) if (!result.some((x) => deepEqual(x, v))) result.push(clone(v));
    return orderBy(result, order, undefined);
  }
  for (const pe of patch) {
    if (!isObject(pe)) throw new PatchError(400, `${where}: list elements must be objects with the merge key "${key}"`);
    if (!Object.hasOwn(pe, key)) {
      throw new PatchError(400, `${where}: an element has no merge key "${key}" (strategic merge patch keys this list by it)`);
    }
    const idx = result.findIndex((e) => isObject(e) && deepEqual(e[key], pe[key]));
    if (pe.$patch === 'delete') {
      if (idx >= 0) result.splice(idx, 1);
      continue;
    }
    const merged = mergeObject(idx >= 0 ? result[idx] : undefined, pe, how.element, `${where}[${key}=${String(pe[key])}]`);
    if (idx >= 0) result[idx] = merged;
    else result.push(merged);
  }
  return orderBy(result, order, key);
}

/** Merges `patch` into `original`, an object described by the type expression `expr`. */
function mergeObject(original: Json, patch: JsonObject, expr: string | undefined, where: string): Json {
  if (patch.$patch === 'delete') return undefined;
  if (patch.$patch === 'replace') return stripDirectives(patch);
  if (patch.$patch !== undefined)
    throw new PatchError(400, `${where}: unknown $patch directive "${String(patch.$patch)}" (merge, replace, delete)`);
  const result: JsonObject = isObject(original) ? clone(original) : {};
  if (patch.$retainKeys !== undefined) applyRetainKeys(result, patch, where);
  for (const [k, pv] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith(ORDER_PREFIX)) continue;
    if (k.startsWith(DELETE_PRIMITIVE_PREFIX)) {
      const f = k.slice(DELETE_PRIMITIVE_PREFIX.length);
      const drop = Array.isArray(pv) ? pv : [];
      if (Array.isArray(result[f])) result[f] = (result[f] as Json[]).filter((x) => !drop.some((d) => deepEqual(d, x)));
      continue;
    }
    if (pv === null) {
      delete result[k];
      continue;
    }
    const path = `${where}.${k}`;
    if (Array.isArray(pv)) {
      const how = strategicListMergeOf(expr, k);
      result[k] = how !== undefined ? mergeList(result[k], pv, how, patch[ORDER_PREFIX + k], path) : stripDirectives(pv);
    } else if (isObject(pv)) {
      const merged = mergeObject(result[k], pv, memberExpr(expr, k), path);
      if (merged === undefined) delete result[k];
      else result[k] = merged;
    } else {
      result[k] = pv;
    }
  }
  // $setElementOrder for a list the patch does not otherwise touch.
  for (const [k, order] of Object.entries(patch)) {
    if (!k.startsWith(ORDER_PREFIX)) continue;
    const f = k.slice(ORDER_PREFIX.length);
    if (Object.hasOwn(patch, f) || !Array.isArray(result[f])) continue;
    result[f] = orderBy(result[f] as Json[], order, strategicListMergeOf(expr, f)?.key || undefined);
  }
  return result;
}

/**
 * apimachinery applyRetainKeysDirective: every field the patch sets must be named in $retainKeys
 * (else the patch is malformed), and the fields of `result` it does not name are cleared.
 */
function applyRetainKeys(result: JsonObject, patch: JsonObject, where: string): void {
  const retain = patch.$retainKeys;
  if (!Array.isArray(retain)) throw new PatchError(400, `${where}: $retainKeys must be a list of field names`);
  const keep = new Set(retain.map(String));
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$retainKeys' || v === null || k.startsWith(ORDER_PREFIX) || k.startsWith(DELETE_PRIMITIVE_PREFIX)) continue;
    if (!keep.has(k)) {
      throw new PatchError(400, `${where}: invalid patch format of retainKeys: the patch sets "${k}", which $retainKeys does not list`);
    }
  }
  for (const k of Object.keys(result)) if (!keep.has(k)) delete result[k];
}

/** Applies a strategic merge patch to an object of a served `kind` (Pod, Deployment, Service, ...). */
export function applyStrategicMergePatch(original: Json, patch: Json, kind: string): Json {
  if (!isObject(patch)) throw new PatchError(400, 'a strategic merge patch must be a JSON object');
  const type = typeOfServedKind(kind);
  if (type === undefined) throw new PatchError(400, `strategic merge patch: podnet has no schema for kind "${kind}"`);
  const merged = mergeObject(original, patch, type, kind);
  if (merged === undefined) throw new PatchError(422, 'a strategic merge patch cannot delete the whole object');
  return merged;
}

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

/** Content-Type → patch kind (apimachinery pkg/types/patch.go). */
export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const ct = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (ct === 'application/json-patch+json') return 'json';
  if (ct === 'application/merge-patch+json') return 'merge';
  if (ct === 'application/strategic-merge-patch+json') return 'strategic';
  if (ct === 'application/apply-patch+yaml' || ct === 'application/apply-patch+cbor') return 'apply';
  return undefined;
}
