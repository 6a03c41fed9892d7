// The binary watch codec (proto/podnet-watch.proto). The schema names every field with its
// Kubernetes JSON name, so a JSON object maps onto its message by reflection: walk the message
// type, copy the fields it declares, and convert the one JSON shape protobuf cannot express
// directly, IntOrString (a bare number or a bare string: apimachinery pkg/util/intstr).
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';

const PROTO_URL = new URL('../../../proto/podnet-watch.proto', import.meta.url);

/** The WebSocket subprotocol a client names to receive WatchEvent messages in binary frames. */
export const WATCH_PROTOBUF_SUBPROTOCOL = 'podnet.watch.v1.protobuf';

const root = protobuf.parse(readFileSync(PROTO_URL, 'utf8'), { keepCase: true }).root;
root.resolveAll();
const ns = 'podnet.watch.v1.';
const WatchEventType = root.lookupType(`${ns}WatchEvent`);
const IntOrStringType = root.lookupType(`${ns}IntOrString`);

/** Kind → the WatchEvent oneof field that carries it. */
const FIELD_BY_KIND: Record<string, string> = {
  Pod: 'pod',
  Service: 'service',
  EndpointSlice: 'endpointSlice',
  Node: 'node',
  Namespace: 'namespace',
  NetworkPolicy: 'networkPolicy',
  Lease: 'lease',
  Status: 'status',
};

const API_VERSION_BY_KIND: Record<string, string> = {
  Pod: 'v1',
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Node: 'v1',
  Namespace: 'v1',
  NetworkPolicy: 'networking.k8s.io/v1',
  Lease: 'coordination.k8s.io/v1',
  Status: 'v1',
};

const KIND_BY_FIELD = Object.fromEntries(Object.entries(FIELD_BY_KIND).map(([k, f]) => [f, k]));

/** Kinds that travel as proper messages; every other kind travels as JSON bytes. */
export const PROTOBUF_WATCH_KINDS: readonly string[] = Object.keys(FIELD_BY_KIND);

export interface WatchEventJson {
  type: string;
  object: Record<string, unknown>;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const intOrStringInside = new Map<protobuf.Type, boolean>();

/** Whether a message type holds an IntOrString anywhere below it (the only field needing conversion). */
function hasIntOrString(type: protobuf.Type, seen = new Set<protobuf.Type>()): boolean {
  const known = intOrStringInside.get(type);
  if (known !== undefined) return known;
  if (seen.has(type)) return false;
  seen.add(type);
  let found = false;
  for (const f of type.fieldsArray) {
    const sub = f.resolvedType;
    if (sub === IntOrStringType || (sub instanceof protobuf.Type && !f.map && hasIntOrString(sub, seen))) found = true;
  }
  intOrStringInside.set(type, found);
  return found;
}

/**
 * JSON value of a message-typed field → the plain object protobufjs' fromObject accepts.
 * fromObject itself reads only declared fields (unknown JSON fields are dropped), so only
 * subtrees holding an IntOrString need rewriting.
 */
function jsonToMessage(type: protobuf.Type, json: Json): Json {
  if (!hasIntOrString(type)) return json;
  const out: Json = {};
  for (const field of type.fieldsArray) {
    const v = json[field.name];
    if (v === undefined || v === null) continue;
    const sub = field.resolvedType;
    const misfit = () => new TypeError(`${type.name}.${field.name}: the JSON value does not fit the message`);
    if (field.map) {
      if (!isObject(v)) throw misfit();
      const m: Json = {};
      for (const [k, mv] of Object.entries(v)) m[k] = String(mv);
      out[field.name] = m;
    } else if (sub instanceof protobuf.Type) {
      const conv = (x: unknown) => {
        const c = sub === IntOrStringType ? intOrStringToMessage(x) : isObject(x) ? jsonToMessage(sub, x) : undefined;
        if (c === undefined) throw misfit();
        return c;
      };
      if (field.repeated) {
        if (!Array.isArray(v)) throw misfit();
        out[field.name] = v.map(conv);
      } else {
        out[field.name] = conv(v);
      }
    } else {
      out[field.name] = v;
    }
  }
  return out;
}

function intOrStringToMessage(v: unknown): Json | undefined {
  if (typeof v === 'number') return { intVal: v };
  if (typeof v === 'string') return { strVal: v };
  return undefined;
}

/** protobufjs' toObject output → Kubernetes JSON (IntOrString back to a bare number/string). */
function messageToJson(type: protobuf.Type, obj: Json): Json {
  if (!hasIntOrString(type)) return obj;
  const out: Json = {};
  for (const field of type.fieldsArray) {
    const v = obj[field.name];
    if (v === undefined || v === null) continue;
    const sub = field.resolvedType;
    if (sub instanceof protobuf.Type && !field.map) {
      const conv = (x: unknown) =>
        sub === IntOrStringType ? ((x as Json).intVal ?? (x as Json).strVal) : messageToJson(sub, (x ?? {}) as Json);
      out[field.name] = field.repeated ? (v as unknown[]).map(conv) : conv(v);
    } else {
      out[field.name] = v;
    }
  }
  return out;
}

/** Encodes one watch event as a WatchEvent message (one WebSocket binary frame). */
export function encodeWatchEvent(event: WatchEventJson): Uint8Array {
  const obj = event.object;
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const rv = typeof meta.resourceVersion === 'string' ? meta.resourceVersion : '';
  const field = FIELD_BY_KIND[kind];
  const payload: Json = { type: event.type, resourceVersion: rv };
  if (field) {
    const t = WatchEventType.fields[field]?.resolvedType as protobuf.Type;
    try {
      payload[field] = jsonToMessage(t, obj);
      return WatchEventType.encode(WatchEventType.fromObject(payload)).finish();
    } catch {
      // An object whose shape does not fit the schema (a list where a map belongs, say) still
      // reaches the watcher, whole, as JSON bytes: a watch must never fail on one odd object.
      delete payload[field];
    }
  }
  payload.json = Buffer.from(JSON.stringify(obj), 'utf8');
  return WatchEventType.encode(WatchEventType.fromObject(payload)).finish();
}

/** Decodes one WatchEvent message back into the JSON watch event it stands for. */
export function decodeWatchEvent(bytes: Uint8Array): WatchEventJson & { resourceVersion: string } {
  const msg = WatchEventType.decode(bytes);
  const plain = WatchEventType.toObject(msg, { longs: Number, bytes: Buffer }) as Json;
  const type = String(plain.type ?? '');
  const resourceVersion = String(plain.resourceVersion ?? '');
  if (plain.json) {
    // protobufjs hands bytes back as a view of the input's type (a plain Uint8Array from a
    // WebSocket frame, a Buffer from its own writer): decode the view itself.
    const view = plain.json as Uint8Array;
    const object = JSON.parse(Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('utf8')) as Json;
    return { type, resourceVersion, object };
  }
  for (const [field, kind] of Object.entries(KIND_BY_FIELD)) {
    const v = plain[field];
    if (v === undefined) continue;
    const t = WatchEventType.fields[field]?.resolvedType as protobuf.Type;
    const object = { kind, apiVersion: API_VERSION_BY_KIND[kind], ...messageToJson(t, v as Json) };
    return { type, resourceVersion, object };
  }
  throw new Error('PODNET_ERR_PROTO: WatchEvent carries no object (expected one of the oneof "object" fields)');
}
