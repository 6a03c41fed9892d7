// Serving the OpenAPI documents the way kube-openapi does (pkg/handler for v2, pkg/handler3 for
// v3): the media type chosen from `Accept` (goautoneg order), `Vary: Accept`, a quoted ETag
// (upper-case hex SHA-512 of the bytes) and Last-Modified, answered with 304 on a matching
// If-None-Match / If-Modified-Since (Go's http.ServeContent), because kubectl keeps these
// documents in its HTTP disk cache (~/.kube/cache/http) and revalidates them.
// A v3 group-version fetched with `?hash=` that matches is `Cache-Control: public, immutable`
// with Expires a year on; a stale hash is redirected (301) to the current one.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { openapiEtag, openapiGroupVersionJson, openapiRoot } from './openapi.js';
import { encodeOpenapiV2, openapiV2 } from './openapi-v2.js';
import { ApiError } from './status.js';

export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';
/** What client-go sends; kube-openapi answers it with the non-deprecated name above. */
export const OPENAPI_V2_PROTOBUF_DEPRECATED = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

interface Clause {
  type: string;
  subtype: string;
  q: number;
}

/** An Accept header as goautoneg.ParseAccept orders it: q descending, then the more specific. */
export function parseAccept(accept: string | undefined): Clause[] {
  const header = accept === undefined || accept.trim() === '' ? '*/*' : accept;
  const clauses: Clause[] = [];
  for (const part of header.split(',')) {
    const [range, ...params] = part.split(';').map((s) => s.trim());
    if (!range) continue;
    const [type = '', subtype = '*'] = range.toLowerCase().split('/');
    let q = 1;
    for (const p of params) {
      const m = /^q=([0-9.]+)$/i.exec(p);
      if (m) q = Number(m[1]);
    }
    clauses.push({ type, subtype, q });
  }
  const specificity = (c: Clause) => (c.type === '*' ? 0 : 2) + (c.subtype === '*' ? 0 : 1);
  return clauses
    .map((c, i) => ({ c, i }))
    .sort((a, b) => b.c.q - a.c.q || specificity(b.c) - specificity(a.c) || a.i - b.i)
    .map((x) => x.c);
}

/** The first offer (a full media type) the sorted clauses accept, or undefined (406). */
export function negotiate(accept: string | undefined, offers: readonly string[]): string | undefined {
  for (const c of parseAccept(accept)) {
    if (c.q <= 0) continue;
    for (const offer of offers) {
      const [type, subtype] = offer.split('/');
      if ((c.type === type || c.type === '*') && (c.subtype === subtype || c.subtype === '*')) return offer;
    }
  }
  return undefined;
}

function notAcceptable(path: string, accept: string | undefined, offers: readonly string[]): ApiError {
  return new ApiError(406, 'NotAcceptable', `${path} cannot be served as "${accept ?? ''}"; accepted media types: ${offers.join(', ')}`);
}

// RFC 9110 §13.1.2: If-None-Match is a list of entity tags (or *), compared weakly for GET.
function etagMatches(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch.trim() === '*') return true;
  const strip = (t: string) => t.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => strip(t) === etag);
}

export interface Representation {
  bytes: string | Uint8Array;
  contentType: string;
  lastModified: Date;
}

/** 200 with the body, or 304 when the client's cached copy is current (http.ServeContent). */
export function serveRepresentation(req: FastifyRequest, reply: FastifyReply, r: Representation): FastifyReply {
  const etag = `"${openapiEtag(r.bytes)}"`;
  reply.header('ETag', etag);
  // HTTP dates have second precision; ServeContent compares truncated times.
  const modified = Math.floor(r.lastModified.getTime() / 1000) * 1000;
  reply.header('Last-Modified', new Date(modified).toUTCString());
  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  const fresh =
    inm !== undefined ? etagMatches(inm, etag) : ims !== undefined && !Number.isNaN(Date.parse(ims)) && modified <= Date.parse(ims);
  if (fresh) return reply.code(304).send();
  return reply
    .code(200)
    .type(r.contentType)
    .send(typeof r.bytes === 'string' ? r.bytes : Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength));
}

// The documents are fixed for the process's life (RESOURCES is static): build them once, lazily.
const BUILT_AT = new Date();
let v2: { json: string; protobuf: Uint8Array } | undefined;
function v2Bytes(): { json: string; protobuf: Uint8Array } {
  if (!v2) {
    const doc = openapiV2();
    v2 = { json: JSON.stringify(doc), protobuf: encodeOpenapiV2(doc) };
  }
  return v2;
}

const V2_OFFERS = ['application/json', OPENAPI_V2_PROTOBUF_DEPRECATED, OPENAPI_V2_PROTOBUF] as const;

/** GET /openapi/v2 (kube-openapi pkg/handler RegisterOpenAPIVersionedService). */
export function serveOpenapiV2(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.header('Vary', 'Accept');
  const chosen = negotiate(req.headers.accept, V2_OFFERS);
  if (chosen === undefined) throw notAcceptable('/openapi/v2', req.headers.accept, V2_OFFERS);
  const b = v2Bytes();
  return chosen === 'application/json'
    ? serveRepresentation(req, reply, { bytes: b.json, contentType: 'application/json', lastModified: BUILT_AT })
    : serveRepresentation(req, reply, { bytes: b.protobuf, contentType: OPENAPI_V2_PROTOBUF, lastModified: BUILT_AT });
}

/** GET /openapi/v3 (handler3 HandleDiscovery). */
export function serveOpenapiV3Root(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return serveRepresentation(req, reply, { bytes: JSON.stringify(openapiRoot()), contentType: 'application/json', lastModified: BUILT_AT });
}

/**
 * GET /openapi/v3/<group-version> (handler3 HandleGroupVersion). JSON only: podnet does not
 * encode the v3 protobuf, and kubectl 1.32 asks for JSON (client-go openapi/groupversion.go).
 */
export function serveOpenapiV3GroupVersion(req: FastifyRequest, reply: FastifyReply, gv: string, hash: string | undefined): FastifyReply {
  const json = openapiGroupVersionJson(gv);
  if (json === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  reply.header('Vary', 'Accept');
  if (negotiate(req.headers.accept, ['application/json']) === undefined)
    throw notAcceptable(`/openapi/v3/${gv}`, req.headers.accept, ['application/json']);
  const etag = openapiEtag(json);
  if (hash !== undefined && hash !== '') {
    if (hash !== etag) return reply.redirect(`/openapi/v3/${gv}?hash=${etag}`, 301);
    reply.header('Cache-Control', 'public, immutable');
    reply.header('Expires', new Date(Date.now() + 365 * 24 * 3600 * 1000).toUTCString());
  }
  return serveRepresentation(req, reply, { bytes: json, contentType: 'application/json', lastModified: BUILT_AT });
}
