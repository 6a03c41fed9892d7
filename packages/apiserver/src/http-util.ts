// Request helpers: body decoding (JSON, YAML, patches) with clear 400s, query parsing, and the
// resource path grammar of the real apiserver (pkg/endpoints/installer.go):
//   /api/v1[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]
//   /apis/{group}/{version}[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]
import { findResource, type ResourceInfo } from '@podnet/api';
import { parse as parseYaml } from 'yaml';
import { decodeK8sProtobuf, K8S_PROTOBUF_MEDIA_TYPE } from './k8s-protobuf.js';
import { ApiError, badRequest } from './status.js';

export interface ResourcePath {
  info: ResourceInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
}

export type PathMatch =
  | { kind: 'resource'; path: ResourcePath }
  | { kind: 'unknown-resource'; group: string; version: string; resource: string }
  | { kind: 'none' };

export function matchResourcePath(segs: string[]): PathMatch {
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 3) {
    group = '';
    version = segs[1] as string;
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 4) {
    group = segs[1] as string;
    version = segs[2] as string;
    rest = segs.slice(3);
  } else return { kind: 'none' };
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const inner = findResource(group, version, rest[2] as string);
    if (inner?.namespaced) {
      namespace = rest[1];
      rest = rest.slice(2);
    } else if (group === '' && rest.length === 3 && rest[2] !== 'status' && rest[2] !== 'finalize') {
      return { kind: 'unknown-resource', group, version, resource: rest[2] as string };
    }
  }
  const resource = rest[0] as string;
  const info = findResource(group, version, resource);
  if (!info) return { kind: 'unknown-resource', group, version, resource };
  if (rest.length > 3) return { kind: 'none' };
  return { kind: 'resource', path: { info, namespace, name: rest[1], subresource: rest[2] } };
}

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Decodes a request body: JSON (and the JSON patch types) or YAML; 400 on malformed input. */
export function decodeBody(raw: Buffer | undefined, contentType: string | undefined, where: string): unknown {
  const mt = mediaType(contentType);
  if (mt === K8S_PROTOBUF_MEDIA_TYPE && raw && raw.length > 0) return decodeK8sProtobuf(raw, where);
  const text = raw ? raw.toString('utf8') : '';
  if (text.trim() === '') throw badRequest(`${where}: the request body is empty; send a JSON or YAML object`);
  const isYaml = mt === 'application/yaml' || mt === 'application/x-yaml' || mt === 'text/yaml' || mt === 'application/apply-patch+yaml';
  if (isYaml) {
    try {
      const docs = parseYaml(text, { prettyErrors: true });
      return docs;
    } catch (e) {
      throw badRequest(`${where}: the body is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (mt === '' || mt === 'application/json' || mt.endsWith('+json')) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw badRequest(`${where}: the body is not valid JSON: ${(e as Error).message}`);
    }
  }
  throw new ApiError(
    415,
    'UnsupportedMediaType',
    `${where}: unsupported media type "${mt}"; send application/json, application/yaml, or a patch type (application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml)`,
  );
}

export function queryBool(v: unknown): boolean {
  return v === 'true' || v === '1' || v === '';
}

export function queryInt(v: unknown, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw badRequest(`query parameter ${name}="${String(v)}" must be a non-negative integer`);
  return n;
}
