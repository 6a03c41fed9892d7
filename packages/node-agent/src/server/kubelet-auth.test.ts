// The kubelet's delegated authn/authz in isolation: the request-attribute mapping of auth.go, the
// 403 text, and the review caches driven by a FakeClock (TTL per outcome, no caching of failures,
// one review in flight per key).
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../wire/src/testing/fake-clock.ts';
import {
  forbiddenMessage,
  KUBELET_AUTH_UNAVAILABLE,
  kubeletRequestAttributes,
  ReviewUnavailableError,
  SUBJECT_ACCESS_REVIEW_PATH,
  TOKEN_REVIEW_PATH,
  TtlCache,
  WebhookAuth,
} from './kubelet-auth.ts';

// biome-ignore lint/suspicious/noExplicitAny: review bodies are open-ended JSON
type Obj = Record<string, any>;

/** A fake API server answering reviews from tables, counting what it was asked. */
function fakeApi(users: Record<string, string>, allowed: (user: string, sub: string, verb: string) => boolean) {
  const asked: Obj[] = [];
  let down = false;
  const post = async (path: string, body: Obj) => {
    asked.push({ path, body });
    if (down) throw new Error('POST: cannot reach the API server at https://127.0.0.1:1 (ECONNREFUSED); is it running?');
    if (path === TOKEN_REVIEW_PATH) {
      const u = users[body.spec.token];
      return { ...body, status: u ? { authenticated: true, user: { username: u, groups: ['system:authenticated'] } } : { user: {} } };
    }
    if (path === SUBJECT_ACCESS_REVIEW_PATH) {
      const a = body.spec.resourceAttributes;
      const ok = allowed(body.spec.user, a.subresource, a.verb);
      return { ...body, status: { allowed: ok, reason: ok ? 'yes' : 'no' } };
    }
    throw new Error(`unexpected ${path}`);
  };
  return {
    asked,
    post,
    setDown(d: boolean) {
      down = d;
    },
  };
}

describe('request attributes (pkg/kubelet/server/auth.go)', () => {
  it('maps the method to the verb and the path to the nodes subresource', () => {
    const a = (m: string, p: string) => {
      const x = kubeletRequestAttributes(m, p, 'node-1');
      return `${x.verb} ${x.resource}/${x.subresource} ${x.name}`;
    };
    expect(a('GET', '/metrics')).toBe('get nodes/metrics node-1');
    expect(a('GET', '/metrics/cadvisor')).toBe('get nodes/metrics node-1');
    expect(a('GET', '/metricsx')).toBe('get nodes/proxy node-1');
    expect(a('GET', '/stats/summary')).toBe('get nodes/stats node-1');
    expect(a('GET', '/logs/')).toBe('get nodes/log node-1');
    expect(a('GET', '/pods')).toBe('get nodes/proxy node-1');
    expect(a('GET', '/containerLogs/default/web/web')).toBe('get nodes/proxy node-1');
    expect(a('POST', '/exec/default/web/web')).toBe('create nodes/proxy node-1');
    expect(a('PUT', '/x')).toBe('update nodes/proxy node-1');
    expect(a('DELETE', '/x')).toBe('delete nodes/proxy node-1');
  });

  it("writes the kubelet's Forbidden text", () => {
    expect(forbiddenMessage('viewer', kubeletRequestAttributes('POST', '/exec/a/b/c', 'n'))).toBe(
      'Forbidden (user=viewer, verb=create, resource=nodes, subresource=proxy)',
    );
  });
});

describe('TtlCache', () => {
  it('expires entries by the injected clock and drops the oldest beyond its bound', () => {
    const clock = new FakeClock();
    const c = new TtlCache<number>(clock, 2);
    c.set('a', 1, 1000);
    clock.advance(999);
    expect(c.get('a')).toBe(1);
    clock.advance(1);
    expect(c.get('a')).toBeUndefined();
    c.set('a', 1, 10);
    c.set('b', 2, 10);
    c.set('c', 3, 10);
    expect([c.get('a'), c.get('b'), c.get('c'), c.size]).toEqual([undefined, 2, 3, 2]);
    c.set('b', 9, 0);
    expect(c.get('b')).toBeUndefined();
  });
});

describe('WebhookAuth', () => {
  const viewerOnlyMetrics = (u: string, sub: string) => u === 'viewer' && (sub === 'metrics' || sub === 'stats');

  it('caches an authenticated token for 2 minutes and a rejected one for 30 s', async () => {
    const clock = new FakeClock();
    const api = fakeApi({ 'viewer-token': 'viewer' }, viewerOnlyMetrics);
    const w = new WebhookAuth({ post: api.post, clock });
    expect(await w.authenticate('viewer-token')).toEqual({ username: 'viewer', groups: ['system:authenticated'] });
    expect(await w.authenticate('bogus')).toBeUndefined();
    expect(w.reviews.token).toBe(2);
    clock.advance(29_999);
    await w.authenticate('viewer-token');
    await w.authenticate('bogus');
    expect(w.reviews.token).toBe(2);
    clock.advance(1);
    expect(await w.authenticate('bogus')).toBeUndefined();
    expect(w.reviews.token).toBe(3);
    clock.advance(120_000 - 30_000 - 1);
    await w.authenticate('viewer-token');
    expect(w.reviews.token).toBe(3);
    clock.advance(1);
    await w.authenticate('viewer-token');
    expect(w.reviews.token).toBe(4);
    // The request carried the token in spec.token, as a TokenReview.
    expect(api.asked[0]).toEqual({
      path: TOKEN_REVIEW_PATH,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'viewer-token' } },
    });
  });

  it('caches an allowed decision for 5 minutes and a denied one for 30 s, per attributes', async () => {
    const clock = new FakeClock();
    const api = fakeApi({}, viewerOnlyMetrics);
    const w = new WebhookAuth({ post: api.post, clock });
    const viewer = { username: 'viewer', groups: ['system:authenticated'] };
    const metrics = kubeletRequestAttributes('GET', '/metrics', 'node-1');
    const exec = kubeletRequestAttributes('POST', '/exec/default/web/web', 'node-1');
    expect(await w.authorize(viewer, metrics)).toEqual({ allowed: true, reason: 'yes' });
    expect(await w.authorize(viewer, exec)).toEqual({ allowed: false, reason: 'no' });
    // Another path with the same attributes (all of nodes/proxy) is the same question.
    expect((await w.authorize(viewer, kubeletRequestAttributes('POST', '/exec/x/y/z', 'node-1'))).allowed).toBe(false);
    expect(w.reviews.access).toBe(2);
    expect(api.asked[0]?.body.spec).toEqual({
      user: 'viewer',
      groups: ['system:authenticated'],
      resourceAttributes: { verb: 'get', group: '', version: 'v1', resource: 'nodes', subresource: 'metrics', name: 'node-1' },
    });
    clock.advance(30_000);
    await w.authorize(viewer, exec);
    await w.authorize(viewer, metrics);
    expect(w.reviews.access).toBe(3);
    clock.advance(270_000);
    await w.authorize(viewer, metrics);
    expect(w.reviews.access).toBe(4);
  });

  it('honours configured TTLs (the kubelet flags)', async () => {
    const clock = new FakeClock();
    const api = fakeApi({ t: 'viewer' }, viewerOnlyMetrics);
    const w = new WebhookAuth({ post: api.post, clock, authenticatedTtlMs: 1000, authorizedTtlMs: 0 });
    const u = (await w.authenticate('t')) as { username: string; groups: string[] };
    await w.authorize(u, kubeletRequestAttributes('GET', '/metrics', 'n'));
    await w.authorize(u, kubeletRequestAttributes('GET', '/metrics', 'n'));
    expect(w.reviews.access).toBe(2);
    clock.advance(1000);
    await w.authenticate('t');
    expect(w.reviews.token).toBe(2);
  });

  it('asks once for concurrent requests with one token', async () => {
    const api = fakeApi({ t: 'viewer' }, viewerOnlyMetrics);
    const w = new WebhookAuth({ post: api.post, clock: new FakeClock() });
    const users = await Promise.all(Array.from({ length: 20 }, () => w.authenticate('t')));
    expect(users.every((u) => u?.username === 'viewer')).toBe(true);
    expect(w.reviews.token).toBe(1);
  });

  it('fails closed when the API server cannot answer, and caches nothing then', async () => {
    const clock = new FakeClock();
    const api = fakeApi({ t: 'viewer' }, viewerOnlyMetrics);
    const w = new WebhookAuth({ post: api.post, clock });
    api.setDown(true);
    const err = await w.authenticate('t').catch((e) => e);
    expect(err).toBeInstanceOf(ReviewUnavailableError);
    expect(err.code).toBe(KUBELET_AUTH_UNAVAILABLE);
    expect(err.message).toContain('the TokenReview to the API server failed: POST: cannot reach the API server');
    api.setDown(false);
    expect(await w.authenticate('t')).toMatchObject({ username: 'viewer' });
    // A review that never answers fails at the timeout.
    const hung = new WebhookAuth({
      post: (_p, _b, signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      timeoutMs: 20,
    });
    const late = await hung.authenticate('t').catch((e) => e);
    expect(late.message).toBe('the TokenReview to the API server failed: no answer within 20 ms');
    // An answer that is not a review (a proxy's error page, say) is not a decision either.
    const odd = new WebhookAuth({ post: async () => 'Bad Gateway' });
    expect(
      (await odd.authorize({ username: 'v', groups: [] }, kubeletRequestAttributes('GET', '/metrics', 'n')).catch((e) => e)).message,
    ).toBe('the API server answered the SubjectAccessReview with "Bad Gateway", not a SubjectAccessReview');
  });
});
