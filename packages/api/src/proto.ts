// The binary watch codec (proto/podnet-watch.proto). The schema names every field with its
// Kubernetes JSON name, so a JSON object maps onto its message by reflection: walk the message
// type, copy the fields it declares, and convert the one JSON shape protobuf cannot express
// directly, IntOrString (a bare number or a bare string: apimachinery pkg/util/intstr).
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { compileDecoders, type MessageDecoder } from './proto-json-decoder.js';

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

/** Field number → [kind, decoder] of the WatchEvent oneof `object` members that are messages. */
const decoderOf = compileDecoders(WatchEventType, IntOrStringType);
const OBJECT_FIELDS: ([string, MessageDecoder] | undefined)[] = [];
for (const [field, kind] of Object.entries(KIND_BY_FIELD)) {
  const f = WatchEventType.fields[field] as protobuf.Field;
  OBJECT_FIELDS[f.id] = [kind, decoderOf(f.resolvedType as protobuf.Type)];
}
const TYPE_FIELD = (WatchEventType.fields.type as protobuf.Field).id;
const RV_FIELD = (WatchEventType.fields.resourceVersion as protobuf.Field).id;
const JSON_FIELD = (WatchEventType.fields.json as protobuf.Field).id;

/**
 * Decodes one WatchEvent message back into the JSON watch event it stands for, in one pass
 * straight into plain objects (proto-json-decoder.ts): what protobufjs' decode + toObject gave,
 * without the intermediate Message graph.
 */
export function decodeWatchEvent(bytes: Uint8Array): WatchEventJson & { resourceVersion: string } {
  // The plain Reader even for a Buffer: its JavaScript UTF-8 decoding of the many short
  // strings of an object beats BufferReader's native utf8Slice call per string (measured ~20%
  // of the decode on an EndpointSlice).
  const r = new protobuf.Reader(bytes);
  let type = '';
  let resourceVersion = '';
  let object: Json | undefined;
  let json: Uint8Array | undefined;
  while (r.pos < r.len) {
    const tag = r.uint32();
    const n = tag >>> 3;
    if (n === TYPE_FIELD) type = r.string();
    else if (n === RV_FIELD) resourceVersion = r.string();
    else if (n === JSON_FIELD) {
      json = r.bytes();
      object = undefined;
    } else {
      const member = OBJECT_FIELDS[n];
      if (member === undefined) r.skipType(tag & 7);
      else {
        // A oneof keeps its last member on the wire (protobuf: "the last one seen wins").
        const [kind, decode] = member;
        object = decode(r, r.uint32(), { kind, apiVersion: API_VERSION_BY_KIND[kind] });
        json = undefined;
      }
    }
  }
  if (json !== undefined) {
    // protobufjs hands bytes back as a view of the input's type (a plain Uint8Array from a
    // WebSocket frame, a Buffer from its own writer): decode the view itself.
    object = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8')) as Json;
  }
  if (object === undefined) throw new Error('PODNET_ERR_PROTO: WatchEvent carries no object (expected one of the oneof "object" fields)');
  return { type, resourceVersion, object };
}
