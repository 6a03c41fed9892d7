// Direct protobuf → Kubernetes JSON decoding for the watch schema (proto/podnet-watch.proto).
// protobufjs' own path decodes into Message instances (every repeated field a fresh [] and
// every map a fresh {}), then toObject copies them into plain objects, then the IntOrString
// pass copies again: three object graphs per event on every watcher. This decoder reads the
// wire format once, straight into the plain JSON object the watch client hands out.
//
// Like protobufjs itself (its decoder.js generates one function per message type), the
// decoders are generated from the reflection of the parsed .proto, once at load: one function
// per message type with a `switch` on the field number and constant property names, so every
// read and every property store is a monomorphic site. Generated from the schema, they cannot
// drift from it. They keep exactly what toObject({longs: Number}) keeps: a field present on the
// wire is present in the object (an empty sub-message becomes {}, a zero value that was sent
// stays), unset fields and empty repeated/map fields are absent, and an IntOrString becomes the
// bare number or string of Kubernetes JSON (apimachinery pkg/util/intstr). Unknown field
// numbers are skipped (https://protobuf.dev/programming-guides/proto3/#unknowns).
import protobuf from 'protobufjs';

type Json = Record<string, unknown>;

/** Decodes `length` bytes at the reader's position into `into` and returns it. */
export type MessageDecoder = (r: protobuf.Reader, length: number, into: Json) => Json;

const WIRE_LENGTH_DELIMITED = 2;

function longToNumber(v: unknown): number {
  // protobufjs returns a Long for 64-bit fields when the `long` package is present; watch
  // objects hold seconds and counters far below 2^53, as toObject({longs: Number}) assumes.
  return typeof v === 'number' ? v : (v as { toNumber(): number }).toNumber();
}

/** An IntOrString message (oneof {int32 intVal = 1; string strVal = 2}) → its bare value. */
function readIntOrString(r: protobuf.Reader): number | string | undefined {
  // The length first: in `r.pos + r.uint32()` the position is read before the length is consumed.
  const length = r.uint32();
  const end = r.pos + length;
  let v: number | string | undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    const n = tag >>> 3;
    if (n === 1) v = r.int32();
    else if (n === 2) v = r.string();
    else r.skipType(tag & 7);
  }
  return v;
}

function defineOwn(o: Json, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

function overrun(type: string, pos: number, end: number): never {
  throw new RangeError(`${type}: a field ran past the end of its message (at byte ${pos}, end ${end})`);
}

/** The expression reading one scalar of protobuf type `type` from reader `r`. */
function scalarExpr(type: string, where: string): string {
  switch (type) {
    case 'string':
    case 'bool':
    case 'int32':
    case 'uint32':
    case 'sint32':
    case 'fixed32':
    case 'sfixed32':
    case 'double':
    case 'float':
    case 'bytes':
      return `r.${type}()`;
    case 'int64':
    case 'uint64':
    case 'sint64':
    case 'fixed64':
    case 'sfixed64':
      return `N(r.${type}())`;
    default:
      throw new TypeError(`${where}: the protobuf JSON decoder has no reader for the field type "${type}"`);
  }
}

/** The zero value protobuf gives a map entry whose value is absent. */
function zeroExpr(type: string): string {
  if (type === 'string') return '""';
  if (type === 'bool') return 'false';
  if (type === 'bytes') return 'new Uint8Array(0)';
  return '0';
}

/**
 * Generates the decoder of `root` and of every message type reachable from it; returns the
 * lookup of a type's decoder. `intOrString` is decoded to a bare number or string.
 */
export function compileDecoders(root: protobuf.Type, intOrString: protobuf.Type): (type: protobuf.Type) => MessageDecoder {
  const index = new Map<protobuf.Type, number>();
  const decoders: MessageDecoder[] = [];
  const pending: protobuf.Type[] = [];
  const indexOf = (t: protobuf.Type): number => {
    let i = index.get(t);
    if (i === undefined) {
      i = index.size;
      index.set(t, i);
      pending.push(t);
    }
    return i;
  };
  const valueExpr = (typeName: string, resolved: protobuf.ReflectionObject | null, where: string): string => {
    if (resolved === intOrString) return 'S(r)';
    if (resolved instanceof protobuf.Type) return `D[${indexOf(resolved)}](r, r.uint32(), {})`;
    if (resolved instanceof protobuf.Enum) return 'r.int32()';
    return scalarExpr(typeName, where);
  };
  indexOf(root);
  while (pending.length > 0) {
    const type = pending.shift() as protobuf.Type;
    const cases: string[] = [];
    for (const f of type.fieldsArray) {
      const where = `${type.name}.${f.name}`;
      const key = JSON.stringify(f.name);
      if (f instanceof protobuf.MapField) {
        const v = valueExpr(f.type, f.resolvedType, `${where} (map value)`);
        const zero = f.resolvedType instanceof protobuf.Type ? '{}' : zeroExpr(f.type);
        cases.push(`case ${f.id}: {
          const m = o[${key}] || (o[${key}] = {});
          const n = r.uint32();
          const e = r.pos + n;
          let k = "", v;
          while (r.pos < e) {
            const u = r.uint32();
            switch (u >>> 3) {
              case 1: k = ${scalarExpr(f.keyType, `${where} (map key)`)}; break;
              case 2: v = ${v}; break;
              default: r.skipType(u & 7);
            }
          }
          if (v === undefined) v = ${zero};
          // A key "__proto__" must stay an own entry (as JSON.parse and protobufjs keep it),
          // never reach the object's prototype through the setter.
          if (k === "__proto__") P(m, k, v); else m[k] = v;
          break;
        }`);
      } else if (f.repeated) {
        const v = valueExpr(f.type, f.resolvedType, where);
        const packable = !(f.resolvedType instanceof protobuf.Type) && f.type !== 'string' && f.type !== 'bytes';
        cases.push(`case ${f.id}: {
          const a = o[${key}] || (o[${key}] = []);
          ${
            packable
              ? `if ((t & 7) === ${WIRE_LENGTH_DELIMITED}) { const n = r.uint32(); const e = r.pos + n; while (r.pos < e) a.push(${v}); } else a.push(${v});`
              : `a.push(${v});`
          }
          break;
        }`);
      } else if (f.resolvedType === intOrString) {
        // An IntOrString with neither member set carries no value: leave the field out.
        cases.push(`case ${f.id}: { const v = S(r); if (v !== undefined) o[${key}] = v; break; }`);
      } else {
        cases.push(`case ${f.id}: o[${key}] = ${valueExpr(f.type, f.resolvedType, where)}; break;`);
      }
    }
    const body = `return function decode_${type.name}(r, length, o) {
      const end = r.pos + length;
      while (r.pos < end) {
        const t = r.uint32();
        switch (t >>> 3) {
          ${cases.join('\n')}
          default: r.skipType(t & 7);
        }
      }
      if (r.pos !== end) X(${JSON.stringify(type.name)}, r.pos, end);
      return o;
    };`;
    // Inputs of the generated code: the decoder table (filled before any decoder runs), the
    // IntOrString reader, the Long conversion, the overrun error and the own-key store. No user data reaches the
    // generated source: only field names and numbers of the parsed schema, JSON-quoted.
    decoders[index.get(type) as number] = new Function('D', 'S', 'N', 'X', 'P', body)(
      decoders,
      readIntOrString,
      longToNumber,
      overrun,
      defineOwn,
    ) as MessageDecoder;
  }
  return (type) => {
    const i = index.get(type);
    if (i === undefined) throw new TypeError(`${type.name} is not reachable from ${root.name}`);
    return decoders[i] as MessageDecoder;
  };
}
