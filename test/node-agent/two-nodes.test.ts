// Two node processes (each a node-agent supervising its real cni-agent, vxlan backend) on their own
// transport addresses: a pod on node-1 reaches a pod on node-2 by pod IP, across the VXLAN tunnel
// between the two cni-agents, and node-1's pods reach each other on its cni0.
import { type ChildProcess, spawn } from 'node:child_process';
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
const base = 20 + (process.pid % 40) * 2;
const nodes = [
  { name: 'node-1', address: `127.0.2.${base}`, ip: '172.18.0.2' },
  { name: 'node-2', address: `127.0.2.${base + 1}`, ip: '172.18.0.3' },
];
let cp: ControlPlane;
let admin: KubeClient;
let dir: string;
let kubeletPort = 0;
const children: ChildProcess[] = [];

function freePort(hosts: string[]): Promise<number> {
  // One port free on both addresses (the API server uses one kubelet port for every node).
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, hosts[0], () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      const t = net.createServer();
      t.once('error', () => s.close(() => resolve(freePort(hosts))));
      t.listen(port, hosts[1], () => t.close(() => s.close(() => resolve(port))));
    });
  });
}

function execWs(host: string, pod: string, container: string, argv: string[]): Promise<string> {
  const q = new URLSearchParams();
  for (const a of argv) q.append('command', a);
  const ws = new WebSocket(
    `wss://${host}:${kubeletPort}/exec/default/${pod}/${container}?${q}&stdout=true&stderr=true`,
    ['v5.channel.k8s.io'],
    { ca: cp.apiServer.caPem, headers: { Authorization: `Bearer ${cp.apiServer.tokens['node-agent']}` } },
  );
  let out = '';
  return new Promise((resolve, reject) => {
    ws.on('message', (d: Buffer) => {
      if (d[0] === 1 || d[0] === 2) out += d.subarray(1).toString();
    });
    ws.on('close', () => resolve(out));
    ws.on('error', reject);
  });
}

const pods = () => admin.resource<Pod & KubeObject>('pods');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `podnet-na-two-${process.pid}-`));
  kubeletPort = await freePort(nodes.map((n) => n.address));
  cp = await startControlPlane({
    dataDir: join(dir, 'cp'),
    port: 0,
    host: '127.0.0.1',
    kubeletPort,
    controllers: ['nodeipam'],
    logLevel: 'silent',
  } as Parameters<typeof startControlPlane>[0]);
  admin = new KubeClient({ server: cp.apiServer.url, caPem: cp.apiServer.caPem, token: cp.apiServer.adminToken });
  await Promise.all(
    nodes.map(
      (n) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            [
              MAIN,
              '--node',
              n.name,
              '--kubeconfig',
              join(dir, 'cp', 'kubeconfig-node-agent'),
              '--transport-address',
              n.address,
              '--node-ip',
              n.ip,
              '--data-dir',
              join(dir, n.name),
              '--port',
              String(kubeletPort),
              '--backend',
              'vxlan',
              '--log-level',
              'warn',
            ],
            { stdio: ['ignore', 'pipe', 'pipe'] },
          );
          children.push(child);
          let err = '';
          child.stderr?.on('data', (d) => {
            err += d;
          });
          child.stdout?.on('data', (d) => {
            if (String(d).includes('ready on')) resolve();
          });
          child.once('exit', (code) => reject(new Error(`${n.name} exited ${code}: ${err.slice(-2000)}`)));
        }),
    ),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(
    children.map((c) =>
      c.exitCode === null
        ? new Promise<void>((r) => {
            c.once('exit', () => r());
            c.kill('SIGTERM');
          })
        : undefined,
    ),
  );
  admin?.close();
  await cp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('pods on two nodes', () => {
  it('a pod on node-1 reaches a pod on node-2 over the VXLAN tunnel, by pod IP', async () => {
    // Bound by hand (no scheduler), as a DaemonSet-like placement would.
    await pods().create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'far', namespace: 'default' },
      spec: { nodeName: 'node-2', containers: [{ name: 'web', image: AGNHOST, args: ['netexec'] }] },
    } as Pod & KubeObject);
    await pods().create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'near', namespace: 'default' },
      spec: { nodeName: 'node-1', containers: [{ name: 'box', image: 'busybox', command: ['sleep', '3600'] }] },
    } as Pod & KubeObject);
    const ready = (name: string) =>
      waitFor(
        `${name} Ready`,
        async () => {
          const p = await pods().get(name, { namespace: 'default' });
          return isReady(p) ? p : undefined;
        },
        60_000,
      );
    const far = await ready('far');
    await ready('near');
    expect(far.status?.podIP).toMatch(/^10\.244\.2\.\d+$/);
    expect(far.status?.hostIP).toBe('172.18.0.3');
    const answer = await waitFor(
      'a cross-node answer',
      async () => {
        const out = await execWs(nodes[0]?.address as string, 'near', 'box', [
          'curl',
          '-s',
          '-m',
          '2',
          `http://${far.status?.podIP}:8080/hostname`,
        ]);
        return out === 'far' ? out : undefined;
      },
      30_000,
    );
    expect(answer).toBe('far');
    const trace = await execWs(nodes[0]?.address as string, 'near', 'box', [
      'traceroute',
      '-q',
      '1',
      '-w',
      '1',
      far.status?.podIP as string,
    ]);
    expect(trace).toMatch(/^traceroute to 10\.244\.2\.\d+/);
    expect(trace).toMatch(/\n 1 {2}10\.244\.1\.1 \(10\.244\.1\.1\)/);
  });
});
