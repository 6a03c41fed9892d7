// `kubectl logs` and `kubectl exec` with the real kubectl 1.32, through the real API server's
// pods/log and pods/exec proxy to the node-agent's kubelet server (WebSocket v5.channel.k8s.io).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../support/interop.ts';
import { AGNHOST, createPod, startTestCluster, type TestCluster, waitRunningReady } from './cluster.ts';

const run = promisify(execFile);

describeInterop('kubectl logs and exec through the API server proxy', { commands: ['kubectl'] }, () => {
  let c: TestCluster;
  let home: string;
  const kubectl = (...args: string[]) =>
    run('kubectl', ['--kubeconfig', c.cp.apiServer.kubeconfigPath, ...args], {
      env: { ...process.env, HOME: home },
      timeout: 30_000,
    }).catch((e: { stdout?: string; stderr?: string; code?: number }) => ({
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
      code: e.code,
    }));

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), `podnet-na-kubectl-home-${process.pid}-`));
    c = await startTestCluster('kubectl');
    await createPod(c, {
      metadata: { name: 'web' },
      spec: { containers: [{ name: 'web', image: AGNHOST, args: ['netexec', '--http-port=8080'] }] },
    });
    await createPod(c, {
      metadata: { name: 'shell' },
      spec: { containers: [{ name: 'box', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
    });
    await waitRunningReady(c, 'web');
    await waitRunningReady(c, 'shell');
  });
  afterAll(async () => {
    await c?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('kubectl exec POD -- curl -s http://<other pod IP>:8080/hostname', async () => {
    const web = await c.admin.resource('pods').get('web', { namespace: 'default' });
    const ip = (web as { status?: { podIP?: string } }).status?.podIP as string;
    const r = await kubectl('exec', 'shell', '--', 'curl', '-s', `http://${ip}:8080/hostname`);
    expect(r.stdout).toBe('web');
  });

  it('kubectl exec -i streams stdin to the command (v5 close frame ends it)', async () => {
    const web = await c.admin.resource('pods').get('web', { namespace: 'default' });
    const ip = (web as { status?: { podIP?: string } }).status?.podIP as string;
    const r = await new Promise<{ stdout: string; code: number | null }>((resolve, reject) => {
      const child = execFile(
        'kubectl',
        ['--kubeconfig', c.cp.apiServer.kubeconfigPath, 'exec', '-i', 'shell', '--', 'nc', ip, '8080'],
        { env: { ...process.env, HOME: home }, timeout: 30_000 },
        (err, stdout) => {
          if (err && (err as { code?: unknown }).code === undefined) reject(err);
          else resolve({ stdout, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
        },
      );
      child.stdin?.end('GET /echo?msg=stdin HTTP/1.0\r\n\r\n');
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nstdin$/);
  });

  it('kubectl exec reports a non-zero exit status of the command', async () => {
    const r = await kubectl('exec', 'shell', '--', 'sh', '-c', 'echo out && false');
    expect(r.stdout).toBe('out\n');
    expect((r as { code?: number }).code).toBe(1);
    expect(r.stderr).toMatch(/command terminated with exit code 1/);
  });

  it('kubectl logs shows the container output, with --tail and --timestamps', async () => {
    // The exec tests' requests (/hostname, then /echo?msg=stdin) were logged after the start-up lines.
    const logs = await kubectl('logs', 'web');
    expect(logs.stdout).toMatch(/^Started HTTP server on port 8080\nStarted UDP server on port 8081\n(.*\n)*GET \/hostname\n/);
    const tail = await kubectl('logs', 'web', '--tail=1', '--timestamps');
    expect(tail.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z GET \/echo\?msg=stdin\n$/);
    const prev = await kubectl('logs', 'web', '--previous');
    expect(prev.stderr).toMatch(/previous terminated container "web" in pod "web" not found/);
  });
});
