// A one-node cluster for node-agent tests: the real API server and controllers (scheduler, node
// IPAM, ...) in this process, and a real NodeAgent on a fresh 127.0.1.N transport address with the
// in-process LocalBridgeCni (unix-socket veths to a cni0 bridge), since the cni-agent process is
// another package's.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, type KubeObject } from '@podnet/client';
import { type ControlPlane, startControlPlane } from '@podnet/controllers';
import { LocalBridgeCni, NodeAgent, type Pod } from '@podnet/node-agent';

export interface TestCluster {
  cp: ControlPlane;
  admin: KubeClient;
  agent: NodeAgent;
  cni: LocalBridgeCni | undefined;
  nodeName: string;
  transportAddress: string;
  kubeletPort: number;
  dataDir: string;
  close(): Promise<void>;
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export async function startTestCluster(label: string): Promise<TestCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), `podnet-na-${label}-${process.pid}-`));
  // A transport address of our own in 127/8 (Linux routes all of it to lo), so parallel test
  // files never share one; the kubelet port is a free port on it.
  const transportAddress = `127.0.1.${100 + ((process.pid + label.length * 7) % 150)}`;
  const kubeletPort = await freePort(transportAddress);
  const cp = await startControlPlane({
    dataDir: join(dataDir, 'cp'),
    port: 0,
    host: '127.0.0.1',
    kubeletPort,
    controllers: ['scheduler', 'nodeipam', 'endpointslice'],
    logLevel: 'silent',
  } as Parameters<typeof startControlPlane>[0]);
  const token = cp.apiServer.tokens['node-agent'] ?? cp.apiServer.adminToken;
  const client = new KubeClient({ server: cp.apiServer.url, caPem: cp.apiServer.caPem, token });
  const admin = new KubeClient({ server: cp.apiServer.url, caPem: cp.apiServer.caPem, token: cp.apiServer.adminToken });
  const nodeName = 'node-1';
  let cni: LocalBridgeCni | undefined;
  const { pino } = await import('pino');
  const agent = new NodeAgent({
    client,
    nodeName,
    transportAddress,
    nodeIp: '172.18.0.2',
    dataDir: join(dataDir, 'node-1'),
    port: kubeletPort,
    cni: (podCidr) => {
      cni = new LocalBridgeCni({ podCidr, socketDir: join(dataDir, 'node-1') });
      return cni;
    },
    leaseRenewIntervalMs: 300,
    statusIntervalMs: 1000,
    backoff: { initialMs: 300, maxMs: 1200 },
    controlTokens: [token],
    logger: pino({ level: process.env.PODNET_LOG_LEVEL ?? 'silent' }),
  });
  await agent.start();
  return {
    cp,
    admin,
    agent,
    get cni() {
      return cni;
    },
    nodeName,
    transportAddress,
    kubeletPort,
    dataDir,
    async close() {
      await agent.stop();
      client.close();
      admin.close();
      await cp.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const pods = (c: TestCluster) => c.admin.resource<Pod & KubeObject>('pods');

export function isReady(p: Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export async function createPod(c: TestCluster, pod: Pod): Promise<Pod> {
  return pods(c).create({ apiVersion: 'v1', kind: 'Pod', ...pod, metadata: { namespace: 'default', ...pod.metadata } } as Pod & KubeObject);
}

export async function waitRunningReady(c: TestCluster, name: string, timeoutMs = 30_000): Promise<Pod> {
  return waitFor(
    `pod ${name} Running and Ready`,
    async () => {
      const p = await pods(c).get(name, { namespace: 'default' });
      return p.status?.phase === 'Running' && isReady(p) && p.status.podIP ? p : undefined;
    },
    timeoutMs,
  );
}

export const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
