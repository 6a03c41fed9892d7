// The node-agent process (dist/main.js) as `podnet up` runs it: it supervises the real cni-agent
// process, whose CNI endpoint wires each pod's eth0 over a unix-socket veth to cni0; pods reach
// each other through the cni-agent's host namespace; exec goes over the kubelet server's
// WebSocket v5 channel protocol; a SIGKILLed cni-agent is restarted and the pods are
// resynchronised; `kill-node` takes the whole node down; bad flags exit 2.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, type KubeObject } from '@podnet/client';
import { type ControlPlane, startControlPlane } from '@podnet/controllers';
import type { Pod } from '@podnet/node-agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGNHOST, isReady, waitFor } from './cluster.ts';

const MAIN = join(import.meta.dirname, '../../packages/node-agent/dist/main.js');

let cp: ControlPlane;
let admin: KubeClient;
let dir: string;
let child: ChildProcess;
let stderr = '';
let exited: Promise<number | null>;
// Away from 127.0.1.1-N, which `podnet up` clusters and other suites use with fixed ports.
const transportAddress = `127.0.3.${(process.pid % 200) + 10}`;
let port = 0;

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** kubectl exec's wire protocol, by hand: v5.channel.k8s.io frames, exit status on channel 3. */
function execWs(
  pod: string,
  container: string,
  argv: string[],
): Promise<{ stdout: string; stderr: string; status: Record<string, unknown> }> {
  const q = new URLSearchParams();
  for (const a of argv) q.append('command', a);
  q.set('stdout', 'true');
  q.set('stderr', 'true');
  const ws = new WebSocket(`wss://${transportAddress}:${port}/exec/default/${pod}/${container}?${q}`, ['v5.channel.k8s.io'], {
    // The serving certificate chains to the cluster CA; the node token opens the kubelet API.
    ca: cp.apiServer.caPem,
    headers: { Authorization: `Bearer ${cp.apiServer.tokens['node-agent']}` },
  });
  let out = '';
  let err = '';
  let status: Record<string, unknown> = {};
  return new Promise((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      const ch = data[0];
      const body = data.subarray(1).toString();
      if (ch === 1) out += body;
      else if (ch === 2) err += body;
      else if (ch === 3) status = JSON.parse(body);
    });
    ws.on('close', () => resolve({ stdout: out, stderr: err, status }));
    ws.on('error', reject);
  });
}

const pods = () => admin.resource<Pod & KubeObject>('pods');

async function runningReady(name: string): Promise<Pod> {
  return waitFor(
    `${name} Running and Ready`,
    async () => {
      const p = await pods().get(name, { namespace: 'default' });
      return p.status?.phase === 'Running' && isReady(p) ? p : undefined;
    },
    45_000,
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `podnet-na-proc-${process.pid}-`));
  port = await freePort(transportAddress);
  cp = await startControlPlane({
    dataDir: join(dir, 'cp'),
    port: 0,
    host: '127.0.0.1',
    kubeletPort: port,
    controllers: ['scheduler', 'nodeipam'],
    logLevel: 'silent',
  } as Parameters<typeof startControlPlane>[0]);
  admin = new KubeClient({ server: cp.apiServer.url, caPem: cp.apiServer.caPem, token: cp.apiServer.adminToken });
  child = spawn(
    process.execPath,
    [
      MAIN,
      '--node',
      'node-1',
      '--kubeconfig',
      join(dir, 'cp', 'kubeconfig-node-agent'),
      '--transport-address',
      transportAddress,
      '--node-ip',
      '172.18.0.2',
      '--data-dir',
      join(dir, 'node-1'),
      '--port',
      String(port),
      '--kube-proxy',
      '--lease-interval-ms',
      '500',
      '--backoff-initial-ms',
      '500',
      '--log-level',
      'info',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  exited = new Promise((r) => child.once('exit', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      if (out.includes('ready on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`node-agent exited ${code}: ${stderr.slice(-3000)}`)));
    setTimeout(() => reject(new Error(`node-agent not ready after 60 s: ${stderr.slice(-3000)}`)), 60_000);
  });
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await exited;
  }
  admin?.close();
  await cp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('node-agent process with the supervised cni-agent', () => {
  it('prints its ready line, and pods get IPs from the cni-agent and talk through its cni0', async () => {
    await pods().create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default' },
      spec: { containers: [{ name: 'web', image: AGNHOST, args: ['netexec', '--http-port=8080'] }] },
    } as Pod & KubeObject);
    await pods().create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'shell', namespace: 'default' },
      spec: { containers: [{ name: 'box', image: 'busybox', command: ['sleep', '3600'] }] },
    } as Pod & KubeObject);
    const web = await runningReady('web');
    await runningReady('shell');
    expect(web.status?.podIP).toMatch(/^10\.244\.1\.\d+$/);
    const r = await execWs('shell', 'box', ['curl', '-s', `http://${web.status?.podIP}:8080/hostname`]);
    expect(r).toEqual({ stdout: 'web', stderr: '', status: { metadata: {}, status: 'Success' } });
    const failing = await execWs('shell', 'box', ['sh', '-c', 'exit 3']);
    expect(failing.status).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
  });

  it('supervises the default kube-proxy, which serves its metrics on the transport address', async () => {
    expect(stderr).toMatch(/"child":"kube-proxy","pid":\d+/);
    const body = await waitFor('kube-proxy metrics', async () => {
      const r = await fetch(`http://${transportAddress}:10249/metrics`).catch(() => undefined);
      return r?.ok ? r.text() : undefined;
    });
    expect(body).toMatch(/kubeproxy_sync_proxy_rules_duration_seconds/);
  });

  it('restarts a SIGKILLed cni-agent and resynchronises the pods (same IPs, traffic flows again)', async () => {
    const started = [...stderr.matchAll(/"child":"cni-agent","pid":(\d+)/g)];
    const pid = Number(started[started.length - 1]?.[1]);
    expect(pid).toBeGreaterThan(0);
    const before = (await pods().get('web', { namespace: 'default' })).status?.podIP;
    process.kill(pid, 'SIGKILL');
    await waitFor(
      'the resync after the cni-agent restart',
      async () => stderr.includes('resynchronised pods after cni-agent restart'),
      30_000,
    );
    const r = await waitFor(
      'curl after the restart',
      async () => {
        const x = await execWs('shell', 'box', ['curl', '-s', '-m', '2', `http://${before}:8080/hostname`]);
        return x.stdout === 'web' ? x : undefined;
      },
      30_000,
    );
    expect(r.stdout).toBe('web');
    expect((await pods().get('web', { namespace: 'default' })).status?.podIP).toBe(before);
  });

  it('kill-node stops the node-agent and its children at once', async () => {
    const started = [...stderr.matchAll(/"child":"cni-agent","pid":(\d+)/g)];
    const cniPid = Number(started[started.length - 1]?.[1]);
    const token = cp.apiServer.tokens['node-agent'] as string;
    const res = await fetchKill(token);
    expect(res).toBe(200);
    expect(await exited).toBe(137);
    expect(() => process.kill(cniPid, 0)).toThrow();
    const proxyPid = Number(/"child":"kube-proxy","pid":(\d+)/.exec(stderr)?.[1]);
    expect(proxyPid).toBeGreaterThan(0);
    expect(() => process.kill(proxyPid, 0)).toThrow();
  });
});

function fetchKill(token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    import('node:https').then(({ request }) => {
      const req = request(
        {
          host: transportAddress,
          port,
          path: '/podnet/kill-node',
          method: 'POST',
          rejectUnauthorized: false,
          headers: { Authorization: `Bearer ${token}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    }, reject);
  });
}

describe('node-agent flags', () => {
  it('exits 2 with PODNET_ERR_USAGE and the usage on a bad flag', () => {
    const r = spawnSync(
      process.execPath,
      [
        MAIN,
        '--node',
        'n',
        '--kubeconfig',
        'k',
        '--transport-address',
        '127.0.1.1',
        '--node-ip',
        '172.18.0.2',
        '--data-dir',
        dir,
        '--backend',
        'carrier-pigeon',
      ],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^PODNET_ERR_USAGE: --backend must be vxlan or host-gw \(got "carrier-pigeon"\)\nusage: node-agent --node NAME/,
    );
    const unknown = spawnSync(process.execPath, [MAIN, '--frobnicate'], { encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/PODNET_ERR_USAGE: Unknown option '--frobnicate'/);
  });
});
