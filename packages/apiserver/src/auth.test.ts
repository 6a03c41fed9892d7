// Impersonation (kubectl --as / --as-group / --as-uid): who may, the 403 upstream answers, and the
// identity the request then runs as (k8s.io/apiserver pkg/endpoints/filters/impersonation.go).
import { describe, expect, it } from 'vitest';
import { decide, identityOf, impersonate } from './auth.ts';
import { ApiError } from './status.ts';

const refusal = (f: () => unknown): ApiError => {
  try {
    f();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected an ApiError');
};

describe('impersonate', () => {
  it('leaves a request without Impersonate-* headers as the authenticated user', () => {
    const admin = identityOf('admin');
    expect(impersonate(admin, {})).toBe(admin);
  });

  it('lets admin run as viewer, with only system:authenticated (not its own groups)', () => {
    expect(impersonate(identityOf('admin'), { 'impersonate-user': ['viewer'] })).toEqual({
      user: 'viewer',
      groups: ['system:authenticated'],
    });
  });

  it('gives the impersonated user exactly the groups asked for, plus system:authenticated', () => {
    const who = impersonate(identityOf('admin'), { 'impersonate-user': ['viewer'], 'impersonate-group': ['team-a', 'system:masters'] });
    expect(who).toEqual({ user: 'viewer', groups: ['team-a', 'system:masters', 'system:authenticated'] });
    // The authorizer then decides with those groups: system:masters may do everything.
    expect(decide(who.user, who.groups, { verb: 'delete', resource: 'pods', group: '' }).allowed).toBe(true);
  });

  it('adds a service account its groups, and system:unauthenticated for system:anonymous', () => {
    expect(impersonate(identityOf('admin'), { 'impersonate-user': ['system:serviceaccount:kube-system:coredns'] }).groups).toEqual([
      'system:serviceaccounts',
      'system:serviceaccounts:kube-system',
      'system:authenticated',
    ]);
    expect(impersonate(identityOf('admin'), { 'impersonate-user': ['system:anonymous'] }).groups).toEqual(['system:unauthenticated']);
  });

  it('refuses everyone but admin and system:masters with upstream 403 message', () => {
    for (const actor of ['viewer', 'node-agent', 'controller-manager', 'kube-proxy', 'stranger']) {
      const e = refusal(() => impersonate(identityOf(actor), { 'impersonate-user': ['admin'] }));
      expect(e.code).toBe(403);
      expect(e.reason).toBe('Forbidden');
      expect(e.message).toBe(
        `users "admin" is forbidden: User "${actor}" cannot impersonate resource "users" in API group "" at the cluster scope`,
      );
    }
    const member = { user: 'ops', groups: ['system:masters', 'system:authenticated'] };
    expect(impersonate(member, { 'impersonate-user': ['viewer'] }).user).toBe('viewer');
  });

  it('asks about a service account in its namespace, and accepts uid and extra headers from admin', () => {
    const viewer = { user: 'viewer', groups: ['system:authenticated'] };
    expect(refusal(() => impersonate(viewer, { 'impersonate-user': ['viewer'], 'impersonate-group': ['g'] })).message).toMatch(
      /^users "viewer" is forbidden/,
    );
    expect(refusal(() => impersonate(viewer, { 'impersonate-user': ['system:serviceaccount:ns-a:sa'] })).message).toBe(
      'serviceaccounts "sa" is forbidden: User "viewer" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "ns-a"',
    );
    const admin = identityOf('admin');
    expect(
      impersonate(admin, { 'impersonate-user': ['viewer'], 'impersonate-uid': ['u-1'], 'impersonate-extra-scopes%2Fread': ['x'] }).user,
    ).toBe('viewer');
  });

  it('answers 400 for malformed impersonation headers, naming what to fix', () => {
    const admin = identityOf('admin');
    const cases: [Record<string, string[]>, RegExp][] = [
      [{ 'impersonate-group': ['g'] }, /need an Impersonate-User/],
      [{ 'impersonate-user': ['a', 'b'] }, /exactly one user/],
      [{ 'impersonate-user': [''] }, /exactly one user/],
      [{ 'impersonate-user': ['v'], 'impersonate-uid': ['1', '2'] }, /at most once/],
      [{ 'impersonate-user': ['system:serviceaccount:only-ns'] }, /system:serviceaccount:NAMESPACE:NAME/],
      [{ 'impersonate-user': ['v'], 'impersonate-extra-%zz': ['x'] }, /not valid percent-encoding/],
    ];
    for (const [headers, message] of cases) {
      const e = refusal(() => impersonate(admin, headers));
      expect(e.code).toBe(400);
      expect(e.message).toMatch(message);
    }
  });
});
