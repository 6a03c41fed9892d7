// Authentication (bearer tokens, created with the cluster) and a small authorizer: `viewer`
// reads only; `kube-proxy` reads and records events; every other identity may do everything.
// 401/403 are Status objects (apiserver pkg/endpoints/handlers/responsewriters/errors.go).
import { timingSafeEqual } from 'node:crypto';
import { ApiError } from './status.js';

export const PUBLIC_PATHS = new Set(['/version', '/healthz', '/livez', '/readyz']);

export class Authenticator {
  private readonly byToken = new Map<string, string>();
  constructor(tokens: Record<string, string>) {
    for (const [user, token] of Object.entries(tokens)) this.byToken.set(token, user);
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
    if (token) {
      for (const [t, user] of this.byToken) {
        const a = Buffer.from(t);
        const b = Buffer.from(token);
        if (a.length === b.length && timingSafeEqual(a, b)) return user;
      }
    }
    throw new ApiError(401, 'Unauthorized', 'Unauthorized');
  }
}

const READ = new Set(['get', 'list', 'watch']);

export function authorize(
  user: string,
  verb: string,
  resource: string,
  group: string,
  namespace: string | undefined,
  name: string | undefined,
): void {
  const allowed = user === 'viewer' ? READ.has(verb) : user === 'kube-proxy' ? READ.has(verb) || resource === 'events' : true;
  if (allowed) return;
  const what = group ? `${resource}.${group}` : resource;
  const target = name ? `${what} "${name}"` : what;
  const scope = namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope';
  throw new ApiError(
    403,
    'Forbidden',
    `${target} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${group}"${scope}`,
    { name, group, kind: resource },
  );
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
