// `kubectl auth can-i` (a protobuf SelfSubjectAccessReview) and `kubectl --as` (Impersonate-User /
// Impersonate-Group headers) with the real kubectl 1.32 against a real API server process, fresh
// HOME, the admin kubeconfig and the viewer's.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { describeInterop } from '../support/interop.ts';
import { api, credentials, type ServerProcess, startServer, stopServer } from './support.ts';

describeInterop('kubectl auth can-i and --as against the podnet apiserver', { commands: ['kubectl'] }, () => {
  let dir: string;
  let home: string;
  let server: ServerProcess;
  let ca: string;
  let tokens: Record<string, string>;
  const kubectl = (args: string[], kubeconfig = 'kubeconfig') =>
    execa('kubectl', args, {
      env: { HOME: home, KUBECONFIG: join(dir, kubeconfig) },
      extendEnv: true,
      reject: false,
      timeout: 60_000,
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `podnet-kubectl-auth-${process.pid}-`));
    home = mkdtempSync(join(tmpdir(), `podnet-home-auth-${process.pid}-`));
    server = await startServer(dir);
    ({ ca, tokens } = credentials(dir));
    const r = await api(server.url, ca, tokens.admin, 'POST', '/api/v1/namespaces/default/pods', {
      metadata: { name: 'x' },
      spec: { containers: [{ name: 'web', image: 'podnet/echo:1.0' }] },
    });
    expect(r.status).toBe(201);
  });
  afterAll(() => stopServer(server, dir, home));

  it('can-i get nodes/metrics --as viewer: yes', async () => {
    const r = await kubectl(['auth', 'can-i', 'get', 'nodes/metrics', '--as', 'viewer']);
    expect(r.stderr).not.toMatch(/UnsupportedMediaType|error/i);
    expect(r.stdout.trim()).toBe('yes');
    expect(r.exitCode).toBe(0);
  });

  it('can-i create pods --as viewer: no (exit 1), with the authorizer reason', async () => {
    const r = await kubectl(['auth', 'can-i', 'create', 'pods', '--as', 'viewer']);
    expect(r.stdout.trim()).toMatch(/^no - podnet: viewer may not create pods: viewer may only read/);
    expect(r.exitCode).toBe(1);
  });

  it('can-i create pods as admin itself: yes; and the viewer kubeconfig asking about itself: no', async () => {
    const admin = await kubectl(['auth', 'can-i', 'create', 'pods']);
    expect(admin.stdout.trim()).toBe('yes');
    expect(admin.exitCode).toBe(0);
    const viewer = await kubectl(['auth', 'can-i', 'delete', 'pods'], 'kubeconfig-viewer');
    expect(viewer.stdout.trim()).toMatch(/^no/);
    expect(viewer.exitCode).toBe(1);
  });

  it('can-i with --subresource and a non-resource URL', async () => {
    const proxy = await kubectl(['auth', 'can-i', 'get', 'nodes', '--subresource=proxy', '--as', 'viewer']);
    expect(proxy.stdout.trim()).toMatch(/^no - .*nodes\/proxy/);
    expect(proxy.exitCode).toBe(1);
    const stats = await kubectl(['auth', 'can-i', 'get', 'nodes', '--subresource=stats', '--as', 'viewer']);
    expect(stats.stdout.trim()).toBe('yes');
    const healthz = await kubectl(['auth', 'can-i', 'get', '/healthz', '--as', 'viewer']);
    expect(healthz.stdout.trim()).toBe('yes');
  });

  it('get pods --as viewer works; delete pod x --as viewer is Forbidden, and x stays', async () => {
    const get = await kubectl(['get', 'pods', '--as', 'viewer', '-o', 'name']);
    expect(get.stderr).toBe('');
    expect(get.stdout.trim()).toBe('pod/x');
    const del = await kubectl(['delete', 'pod', 'x', '--as', 'viewer']);
    expect(del.exitCode).toBe(1);
    expect(del.stderr.trim()).toBe(
      'Error from server (Forbidden): pods "x" is forbidden: User "viewer" cannot delete resource "pods" in API group "" in the namespace "default"',
    );
    expect((await kubectl(['get', 'pod', 'x', '-o', 'name'])).stdout.trim()).toBe('pod/x');
  });

  it('--as-group system:masters gives the impersonated user its power', async () => {
    const r = await kubectl(['auth', 'can-i', 'create', 'pods', '--as', 'viewer', '--as-group', 'system:masters']);
    expect(r.stdout.trim()).toBe('yes');
  });

  it('the viewer may not impersonate: --as admin is the upstream 403', async () => {
    const r = await kubectl(['get', 'pods', '--as', 'admin'], 'kubeconfig-viewer');
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe(
      'Error from server (Forbidden): users "admin" is forbidden: User "viewer" cannot impersonate resource "users" in API group "" at the cluster scope',
    );
    const g = await kubectl(['get', 'pods', '--as', 'viewer', '--as-group', 'system:masters'], 'kubeconfig-viewer');
    expect(g.stderr).toMatch(/User "viewer" cannot impersonate resource "users"/);
    const canI = await kubectl(['auth', 'can-i', 'get', 'pods', '--as', 'admin'], 'kubeconfig-viewer');
    expect(canI.stderr).toMatch(/users "admin" is forbidden: User "viewer" cannot impersonate/);
    expect(canI.exitCode).not.toBe(0);
  });

  // A WebSocket watch is authenticated and impersonated at the upgrade (client-node watches this way).
  const upgrade = (token: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(`${server.url.replace('https', 'wss')}/api/v1/namespaces/default/pods?watch=true`, {
        ca,
        headers: { authorization: `Bearer ${token}`, ...headers },
      });
      ws.on('open', () => {
        ws.close();
        resolve({ status: 101, body: '' });
      });
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on('error', reject);
    });

  it('a WebSocket watch --as viewer is upgraded; as a user the authorizer denies, or by the viewer, it is 403', async () => {
    expect((await upgrade(tokens.admin as string, { 'Impersonate-User': 'viewer' })).status).toBe(101);
    const stranger = await upgrade(tokens.admin as string, { 'Impersonate-User': 'stranger' });
    expect(stranger.status).toBe(403);
    expect(JSON.parse(stranger.body).message).toBe(
      'pods is forbidden: User "stranger" cannot watch resource "pods" in API group "" in the namespace "default"',
    );
    const byViewer = await upgrade(tokens.viewer as string, { 'Impersonate-User': 'admin' });
    expect(byViewer.status).toBe(403);
    expect(JSON.parse(byViewer.body).message).toBe(
      'users "admin" is forbidden: User "viewer" cannot impersonate resource "users" in API group "" at the cluster scope',
    );
  });
});
