// Server-side field validation (KEP-2885, GA in Kubernetes 1.27): the `fieldValidation` query
// parameter of create, update and patch. The real server decodes a body into typed Go structs;
// a JSON key no struct field takes is an "unknown field" and a key seen twice in one object a
// "duplicate field" (sigs.k8s.io/json UnmarshalStrict). Both are reported with the path of the
// field: `spec.template.spec.containers[0].imagePullPolcy` (struct fields joined by ".", list
// indices as "[i]", map keys as ".key"), at most 100 per request, each message once.
//   Strict  the request fails (create/update: 400 BadRequest "<Kind> in version "v1" cannot be
//           handled as a <Kind>: strict decoding error: unknown field "...", ...", as
//           handlers/rest.go transformDecodeError words it; patch: 422 Invalid on `patch`)
//   Warn    the default when the parameter is absent (handlers/rest.go fieldValidation): the
//           write succeeds with one `Warning: 299 - "unknown field \"...\""` per field
//   Ignore  silently accepted
// In every mode unknown fields are dropped, never stored: a typed decode has nowhere to keep them.
//
// The types are the one generated table (@podnet/api api-types.ts, the same one /openapi/v2,
// /openapi/v3 and the strategic merge patch read). Maps (`{T}`), `int-or-string`, Quantity
// (a string in the table) and `any` (FieldsV1, the free-form RawExtension-like fields) take any
// keys; only a table type's fields are checked.
import { apiTypeFields, elementExprOf, type FieldError, namedTypeOf, typeOfServedKind } from '@podnet/api';
import { mediaType } from './http-util.js';
import { invalid } from './status.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

/** sigs.k8s.io/json saveStrictError: "prevent excessive numbers of accumulated errors". */
export const MAX_STRICT_ERRORS = 100;

/**
 * The directive of one write: absent or "" is Warn (handlers/rest.go fieldValidation). Any other
 * value is 422 Invalid, as metav1 validation ValidateFieldValidation refuses it
 * (`CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: ...`).
 */
export function fieldValidationOf(value: unknown, options: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions'): FieldValidation {
  if (value === undefined || value === '') return 'Warn';
  if (value === 'Strict' || value === 'Warn' || value === 'Ignore') return value;
  throw invalid(options, 'meta.k8s.io', '', [
    {
      type: 'NotSupported',
      field: 'fieldValidation',
      value: Array.isArray(value) ? value.join(',') : String(value),
      detail: 'supported values: "", "Ignore", "Strict", "Warn"',
    },
  ]);
}

/**
 * The paths of the fields of `o` (an object of a served kind) that its type does not have, in
 * the object's key order. With `prune` they are also deleted from `o` (the stored object keeps
 * only known fields, as the typed decode does).
 */
export function unknownFields(kind: string, o: unknown, prune = false): string[] {
  const type = typeOfServedKind(kind);
  const out: string[] = [];
  if (type !== undefined) walkNamed(type, o, '', out, prune);
  return out;
}

function walkNamed(type: string, v: unknown, path: string, out: string[], prune: boolean): void {
  // A value of the wrong JSON type (a string where an object belongs) is not an unknown field:
  // object validation reports it.
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return;
  const fields = apiTypeFields(type);
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    const p = path === '' ? key : `${path}.${key}`;
    const expr = fields.get(key);
    if (expr === undefined) {
      out.push(p);
      if (prune) delete o[key];
    } else walkExpr(expr, o[key], p, out, prune);
  }
}

/** What a type expression holds, read once per expression (walks run on every write). */
type Shape = { of: 'free' } | { of: 'named'; type: string } | { of: 'list' | 'map'; element: string };
const shapes = new Map<string, Shape>();

function shapeOf(expr: string): Shape {
  let shape = shapes.get(expr);
  if (shape === undefined) {
    const named = namedTypeOf(expr);
    const element = elementExprOf(expr);
    if (named !== undefined) shape = { of: 'named', type: named };
    // A list or map of primitives, int-or-string or `any` is free-form: no field names to check.
    else if (element === undefined || shapeOf(element).of === 'free') shape = { of: 'free' };
    else shape = { of: expr.startsWith('[') ? 'list' : 'map', element };
    shapes.set(expr, shape);
  }
  return shape;
}

function walkExpr(expr: string, v: unknown, path: string, out: string[], prune: boolean): void {
  if (typeof v !== 'object' || v === null) return;
  const shape = shapeOf(expr);
  if (shape.of === 'named') walkNamed(shape.type, v, path, out, prune);
  else if (shape.of === 'list') {
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) walkExpr(shape.element, v[i], `${path}[${i}]`, out, prune);
  } else if (shape.of === 'map' && !Array.isArray(v)) {
    for (const [key, x] of Object.entries(v)) walkExpr(shape.element, x, `${path}.${key}`, out, prune);
  }
}

/**
 * The paths of the keys a JSON text repeats inside one object (`{"a":1,"a":2}` → "a"), in
 * document order, for any object (sigs.k8s.io/json DisallowDuplicateFields checks typed structs,
 * maps and free-form values alike). The text must be valid JSON (the body was parsed already).
 * Iterative, so a deeply nested body cannot exhaust the stack.
 */
export function duplicateFields(text: string): string[] {
  const out: string[] = [];
  // One frame per open object or array: its path segments are joined only when a duplicate is found.
  const segments: string[] = [];
  const frames: { seen: Set<string> | undefined; index: number }[] = [];
  const n = text.length;
  let i = 0;
  // The path of `key` in the innermost object: the segments of the frames around it, then the key.
  const pathOf = (key: string) => {
    let p = '';
    for (let k = 0; k < segments.length - 1; k++) p += segments[k];
    return p === '' ? key : `${p}.${key}`;
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) {
      frames.push({ seen: new Set(), index: -1 });
      segments.push('');
      i++;
    } else if (c === 0x5b /* [ */) {
      frames.push({ seen: undefined, index: 0 });
      segments.push('[0]');
      i++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      frames.pop();
      segments.pop();
      i++;
    } else if (c === 0x2c /* , */) {
      const top = frames[frames.length - 1];
      if (top !== undefined && top.seen === undefined) {
        top.index++;
        segments[segments.length - 1] = `[${top.index}]`;
      }
      i++;
    } else if (c === 0x22 /* " */) {
      // The closing quote: the next one not escaped by an odd run of backslashes.
      const start = i + 1;
      let end = text.indexOf('"', start);
      while (end !== -1 && oddBackslashesBefore(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) end = n;
      const raw = text.slice(start, end);
      const escaped = raw.includes('\\');
      i = end + 1;
      let j = i;
      while (j < n && isSpace(text.charCodeAt(j))) j++;
      const top = frames[frames.length - 1];
      // A string followed by ":" inside an object is a key.
      if (top?.seen !== undefined && text.charCodeAt(j) === 0x3a /* : */) {
        const key = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.seen.has(key)) out.push(pathOf(key));
        else top.seen.add(key);
        segments[segments.length - 1] = segments.length === 1 ? key : `.${key}`;
        i = j + 1;
      }
    } else i++;
  }
  return out;
}

function oddBackslashesBefore(text: string, at: number): boolean {
  let k = at - 1;
  while (k >= 0 && text.charCodeAt(k) === 0x5c) k--;
  return (at - 1 - k) % 2 === 1;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The duplicate fields of a request body, when it is JSON (YAML refuses duplicate keys itself). */
export function duplicateFieldsOfBody(raw: Buffer | undefined, contentType: string | undefined): string[] {
  const mt = mediaType(contentType);
  if (raw === undefined || raw.length === 0 || !(mt === '' || mt === 'application/json' || mt.endsWith('+json'))) return [];
  return duplicateFields(raw.toString('utf8'));
}

/** The strict errors of a request: duplicates, then unknown fields, each once, at most 100. */
export function strictErrors(duplicates: string[], unknown: string[]): string[] {
  const all = new Set<string>();
  for (const p of duplicates) all.add(`duplicate field "${p}"`);
  for (const p of unknown) all.add(`unknown field "${p}"`);
  return [...all].slice(0, MAX_STRICT_ERRORS);
}

/** runtime.NewStrictDecodingError(errs).Error(). */
export function strictDecodingMessage(errors: string[]): string {
  return `strict decoding error: ${errors.join(', ')}`;
}

/**
 * Duplicates inside an unknown field are not reported: the typed decode skips an unknown
 * field's value without looking into it, and a repeated unknown key is one unknown field.
 */
export function outsideUnknown(duplicates: string[], unknown: string[]): string[] {
  if (unknown.length === 0) return duplicates;
  return duplicates.filter((d) => !unknown.some((u) => d === u || d.startsWith(`${u}.`) || d.startsWith(`${u}[`)));
}

/** The 400 a create or update gets under Strict (handlers/rest.go transformDecodeError). */
export function strictBodyMessage(kind: string, version: string, errors: string[]): string {
  return `${kind} in version "${version}" cannot be handled as a ${kind}: ${strictDecodingMessage(errors)}`;
}

/**
 * The 422 a patch gets under Strict (handlers/patch.go): an Invalid error on the field `patch`
 * whose value is the patch as Go prints a map (`%+v`, strategic merge) or the patched object's
 * JSON (JSON merge and JSON patches).
 */
export function strictPatchError(shown: string, errors: string[]) {
  const cause: FieldError = { type: 'Invalid', field: 'patch', value: shown, detail: strictDecodingMessage(errors) };
  return invalid('', '', '', [cause]);
}

/** A decoded JSON value as Go's fmt `%+v` prints it: `map[a:1 b:[x y]]` (map keys sorted). */
export function goValueString(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goValueString).join(' ')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${goValueString((v as Record<string, unknown>)[k])}`).join(' ')}]`;
  }
  return String(v);
}
