// The kube-proxy process wiring against a real API server (in this process) and a real control
// socket server speaking proto/podnet-node.proto (its handlers record what kube-proxy asks for,
// standing in for the cni-agent's netfilter): informers → proxier → iptables-restore over the
// socket, started before the socket exists (the cni-agent may start later), /healthz, /metrics.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiServer, kubeconfigYaml, startApiServer } from '@podnet/apiserver';
import { KubeClient } from '@podnet/client';
import { ControlServer, type Handlers } from '@podnet/cni-agent';
import { execa } from 'execa';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KubeProxyProcess, startKubeProxy } from './process.js';

const dir = mkdtempSync(join(tmpdir(), 'podnet-kube-proxy-process-'));
let api: ApiServer;
let admin: KubeClient;
let proxy: KubeProxyProcess;
let control: ControlServer | undefined;
const restores: Array<{ payload: string; noflush: boolean }> = [];
const socketPath = join(dir, 'cni-agent.sock');

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('kube-proxy process', () => {
  beforeAll(async () => {
    api = await startApiServer({ dataDir: join(dir, 'api'), port: 0, host: '127.0.0.1', logLevel: 'silent' } as never);
    admin = new KubeClient({ server: api.url, caPem: api.caPem, token: api.adminToken });
    await admin.resource('nodes').create({ metadata: { name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1' } } } as never);
    proxy = await startKubeProxy({
      node: 'node-1',
      client: new KubeClient({ server: api.url, caPem: api.caPem, token: api.tokens['kube-proxy'] as string }),
      controlSocket: socketPath,
      metricsHost: '127.0.0.1',
      metricsPort: 0,
      minSyncPeriodMs: 10,
      syncPeriodMs: 30_000,
      clusterCIDR: '10.244.0.0/16',
      nodeIP: '172.18.0.2',
      logger: pino({ level: 'silent' }),
    });
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await control?.close();
    admin?.close();
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is unhealthy until the cni-agent answers, then applies the Services and endpoints atomically over the socket', async () => {
    const early = await fetch(`${proxy.metricsUrl}/healthz`);
    expect(early.status).toBe(503);
    await admin.resource('services').create({
      metadata: { name: 'web', namespace: 'default' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    } as never);
    await admin.resource('endpointslices').create({
      metadata: { name: 'web-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.1.2'], conditions: { ready: true }, nodeName: 'node-1' }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    } as never);
    // The agent comes up a moment after kube-proxy, as when the node-agent starts both.
    await new Promise((r) => setTimeout(r, 400));
    const handlers = {
      iptablesRestore: (body: { payload: string; noflush?: boolean }) => {
        restores.push({ payload: body.payload, noflush: !!body.noflush });
        return { tables: ['filter', 'nat'], rules: body.payload.split('\n').filter((l) => l.startsWith('-A')).length };
      },
      iptablesSave: () => ({ text: restores.map((r) => r.payload).join('\n') }),
      conntrackDelete: () => ({ deleted: 0 }),
    } as unknown as Handlers;
    control = await ControlServer.listen(socketPath, handlers);
    const applied = await until('the web rules applied', () =>
      restores.find((r) => r.payload.includes('--to-destination 10.244.1.2:8080')),
    );
    expect(applied.noflush).toBe(true);
    const jump = applied.payload.split('\n').find((l) => l.startsWith('-A KUBE-SERVICES ') && l.includes('"default/web:http cluster IP"'));
    expect(jump).toMatch(/-d 10\.96\.\d+\.\d+(\/32)? .*-j KUBE-SVC-[A-Z2-7]{16}$/);
    expect(applied.payload).toMatch(/^COMMIT$/m);
    await until('healthy', async () => ((await fetch(`${proxy.metricsUrl}/healthz`)).status === 200 ? true : undefined));
    const metrics = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^kubeproxy_sync_proxy_rules_duration_seconds_count\{component="kube-proxy",node="node-1"\} [1-9]/m);
    expect((await fetch(`${proxy.metricsUrl}/nope`)).status).toBe(404);
  }, 60_000);

  it('follows an endpoint change with a partial sync', async () => {
    const before = restores.length;
    await admin
      .resource('endpointslices')
      .patch('web-abc', { endpoints: [{ addresses: ['10.244.1.3'], conditions: { ready: true }, nodeName: 'node-1' }] }, {
        namespace: 'default',
        type: 'merge',
      } as never);
    const next = await until('the new endpoint applied', () =>
      restores.slice(before).find((r) => r.payload.includes('--to-destination 10.244.1.3:8080')),
    );
    expect(next.payload).not.toContain('--to-destination 10.244.1.2:8080');
  }, 30_000);

  it('runs as a process (dist/main.js): ready line, /healthz, exit 0 on SIGTERM; bad flags exit 2 with the usage', async () => {
    const main = join(import.meta.dirname, '..', 'dist', 'main.js');
    const bad = await execa(process.execPath, [main, '--node', 'node-1'], { reject: false });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('PODNET_ERR_KUBE_PROXY_CONFIG: kube-proxy: --kubeconfig is required');
    expect(bad.stderr).not.toMatch(/^\s+at /m);
    const kubeconfig = join(dir, 'kubeconfig-kube-proxy');
    writeFileSync(kubeconfig, kubeconfigYaml(api.url, api.caPem, api.tokens['kube-proxy'] as string, 'kube-proxy'));
    const child = execa(
      process.execPath,
      [main, '--node', 'node-1', '--kubeconfig', kubeconfig, '--control-socket', socketPath, '--metrics-address', '127.0.0.1:0'],
      { reject: false },
    );
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /podnet kube-proxy node-1 ready \(metrics (http:\/\/[^ ]+)\/metrics\)/.exec(out);
        if (m) resolve(m[1] as string);
      });
      child.once('exit', () => reject(new Error(`kube-proxy exited before it was ready: ${out}`)));
    });
    await until('the process healthy', async () => ((await fetch(`${url}/healthz`)).status === 200 ? true : undefined));
    child.kill('SIGTERM');
    const done = await child;
    expect(done.exitCode).toBe(0);
    expect(done.stderr).toMatch(/"component":"kube-proxy","node":"node-1".*"msg":"kube-proxy stopping"/);
  }, 60_000);
});
