// The kubelet API's delegated authentication and authorization (kubelet
// --authentication-token-webhook and --authorization-mode=Webhook; pkg/kubelet/server/auth.go):
// a bearer token the node does not know is sent to the API server in a TokenReview, and the user it
// names is authorized for the request with a SubjectAccessReview. Both answers are cached, as the
// webhook clients of k8s.io/apiserver do (pkg/authentication/token/cache; plugin/pkg/authorizer/
// webhook): an authenticated token for 2 minutes and a rejected one for 30 s
// (--authentication-token-webhook-cache-ttl), an allowed decision for 5 minutes and a denied one
// for 30 s (--authorization-webhook-cache-authorized-ttl / -unauthorized-ttl). A review that fails
// (the API server is unreachable, or answers an error) is not cached: the request fails closed.
import { createHash } from 'node:crypto';
import { type Clock, systemClock } from '@podnet/wire';

/** Who a TokenReview says the token belongs to (authentication.k8s.io/v1 UserInfo). */
export interface KubeletUser {
  username: string;
  groups: string[];
}

/** The attributes a kubelet request is authorized with (authorizer.AttributesRecord in auth.go). */
export interface KubeletRequestAttributes {
  verb: string;
  resource: 'nodes';
  subresource: string;
  /** The node's name: every kubelet request is about this node object. */
  name: string;
  path: string;
}

/** Why a review could not be made: the request fails closed (401 or 503), nothing is cached. */
export const KUBELET_AUTH_UNAVAILABLE = 'PODNET_ERR_KUBELET_AUTH_UNAVAILABLE';

export class ReviewUnavailableError extends Error {
  readonly code = KUBELET_AUTH_UNAVAILABLE;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReviewUnavailableError';
  }
}

const VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** True when `path` is `prefix` or below it (auth.go isSubpath). */
function isSubpath(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * The request's attributes, mapped as the kubelet maps them (auth.go GetRequestAttributes): the
 * method gives the verb; /stats → nodes/stats, /metrics → nodes/metrics, /logs → nodes/log,
 * /checkpoint → nodes/checkpoint, everything else (/pods, /exec, /containerLogs, /run, ...) →
 * nodes/proxy, whose holder can run commands in every pod of the node.
 */
export function kubeletRequestAttributes(method: string, path: string, nodeName: string): KubeletRequestAttributes {
  const subresource = isSubpath(path, '/stats')
    ? 'stats'
    : isSubpath(path, '/metrics')
      ? 'metrics'
      : isSubpath(path, '/logs')
        ? 'log'
        : isSubpath(path, '/checkpoint')
          ? 'checkpoint'
          : 'proxy';
  return { verb: VERBS[method.toUpperCase()] ?? method.toLowerCase(), resource: 'nodes', subresource, name: nodeName, path };
}

/** The kubelet's 403 text (auth.go): `Forbidden (user=viewer, verb=create, resource=nodes, subresource=proxy)`. */
export function forbiddenMessage(user: string, a: KubeletRequestAttributes): string {
  return `Forbidden (user=${user}, verb=${a.verb}, resource=${a.resource}, subresource=${a.subresource})`;
}

/** A map whose entries expire by the injected clock; the oldest go first beyond maxEntries. */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  constructor(
    readonly clock: Clock,
    readonly maxEntries = 4096,
  ) {}

  get(key: string): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (this.clock.now() >= e.expires) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    this.#entries.delete(key);
    if (ttlMs <= 0) return;
    this.#entries.set(key, { value, expires: this.clock.now() + ttlMs });
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** POSTs a review to the API server and returns the answered object (throws when it cannot). */
export type ReviewPoster = (path: string, body: Record<string, unknown>, signal: AbortSignal) => Promise<unknown>;

export interface WebhookAuthTtls {
  /** --authentication-token-webhook-cache-ttl (2m). */
  authenticatedTtlMs?: number;
  /** How long a rejected token is remembered (30 s). */
  unauthenticatedTtlMs?: number;
  /** --authorization-webhook-cache-authorized-ttl (5m). */
  authorizedTtlMs?: number;
  /** --authorization-webhook-cache-unauthorized-ttl (30 s). */
  unauthorizedTtlMs?: number;
}

export interface WebhookAuthOptions extends WebhookAuthTtls {
  post: ReviewPoster;
  clock?: Clock;
  /** How long one review may take before the request fails closed (10 s). */
  timeoutMs?: number;
}

export const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';
export const SUBJECT_ACCESS_REVIEW_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

export interface AuthzDecision {
  allowed: boolean;
  reason: string;
}

// biome-ignore lint/suspicious/noExplicitAny: review answers are open-ended JSON
type Obj = Record<string, any>;

export class WebhookAuth {
  readonly #o: WebhookAuthOptions;
  readonly #tokens: TtlCache<KubeletUser | null>;
  readonly #decisions: TtlCache<AuthzDecision>;
  /** One review in flight per key: a burst of scrapes with one token asks once (singleflight). */
  readonly #inflight = new Map<string, Promise<unknown>>();
  /** Reviews sent (cache misses), for tests and logs. */
  reviews = { token: 0, access: 0 };

  constructor(o: WebhookAuthOptions) {
    this.#o = o;
    const clock = o.clock ?? systemClock;
    this.#tokens = new TtlCache(clock);
    this.#decisions = new TtlCache(clock);
  }

  /** The token's user, or undefined when the API server says it is not authenticated. */
  async authenticate(token: string): Promise<KubeletUser | undefined> {
    // Keyed by a hash: the cache never holds the token itself (as token/cache's keyFunc).
    const key = createHash('sha256').update(token).digest('hex');
    const cached = this.#tokens.get(key);
    if (cached !== undefined) return cached ?? undefined;
    return this.#once(`token:${key}`, async () => {
      this.reviews.token++;
      const answer = await this.#review(TOKEN_REVIEW_PATH, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token },
      });
      const st: Obj = answer.status ?? {};
      if (st.authenticated === true && typeof st.user?.username === 'string' && st.user.username !== '') {
        const user: KubeletUser = {
          username: st.user.username,
          groups: Array.isArray(st.user.groups) ? st.user.groups.filter((g: unknown) => typeof g === 'string') : [],
        };
        this.#tokens.set(key, user, this.#o.authenticatedTtlMs ?? 120_000);
        return user;
      }
      this.#tokens.set(key, null, this.#o.unauthenticatedTtlMs ?? 30_000);
      return undefined;
    });
  }

  /** Whether the user may make the request (a SubjectAccessReview for its attributes). */
  async authorize(user: KubeletUser, a: KubeletRequestAttributes): Promise<AuthzDecision> {
    const key = JSON.stringify([user.username, user.groups, a.verb, a.resource, a.subresource, a.name]);
    const cached = this.#decisions.get(key);
    if (cached) return cached;
    return this.#once(`access:${key}`, async () => {
      this.reviews.access++;
      const answer = await this.#review(SUBJECT_ACCESS_REVIEW_PATH, {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          groups: user.groups,
          resourceAttributes: { verb: a.verb, group: '', version: 'v1', resource: a.resource, subresource: a.subresource, name: a.name },
        },
      });
      const st: Obj = answer.status ?? {};
      const decision: AuthzDecision = { allowed: st.allowed === true, reason: typeof st.reason === 'string' ? st.reason : '' };
      this.#decisions.set(key, decision, decision.allowed ? (this.#o.authorizedTtlMs ?? 300_000) : (this.#o.unauthorizedTtlMs ?? 30_000));
      return decision;
    });
  }

  #once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.#inflight.get(key);
    if (running) return running as Promise<T>;
    const p = fn().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  async #review(path: string, body: Obj): Promise<Obj> {
    const ms = this.#o.timeoutMs ?? 10_000;
    let answer: unknown;
    try {
      answer = await this.#o.post(path, body, AbortSignal.timeout(ms));
    } catch (e) {
      const why =
        (e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError' ? `no answer within ${ms} ms` : (e as Error).message;
      throw new ReviewUnavailableError(`the ${body.kind} to the API server failed: ${why}`, { cause: e });
    }
    if (!answer || typeof answer !== 'object' || (answer as Obj).kind !== body.kind)
      throw new ReviewUnavailableError(
        `the API server answered the ${body.kind} with ${JSON.stringify(answer)?.slice(0, 200)}, not a ${body.kind}`,
      );
    return answer as Obj;
  }
}
