// Request bodies in Kubernetes' protobuf encoding (application/vnd.kubernetes.protobuf), which
// kubectl's typed clients send for `create namespace|deployment|service` and `auth can-i`
// (a SelfSubjectAccessReview), and which the real
// apiserver accepts for built-in types (apimachinery pkg/runtime/serializer/protobuf). Decoded
// with the subset schema in proto/k8s-request-subset.proto into the JSON object the rest of
// the server works with. Answers stay JSON, which those clients accept.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { ApiError, badRequest } from './status.js';

const PROTO_URL = new URL('../../../proto/k8s-request-subset.proto', import.meta.url);
const root = protobuf.parse(readFileSync(PROTO_URL, 'utf8'), { keepCase: true }).root;
root.resolveAll();
const T = (name: string) => root.lookupType(`k8s.subset.${name}`);
const UnknownType = T('Unknown');

/** The 4-byte prefix of every Kubernetes protobuf object (protobuf.go protoEncodingPrefix). */
export const K8S_PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
export const K8S_PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

const KINDS: Record<string, protobuf.Type> = {
  'v1/Namespace': T('Namespace'),
  'v1/Service': T('Service'),
  'v1/Pod': T('Pod'),
  'apps/v1/Deployment': T('Deployment'),
  'authorization.k8s.io/v1/SelfSubjectAccessReview': T('SelfSubjectAccessReview'),
  'authorization.k8s.io/v1/SubjectAccessReview': T('SubjectAccessReview'),
  'authentication.k8s.io/v1/TokenReview': T('TokenReview'),
};

type Json = Record<string, unknown>;

function rfc3339(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}Z`;
}

/**
 * protobufjs' plain object → Kubernetes JSON. proto2 (gogo) writes every optional field,
 * empty strings and unset times included; Go's `omitempty` JSON would drop them, so do we.
 */
function toJson(type: protobuf.Type, obj: Json): Json {
  const out: Json = {};
  for (const field of type.fieldsArray) {
    const v = obj[field.name];
    if (v === undefined || v === null) continue;
    const sub = field.resolvedType;
    if (field.map) {
      const m: Json = {};
      for (const [k, mv] of Object.entries(v as Json)) m[k] = sub instanceof protobuf.Type ? convert(sub, mv as Json) : mv;
      if (Object.keys(m).length > 0) out[field.name] = m;
      continue;
    }
    if (sub instanceof protobuf.Type) {
      const list = field.repeated ? (v as Json[]).map((x) => convert(sub, x)) : [convert(sub, v as Json)];
      const kept = list.filter((x) => x !== undefined);
      if (field.repeated) {
        if (kept.length > 0) out[field.name] = kept;
      } else if (kept[0] !== undefined) out[field.name] = kept[0];
      continue;
    }
    if (v === '') continue;
    if (field.repeated && Array.isArray(v) && v.length === 0) continue;
    out[field.name] = v;
  }
  return out;
}

function convert(type: protobuf.Type, v: Json): unknown {
  switch (type.name) {
    case 'Time':
      return v.seconds === undefined || v.seconds === 0 ? undefined : rfc3339(Number(v.seconds));
    case 'IntOrString':
      return Number(v.type ?? 0) === 1 ? (v.strVal ?? '') : (v.intVal ?? 0);
    case 'Quantity':
      return v.string;
    case 'ExtraValue':
      return Array.isArray(v.items) ? v.items : [];
    default:
      return toJson(type, v);
  }
}

/** Decodes a protobuf request body into the object's JSON (with apiVersion and kind). */
export function decodeK8sProtobuf(body: Buffer, where: string): Json {
  if (body.length < 4 || !body.subarray(0, 4).equals(K8S_PROTOBUF_MAGIC)) {
    throw badRequest(`${where}: a ${K8S_PROTOBUF_MEDIA_TYPE} body must start with the bytes "k8s\\0"`);
  }
  let unknown: Json;
  try {
    unknown = UnknownType.toObject(UnknownType.decode(body.subarray(4)), { longs: Number }) as Json;
  } catch (e) {
    throw badRequest(`${where}: the protobuf body cannot be decoded: ${(e as Error).message}`);
  }
  const tm = (unknown.typeMeta ?? {}) as Json;
  const key = `${String(tm.apiVersion ?? '')}/${String(tm.kind ?? '')}`;
  const type = KINDS[key];
  if (!type) {
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `${where}: podnet decodes protobuf bodies only for ${Object.keys(KINDS).join(', ')}, not ${key}; send it as application/json`,
    );
  }
  try {
    const raw = (unknown.raw as Uint8Array | undefined) ?? new Uint8Array();
    const obj = toJson(type, type.toObject(type.decode(raw), { longs: Number }) as Json);
    return { apiVersion: tm.apiVersion, kind: tm.kind, ...obj };
  } catch (e) {
    throw badRequest(`${where}: the protobuf ${String(tm.kind)} cannot be decoded: ${(e as Error).message}`);
  }
}
