// The review APIs: create-only resources that are answered, never stored
// (k8s.io/kubernetes pkg/registry/authentication/tokenreview, pkg/registry/authorization/*):
//   POST /apis/authentication.k8s.io/v1/tokenreviews            spec.token → status.authenticated, user
//   POST /apis/authorization.k8s.io/v1/subjectaccessreviews     spec.user/groups + attributes → status.allowed
//   POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews the caller's own access (kubectl auth can-i)
// A kubelet with --authentication-token-webhook and --authorization-mode=Webhook calls the first
// two for every bearer token it does not know; creating them needs `create` on the resource, which
// podnet's authorizer gives only admin and the node identity (auth.ts), as RBAC's
// system:auth-delegator role is bound only to those who delegate authentication.
import type { FieldError, ResourceInfo } from '@podnet/api';
import { type AccessAttributes, type Authenticator, authorize, decide, groupsOf } from './auth.js';
import { badRequest, invalid, methodNotAllowed } from './status.js';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
type Obj = Record<string, any>;

function review(group: string, resource: string, kind: string): ResourceInfo {
  return {
    group,
    version: 'v1',
    resource,
    singular: resource.replace(/s$/, ''),
    kind,
    listKind: `${kind}List`,
    namespaced: false,
    shortNames: [],
    categories: [],
    verbs: ['create'],
    subresources: {},
  };
}

/** What discovery lists for the review APIs (discovery.ts adds them to the served resources). */
export const REVIEW_RESOURCES: ResourceInfo[] = [
  review('authentication.k8s.io', 'tokenreviews', 'TokenReview'),
  review('authorization.k8s.io', 'subjectaccessreviews', 'SubjectAccessReview'),
  review('authorization.k8s.io', 'selfsubjectaccessreviews', 'SelfSubjectAccessReview'),
];

export interface ReviewContext {
  /** The caller (after impersonation). */
  user: string;
  /** Its groups; by default those of the podnet identity `user`. */
  groups?: string[];
  method: string;
  body: () => unknown;
  auth: Authenticator;
}

/** The answered object: 201 Created with the request's spec and the decision in status. */
export type ReviewHandler = (ctx: ReviewContext) => Obj;

/** The handler of a review path (`segs` without empty segments), or undefined when it is not one. */
export function reviewRoute(segs: readonly string[]): { info: ResourceInfo; handler: ReviewHandler } | undefined {
  if (segs.length !== 4 || segs[0] !== 'apis' || segs[2] !== 'v1') return undefined;
  const info = REVIEW_RESOURCES.find((r) => r.group === segs[1] && r.resource === segs[3]);
  if (!info) return undefined;
  const handler = HANDLERS[info.resource];
  return handler ? { info, handler } : undefined;
}

const HANDLERS: Record<string, ReviewHandler> = {
  tokenreviews: (ctx) => {
    const o = reviewBody(ctx, REVIEW_RESOURCES[0] as ResourceInfo);
    const token = o.spec?.token;
    // pkg/registry/authentication/tokenreview/storage.go: an empty token is a bad request.
    if (typeof token !== 'string' || token === '') throw badRequest('token is required for TokenReview in authentication.k8s.io');
    const user = ctx.auth.userOfToken(token);
    return answer(
      o,
      REVIEW_RESOURCES[0] as ResourceInfo,
      user ? { authenticated: true, user: { username: user, groups: groupsOf(user) } } : { user: {} },
    );
  },
  subjectaccessreviews: (ctx) => {
    const info = REVIEW_RESOURCES[1] as ResourceInfo;
    const o = reviewBody(ctx, info);
    const spec: Obj = o.spec ?? {};
    const errs = attributeErrors(spec);
    const groups: string[] = Array.isArray(spec.groups) ? spec.groups.filter((g: unknown) => typeof g === 'string') : [];
    // pkg/apis/authorization/validation: "at least one of user or group must be specified".
    if (!spec.user && groups.length === 0)
      errs.push({ type: 'Invalid', field: 'spec.user', value: '', detail: 'at least one of user or group must be specified' });
    if (errs.length > 0) throw invalid(info.kind, info.group, '', errs);
    return answer(o, info, status(decide(String(spec.user ?? ''), groups, attributesOf(spec))));
  },
  selfsubjectaccessreviews: (ctx) => {
    const info = REVIEW_RESOURCES[2] as ResourceInfo;
    const o = reviewBody(ctx, info, false);
    const spec: Obj = o.spec ?? {};
    const errs = attributeErrors(spec);
    if (errs.length > 0) throw invalid(info.kind, info.group, '', errs);
    return answer(o, info, status(decide(ctx.user, ctx.groups ?? groupsOf(ctx.user), attributesOf(spec))));
  },
};

/** The decoded request after the method, `create` permission and kind/apiVersion checks. */
function reviewBody(ctx: ReviewContext, info: ResourceInfo, needsPermission = true): Obj {
  const apiVersion = `${info.group}/${info.version}`;
  if (ctx.method !== 'POST')
    throw methodNotAllowed(`${info.resource}.${info.group} accepts only POST (create): it is a review, not stored`);
  // RBAC's system:basic-user lets everyone create a SelfSubjectAccessReview.
  if (needsPermission)
    authorize({ user: ctx.user, groups: ctx.groups ?? groupsOf(ctx.user) }, 'create', info.resource, info.group, undefined, undefined);
  const o = ctx.body();
  if (!o || typeof o !== 'object' || Array.isArray(o))
    throw badRequest(`the body of POST /apis/${apiVersion}/${info.resource} must be a ${info.kind} object`);
  const b = o as Obj;
  if (b.kind !== undefined && b.kind !== info.kind)
    throw badRequest(`the body of POST /apis/${apiVersion}/${info.resource} is a ${String(b.kind)}, not a ${info.kind}`);
  if (b.apiVersion !== undefined && b.apiVersion !== apiVersion)
    throw badRequest(`${info.kind} is served as apiVersion ${apiVersion}, not ${String(b.apiVersion)}`);
  if (b.spec !== undefined && (typeof b.spec !== 'object' || b.spec === null || Array.isArray(b.spec)))
    throw badRequest(`${info.kind}.spec must be an object`);
  if (b.metadata?.namespace) throw badRequest(`namespace is not allowed on ${info.kind} (a cluster-scoped review)`);
  return b;
}

function attributeErrors(spec: Obj): FieldError[] {
  const r = spec.resourceAttributes;
  const n = spec.nonResourceAttributes;
  if (r && n)
    return [
      {
        type: 'Invalid',
        field: 'spec.nonResourceAttributes',
        value: n,
        detail: 'cannot be specified in combination with resourceAttributes',
      },
    ];
  if (!r && !n)
    return [
      {
        type: 'Invalid',
        field: 'spec.resourceAttributes',
        value: 'null',
        detail: 'exactly one of nonResourceAttributes or resourceAttributes must be specified',
      },
    ];
  const a: Obj = r ?? n;
  if (typeof a !== 'object' || Array.isArray(a))
    return [
      { type: 'Invalid', field: r ? 'spec.resourceAttributes' : 'spec.nonResourceAttributes', value: a, detail: 'must be an object' },
    ];
  return [];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function attributesOf(spec: Obj): AccessAttributes {
  if (spec.resourceAttributes) {
    const r: Obj = spec.resourceAttributes;
    return {
      verb: str(r.verb),
      resource: str(r.resource),
      group: str(r.group),
      subresource: str(r.subresource) || undefined,
      namespace: str(r.namespace) || undefined,
      name: str(r.name) || undefined,
    };
  }
  const n: Obj = spec.nonResourceAttributes;
  return { verb: str(n.verb), path: str(n.path) };
}

function status(d: { allowed: boolean; reason: string }): Obj {
  return d.allowed ? { allowed: true, reason: d.reason } : { allowed: false, reason: d.reason };
}

function answer(o: Obj, info: ResourceInfo, st: Obj): Obj {
  const { namespace: _ns, ...metadata } = o.metadata ?? {};
  return {
    kind: info.kind,
    apiVersion: `${info.group}/${info.version}`,
    metadata: { ...metadata, creationTimestamp: null },
    spec: o.spec ?? {},
    status: st,
  };
}
