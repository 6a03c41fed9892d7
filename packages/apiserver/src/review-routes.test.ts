// The review APIs over real HTTPS (TokenReview, SubjectAccessReview, SelfSubjectAccessReview), the
// authorizer's table behind them, discovery, and the real kubectl creating and listing them.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../../../test/apiserver/support.ts';
import { decide } from './auth.ts';
import { type ApiServer, startApiServer } from './server.ts';

const run = promisify(execFile);
let dir: string;
let s: ApiServer;
const post = (path: string, body: unknown, token: string | undefined = s.adminToken) => api(s.url, s.caPem, token, 'POST', path, body);
const TR = '/apis/authentication.k8s.io/v1/tokenreviews';
const SAR = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
const SSAR = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
const tokenReview = (token: string) => ({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
const sar = (user: string, resourceAttributes: Record<string, string>) => ({
  apiVersion: 'authorization.k8s.io/v1',
  kind: 'SubjectAccessReview',
  spec: { user, groups: ['system:authenticated'], resourceAttributes },
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `podnet-reviews-${process.pid}-`));
  s = await startApiServer({ dataDir: dir, port: 0, logLevel: 'silent' });
});
afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('TokenReview', () => {
  it('answers who a token belongs to, with groups, for the node identity and admin', async () => {
    for (const caller of [s.tokens['node-agent'] as string, s.adminToken]) {
      const r = await post(TR, tokenReview(s.tokens.viewer as string), caller);
      expect(r.status).toBe(201);
      expect(r.body).toEqual({
        kind: 'TokenReview',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { creationTimestamp: null },
        spec: { token: s.tokens.viewer },
        status: { authenticated: true, user: { username: 'viewer', groups: ['system:authenticated'] } },
      });
    }
    const node = await post(TR, tokenReview(s.tokens['node-agent'] as string));
    expect(node.body.status.user).toEqual({ username: 'node-agent', groups: ['system:nodes', 'system:authenticated'] });
  });

  it('reports an unknown token as not authenticated (201, no user)', async () => {
    const r = await post(TR, tokenReview(`${s.tokens.viewer}x`));
    expect(r.status).toBe(201);
    expect(r.body.status).toEqual({ user: {} });
  });

  it('403s viewer and the other components, 401s no token, and refuses bad bodies with 400', async () => {
    for (const user of ['viewer', 'kube-proxy', 'controller-manager']) {
      const r = await post(TR, tokenReview('x'), s.tokens[user]);
      expect(r.status, user).toBe(403);
      expect(r.body).toMatchObject({ kind: 'Status', reason: 'Forbidden', code: 403 });
      expect(r.body.message).toBe(
        `tokenreviews.authentication.k8s.io is forbidden: User "${user}" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope`,
      );
    }
    expect((await post(TR, tokenReview('x'), '')).status).toBe(401);
    const empty = await post(TR, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: {} });
    expect(empty.status).toBe(400);
    expect(empty.body.message).toBe('token is required for TokenReview in authentication.k8s.io');
    const wrongKind = await post(TR, { apiVersion: 'authentication.k8s.io/v1', kind: 'Pod', spec: { token: 'x' } });
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.body.message).toContain('is a Pod, not a TokenReview');
    expect((await post(TR, 'not json')).status).toBe(400);
    const get = await api(s.url, s.caPem, s.adminToken, 'GET', TR);
    expect(get.status).toBe(405);
    expect(get.body.message).toContain('accepts only POST');
  });
});

describe('SubjectAccessReview', () => {
  const allowed = async (user: string, attrs: Record<string, string>) => {
    const r = await post(SAR, sar(user, attrs), s.tokens['node-agent']);
    expect(r.status).toBe(201);
    expect(typeof r.body.status.reason).toBe('string');
    return r.body.status.allowed as boolean;
  };

  it("answers the kubelet's questions: viewer may get nodes/metrics and nodes/stats, never nodes/proxy", async () => {
    const node = { resource: 'nodes', name: 'node-1', group: '' };
    expect(await allowed('viewer', { ...node, verb: 'get', subresource: 'metrics' })).toBe(true);
    expect(await allowed('viewer', { ...node, verb: 'get', subresource: 'stats' })).toBe(true);
    expect(await allowed('viewer', { ...node, verb: 'get', subresource: 'proxy' })).toBe(false);
    expect(await allowed('viewer', { ...node, verb: 'create', subresource: 'proxy' })).toBe(false);
    expect(await allowed('viewer', { verb: 'list', resource: 'pods', namespace: 'default' })).toBe(true);
    expect(await allowed('viewer', { verb: 'delete', resource: 'pods', namespace: 'default', name: 'x' })).toBe(false);
    expect(await allowed('admin', { ...node, verb: 'create', subresource: 'proxy' })).toBe(true);
    expect(await allowed('node-agent', { ...node, verb: 'get', subresource: 'proxy' })).toBe(true);
    expect(await allowed('controller-manager', { ...node, verb: 'get', subresource: 'proxy' })).toBe(false);
    expect(await allowed('kube-proxy', { verb: 'create', resource: 'events', namespace: 'default' })).toBe(true);
    expect(await allowed('mallory', { ...node, verb: 'get', subresource: 'metrics' })).toBe(false);
    const r = await post(SAR, sar('viewer', { ...node, verb: 'create', subresource: 'proxy' }));
    expect(r.body.status).toEqual({
      allowed: false,
      reason: 'podnet: viewer may not create nodes/proxy: only admin and the node identity (node-agent) may use nodes/proxy',
    });
    expect(r.body.spec.user).toBe('viewer');
  });

  it('answers non-resource attributes, and system:masters in the groups allows everything', async () => {
    const nr = (user: string, groups: string[]) =>
      post(SAR, { kind: 'SubjectAccessReview', spec: { user, groups, nonResourceAttributes: { verb: 'get', path: '/metrics' } } });
    expect((await nr('viewer', [])).body.status.allowed).toBe(true);
    expect((await nr('nobody', [])).body.status.allowed).toBe(false);
    expect((await nr('nobody', ['system:masters'])).body.status.allowed).toBe(true);
  });

  it('refuses a review without attributes, with both, or without a subject (422 Invalid, the upstream field errors)', async () => {
    const none = await post(SAR, { kind: 'SubjectAccessReview', spec: { user: 'viewer' } });
    expect(none.status).toBe(422);
    expect(none.body).toMatchObject({ reason: 'Invalid', details: { kind: 'SubjectAccessReview', group: 'authorization.k8s.io' } });
    expect(none.body.message).toContain('exactly one of nonResourceAttributes or resourceAttributes must be specified');
    const both = await post(SAR, {
      kind: 'SubjectAccessReview',
      spec: { user: 'viewer', resourceAttributes: { verb: 'get' }, nonResourceAttributes: { verb: 'get', path: '/' } },
    });
    expect(both.status).toBe(422);
    expect(both.body.message).toContain('cannot be specified in combination with resourceAttributes');
    const nobody = await post(SAR, { kind: 'SubjectAccessReview', spec: { resourceAttributes: { verb: 'get', resource: 'pods' } } });
    expect(nobody.status).toBe(422);
    expect(nobody.body.message).toContain('spec.user: Invalid value: "": at least one of user or group must be specified');
    expect((await post(SAR, sar('viewer', { verb: 'get', resource: 'pods' }), s.tokens.viewer)).status).toBe(403);
  });

  it('lets every identity review itself (SelfSubjectAccessReview)', async () => {
    const self = (token: string | undefined, subresource: string) =>
      post(SSAR, { kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'get', resource: 'nodes', subresource } } }, token);
    const m = await self(s.tokens.viewer, 'metrics');
    expect(m.status).toBe(201);
    expect(m.body.status.allowed).toBe(true);
    expect((await self(s.tokens.viewer, 'proxy')).body.status.allowed).toBe(false);
    expect((await self(s.adminToken, 'proxy')).body.status.allowed).toBe(true);
  });
});

describe('the authorizer table', () => {
  it('gives nodes/proxy only to admin and the node identity, and the reviews likewise', () => {
    const proxy = { verb: 'get', resource: 'nodes', group: '', subresource: 'proxy', name: 'n' };
    const reviews = { verb: 'create', resource: 'subjectaccessreviews', group: 'authorization.k8s.io' };
    const who = (a: Parameters<typeof decide>[2]) =>
      ['admin', 'node-agent', 'controller-manager', 'scheduler', 'cni-agent', 'kube-proxy', 'viewer'].filter(
        (u) => decide(u, [], a).allowed,
      );
    expect(who(proxy)).toEqual(['admin', 'node-agent']);
    expect(who(reviews)).toEqual(['admin', 'node-agent']);
    expect(who({ ...proxy, subresource: 'metrics' })).toEqual([
      'admin',
      'node-agent',
      'controller-manager',
      'scheduler',
      'cni-agent',
      'kube-proxy',
      'viewer',
    ]);
  });
});

describe('discovery and the real kubectl', () => {
  const kubectl = (args: string[], kubeconfig = s.kubeconfigPath) =>
    run('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('lists the review groups: /apis/authentication.k8s.io/v1 and kubectl api-resources', async () => {
    const list = await api(s.url, s.caPem, s.adminToken, 'GET', '/apis/authentication.k8s.io/v1');
    expect(list.body.resources).toEqual([
      { name: 'tokenreviews', singularName: 'tokenreview', namespaced: false, kind: 'TokenReview', verbs: ['create'] },
    ]);
    const r = await kubectl(['api-resources', '--api-group=authorization.k8s.io', '-o', 'name']);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'selfsubjectaccessreviews.authorization.k8s.io',
      'subjectaccessreviews.authorization.k8s.io',
    ]);
  });

  it('kubectl create -f tokenreview.yaml -o yaml prints the answer', async () => {
    const f = join(dir, 'tokenreview.yaml');
    writeFileSync(f, `apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: ${s.tokens.viewer}\n`);
    const r = await kubectl(['create', '-f', f, '-o', 'yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('authenticated: true');
    expect(r.stdout).toContain('username: viewer');
  });
});
