// @kubernetes/client-node 1.4 (the real client) against the real API server process: an
// informer receives add/update/delete, and keeps working across an API server restart
// (same data directory and port), resuming its watch from the last resourceVersion it saw.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, credentials, type ServerProcess, startServer, waitFor } from './support.ts';

describe('@kubernetes/client-node informer against the podnet apiserver', () => {
  let dir: string;
  let server: ServerProcess;
  let ca: string;
  let token: string;
  const call = (method: string, path: string, body?: unknown, ct?: string) => api(server.url, ca, token, method, path, body, ct);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `podnet-clientnode-${process.pid}-`));
    server = await startServer(dir);
    ({ ca, token } = credentials(dir));
  });
  afterAll(async () => {
    server?.proc.kill('SIGTERM');
    await server?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  it('KubernetesObjectApi creates, patches (strategic merge) and deletes through legacy discovery', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(join(dir, 'kubeconfig'));
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const created = await objects.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'generic', namespace: 'default' },
      spec: {
        selector: { matchLabels: { app: 'g' } },
        template: {
          metadata: { labels: { app: 'g' } },
          spec: { containers: [{ name: 'g', image: 'g:1', args: ['a'], ports: [{ containerPort: 80 }] }] },
        },
      },
    } as k8s.KubernetesObject);
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    const patched = (await objects.patch(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'generic', namespace: 'default' },
        spec: { template: { spec: { containers: [{ name: 'g', image: 'g:2' }] } } },
      } as k8s.KubernetesObject,
      undefined,
      undefined,
      undefined,
      undefined,
      k8s.PatchStrategy.StrategicMergePatch,
    )) as k8s.V1Deployment;
    expect(patched.spec?.template.spec?.containers[0]).toMatchObject({ name: 'g', image: 'g:2', args: ['a'] });
    await objects.delete({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'generic', namespace: 'default' } });
    expect((await call('GET', '/apis/apps/v1/namespaces/default/deployments/generic')).status).toBe(404);
  });

  it('receives add, update and delete, and survives a restart of the server', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(join(dir, 'kubeconfig'));
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/pods', () => core.listNamespacedPod({ namespace: 'default' }));
    const seen: string[] = [];
    informer.on('add', (p) => seen.push(`add ${p.metadata?.name}`));
    informer.on('update', (p) => seen.push(`update ${p.metadata?.name} ${p.spec?.containers[0]?.image}`));
    informer.on('delete', (p) => seen.push(`delete ${p.metadata?.name}`));
    let stopped = false;
    // client-node stops on a connection error; its documented recovery is to start() again.
    informer.on('error', () => {
      if (!stopped) setTimeout(() => void informer.start().catch(() => {}), 300);
    });
    await informer.start();
    try {
      const podBody = (name: string, image: string) => ({ metadata: { name }, spec: { containers: [{ name: 'c', image }] } });
      expect((await call('POST', '/api/v1/namespaces/default/pods', podBody('a', 'img:1'))).status).toBe(201);
      await waitFor('add a', () => seen.includes('add a') || undefined);
      expect(
        (
          await call(
            'PATCH',
            '/api/v1/namespaces/default/pods/a',
            { spec: { containers: [{ name: 'c', image: 'img:2' }] } },
            'application/strategic-merge-patch+json',
          )
        ).status,
      ).toBe(200);
      await waitFor('update a', () => seen.includes('update a img:2') || undefined);
      expect((await call('DELETE', '/api/v1/namespaces/default/pods/a')).status).toBe(200);
      await waitFor('delete a', () => seen.includes('delete a') || undefined);

      // Restart: SIGKILL, then the same data dir and port.
      const port = server.port;
      server.proc.kill('SIGKILL');
      await server.exited;
      server = await startServer(dir, port);
      expect((await call('POST', '/api/v1/namespaces/default/pods', podBody('b', 'img:1'))).status).toBe(201);
      await waitFor('add b after the restart', () => seen.includes('add b') || undefined, 45_000);
      expect((await call('DELETE', '/api/v1/namespaces/default/pods/b')).status).toBe(200);
      await waitFor('delete b after the restart', () => seen.includes('delete b') || undefined);
      // Nothing was delivered twice: one add and one delete per pod.
      expect(seen.filter((s) => s === 'add a' || s === 'add b')).toEqual(['add a', 'add b']);
      expect(informer.list('default')).toEqual([]);
    } finally {
      stopped = true;
      await informer.stop();
    }
  });
});
