// Authentication (bearer tokens, created with the cluster) and a small authorizer, standing in for
// the real apiserver's token authenticator and RBAC with the default roles:
//   admin, node-agent      everything (system:masters; the node identity also proxies to kubelets)
//   controller-manager, scheduler, cni-agent   everything but nodes/proxy and the review APIs
//   kube-proxy             reads, and records events
//   viewer                 reads (get, list, watch) everything but nodes/proxy, so it may scrape a
//                          kubelet's /metrics (get nodes/metrics) and /stats (get nodes/stats) and
//                          nothing the kubelet maps to nodes/proxy (/exec, /containerLogs, /pods)
//   anyone else            nothing (a SubjectAccessReview may name any user)
// Every authenticated user may ask about itself (SelfSubjectAccessReview, RBAC's system:basic-user).
// Only admin and members of system:masters may `impersonate` (kubectl --as/--as-group: impersonate()
// below); the node and controller identities, powerful as they are, may not (RBAC gives impersonate
// only through cluster-admin).
// The same decision answers the API server's own requests and the review APIs the kubelets call
// (authentication.k8s.io TokenReview, authorization.k8s.io SubjectAccessReview: review-routes.ts).
// 401/403 are Status objects (apiserver pkg/endpoints/handlers/responsewriters/errors.go).
import { timingSafeEqual } from 'node:crypto';
import { ApiError } from './status.js';

export const PUBLIC_PATHS = new Set(['/version', '/healthz', '/livez', '/readyz']);

/** Every authenticated request carries this group (k8s.io/apiserver pkg/authentication/user). */
export const AUTHENTICATED_GROUP = 'system:authenticated';

/** The groups of a podnet identity, as a TokenReview reports them. */
export function groupsOf(user: string): string[] {
  if (user === 'admin') return ['system:masters', AUTHENTICATED_GROUP];
  if (user === 'node-agent') return ['system:nodes', AUTHENTICATED_GROUP];
  return [AUTHENTICATED_GROUP];
}

export class Authenticator {
  private readonly byToken = new Map<string, string>();
  constructor(tokens: Record<string, string>) {
    for (const [user, token] of Object.entries(tokens)) this.byToken.set(token, user);
  }

  /** The user a bearer token belongs to, or undefined (compared in constant time). */
  userOfToken(token: string): string | undefined {
    const b = Buffer.from(token);
    for (const [t, user] of this.byToken) {
      const a = Buffer.from(t);
      if (a.length === b.length && timingSafeEqual(a, b)) return user;
    }
    return undefined;
  }

  /** The user of an Authorization header (or a WebSocket bearer subprotocol), or throws 401. */
  authenticate(authorization: string | undefined, protocols?: string | string[]): string {
    let token: string | undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (m) token = m[1];
    const protoList = (Array.isArray(protocols) ? protocols.join(',') : (protocols ?? '')).split(',').map((s) => s.trim());
    const wsProto = protoList.find((p) => p.startsWith('base64url.bearer.authorization.k8s.io.'));
    if (!token && wsProto)
      token = Buffer.from(wsProto.slice('base64url.bearer.authorization.k8s.io.'.length), 'base64url').toString('utf8');
    const user = token ? this.userOfToken(token) : undefined;
    if (user) return user;
    throw new ApiError(401, 'Unauthorized', 'Unauthorized');
  }
}

const READ = new Set(['get', 'list', 'watch']);
/** The review APIs a kubelet calls (--authentication-token-webhook, --authorization-mode=Webhook). */
const REVIEWS = new Set(['tokenreviews.authentication.k8s.io', 'subjectaccessreviews.authorization.k8s.io']);
const EVERYTHING = new Set(['admin', 'node-agent']);
const CONTROLLERS = new Set(['controller-manager', 'scheduler', 'cni-agent']);

/** What is asked (authorization.k8s.io ResourceAttributes / NonResourceAttributes). */
export type AccessAttributes =
  | { verb: string; resource: string; group: string; subresource?: string; namespace?: string; name?: string }
  | { verb: string; path: string };

export interface Decision {
  allowed: boolean;
  reason: string;
}

/** podnet's authorizer: the table at the top of this file. */
export function decide(user: string, groups: readonly string[], a: AccessAttributes): Decision {
  if (a.verb === 'impersonate') {
    const allowed = user === 'admin' || groups.includes('system:masters');
    const what = 'resource' in a ? a.resource : a.path;
    return allowed
      ? { allowed, reason: `podnet: ${user} may impersonate ${what}` }
      : { allowed, reason: `podnet: ${user} may not impersonate ${what}: only admin and system:masters may impersonate` };
  }
  if (EVERYTHING.has(user) || groups.includes('system:masters')) return { allowed: true, reason: `podnet: ${user} may do everything` };
  const isResource = 'resource' in a;
  const what = isResource ? `${a.resource}${a.subresource ? `/${a.subresource}` : ''}` : a.path;
  const nodeProxy = isResource && a.group === '' && a.resource === 'nodes' && a.subresource === 'proxy';
  const review = isResource && REVIEWS.has(`${a.resource}.${a.group}`);
  const read = READ.has(a.verb);
  let allowed: boolean;
  if (nodeProxy) allowed = false;
  else if (CONTROLLERS.has(user)) allowed = !review;
  else if (user === 'kube-proxy') allowed = read || (isResource && a.resource === 'events');
  else if (user === 'viewer') allowed = read;
  else allowed = false;
  if (allowed) return { allowed, reason: `podnet: ${user} may ${a.verb} ${what}` };
  const why = nodeProxy
    ? 'only admin and the node identity (node-agent) may use nodes/proxy'
    : review
      ? 'only admin and the node identity (node-agent) may create reviews'
      : user === 'viewer' || user === 'kube-proxy'
        ? `${user} may only read (get, list, watch)${user === 'kube-proxy' ? ' and record events' : ''}`
        : `"${user}" is not a podnet identity`;
  return { allowed, reason: `podnet: ${user} may not ${a.verb} ${what}: ${why}` };
}

/** Who a request runs as: the authenticated user, or the user it impersonates. */
export interface Identity {
  user: string;
  groups: string[];
}

/** The identity of an authenticated podnet user (its token's user and groups). */
export function identityOf(user: string): Identity {
  return { user, groups: groupsOf(user) };
}

/** 403 Forbidden unless `who` (a user name: its podnet groups; or an Identity) may do it. */
export function authorize(
  who: string | Identity,
  verb: string,
  resource: string,
  group: string,
  namespace: string | undefined,
  name: string | undefined,
  subresource?: string,
): void {
  const { user, groups } = typeof who === 'string' ? identityOf(who) : who;
  if (decide(user, groups, { verb, resource, group, subresource, namespace, name }).allowed) return;
  const what = group ? `${resource}.${group}` : resource;
  const target = name ? `${what} "${name}"` : what;
  const scope = namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope';
  const res = subresource ? `${resource}/${subresource}` : resource;
  throw new ApiError(
    403,
    'Forbidden',
    `${target} is forbidden: User "${user}" cannot ${verb} resource "${res}" in API group "${group}"${scope}`,
    { name, group, kind: resource },
  );
}

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';

/** One header's values, a repeated header's separately (Node's `headers` would join them with ", "). */
function headerValues(distinct: Record<string, string[] | undefined>, name: string): string[] {
  return distinct[name] ?? [];
}

/**
 * The identity a request runs as after impersonation (k8s.io/apiserver
 * pkg/endpoints/filters/impersonation.go WithImpersonation): Impersonate-User, Impersonate-Group
 * (repeatable), Impersonate-Uid and Impersonate-Extra-<key> each need `impersonate` on users /
 * groups / uids / userextras (serviceaccounts for a system:serviceaccount:<ns>:<name> user),
 * asked of the authorizer as the authenticated user; the first refusal is a 403 naming it, and
 * nothing is applied. The impersonated user gets exactly the groups asked for plus
 * system:authenticated (and a service account its system:serviceaccounts groups when none are
 * asked), never the groups of its own token. `distinct` is Node's headersDistinct.
 */
export function impersonate(actor: Identity, distinct: Record<string, string[] | undefined>): Identity {
  const users = headerValues(distinct, 'impersonate-user');
  const groups = headerValues(distinct, 'impersonate-group');
  const uids = headerValues(distinct, 'impersonate-uid');
  const extras = Object.keys(distinct).filter((k) => k.startsWith('impersonate-extra-'));
  if (users.length === 0) {
    if (groups.length > 0 || uids.length > 0 || extras.length > 0)
      throw new ApiError(
        400,
        'BadRequest',
        'Impersonate-Group, Impersonate-Uid and Impersonate-Extra-* need an Impersonate-User: name the user to impersonate (kubectl --as USER)',
      );
    return actor;
  }
  const user = users[0] as string;
  if (users.length > 1 || user === '')
    throw new ApiError(400, 'BadRequest', `Impersonate-User must name exactly one user, got ${JSON.stringify(users)}`);
  if (uids.length > 1) throw new ApiError(400, 'BadRequest', `Impersonate-Uid must be given at most once, got ${JSON.stringify(uids)}`);
  if (user.startsWith(SERVICE_ACCOUNT_PREFIX)) {
    const [ns, name, ...rest] = user.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
    if (!ns || !name || rest.length > 0)
      throw new ApiError(
        400,
        'BadRequest',
        `Impersonate-User "${user}" is not a service account name: use system:serviceaccount:NAMESPACE:NAME`,
      );
    authorize(actor, 'impersonate', 'serviceaccounts', '', ns, name);
  } else authorize(actor, 'impersonate', 'users', '', undefined, user);
  for (const g of groups) authorize(actor, 'impersonate', 'groups', '', undefined, g);
  for (const uid of uids) authorize(actor, 'impersonate', 'uids', 'authentication.k8s.io', undefined, uid);
  for (const header of extras) {
    // The key is percent-encoded in the header name (impersonation.go unescapes it).
    let key: string;
    try {
      key = decodeURIComponent(header.slice('impersonate-extra-'.length));
    } catch {
      throw new ApiError(400, 'BadRequest', `${header}: the extra key is not valid percent-encoding`);
    }
    for (const v of headerValues(distinct, header))
      authorize(actor, 'impersonate', 'userextras', 'authentication.k8s.io', undefined, v, key);
  }
  const out = [...groups];
  if (user.startsWith(SERVICE_ACCOUNT_PREFIX) && groups.length === 0) {
    const ns = user.slice(SERVICE_ACCOUNT_PREFIX.length).split(':')[0] as string;
    out.push('system:serviceaccounts', `system:serviceaccounts:${ns}`);
  }
  if (user === 'system:anonymous') {
    if (!out.includes('system:unauthenticated')) out.push('system:unauthenticated');
  } else if (!out.includes(AUTHENTICATED_GROUP) && !out.includes('system:unauthenticated')) out.push(AUTHENTICATED_GROUP);
  return { user, groups: out };
}

/** Token bucket per user (a simplified API Priority and Fairness: one level, one queue). */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token or throws 429 with Retry-After. */
  take(user: string): void {
    const t = this.now();
    const b = this.buckets.get(user) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond);
    b.at = t;
    if (b.tokens < 1) {
      this.buckets.set(user, b);
      throw new ApiError(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds: 1 });
    }
    b.tokens -= 1;
    this.buckets.set(user, b);
  }
}
