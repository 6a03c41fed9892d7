// The upstream NetworkPolicy e2e model (test/e2e/network/netpol/model.go) on a real `podnet up`
// cluster: namespaces x, y, z (label ns=<name>; the API server adds kubernetes.io/metadata.name),
// pods a, b, c in each (label pod=<name>) with one agnhost netexec container per port serving TCP
// and UDP (named ports serve-80-tcp, serve-80-udp, serve-81-tcp, serve-81-udp), as upstream's
// model gives each port/protocol its own container. Helpers run the real CLI (dist/).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '@podnet/client';
import { execa } from 'execa';

const FILE_OCTET: Record<string, number> = { trace: 1, upstream: 2, frames: 3, sctp: 4 };
export const NAMESPACES = ['x', 'y', 'z'] as const;
export const PODS = ['a', 'b', 'c'] as const;
const BIN = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'bin', 'podnet.js');

/** A port that was free a moment ago (bind 0, close), for the cluster's API server. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ModelCluster {
  root: string;
  client: KubeClient;
  podnet: (...args: string[]) => Promise<{ exitCode?: number; stdout: string; stderr: string }>;
  /** podnet netpol probe --expect on a matrix text; retried until equal or the bound passes. */
  probeUntil: (name: string, matrix: string, extra?: string[], boundMs?: number) => Promise<{ exitCode: number; out: string }>;
  down: () => Promise<void>;
}

const container = (port: number) => ({
  name: `cont-${port}`,
  image: 'registry.k8s.io/e2e-test-images/agnhost:2.53',
  args: ['netexec', `--http-port=${port}`, `--udp-port=${port}`],
  ports: [
    { name: `serve-${port}-tcp`, containerPort: port, protocol: 'TCP' },
    { name: `serve-${port}-udp`, containerPort: port, protocol: 'UDP' },
  ],
});

export async function startModelCluster(tag: string, nodes = 2): Promise<ModelCluster> {
  const root = mkdtempSync(join(tmpdir(), `podnet-${tag}-${process.pid}-`));
  const stateDir = join(root, 'state');
  mkdirSync(stateDir, { recursive: true });
  // 127.19X.*: a second octet per file (other cluster tests use 100-189 and 200-249), so the files
  // of this directory never share transport addresses when vitest runs them at once.
  const prefix = `127.${190 + (FILE_OCTET[tag] ?? 0)}.${process.pid % 250}`;
  // --state-dir goes before a `--` (node exec's command follows it).
  const podnet = (...args: string[]) => {
    const cut = args.indexOf('--');
    const argv = cut < 0 ? [...args, '--state-dir', stateDir] : [...args.slice(0, cut), '--state-dir', stateDir, ...args.slice(cut)];
    return execa(process.execPath, [BIN, ...argv], { reject: false, timeout: 200_000, env: { PODNET_HOME: root } });
  };
  const up = await podnet(
    'up',
    '--nodes',
    String(nodes),
    '--backend',
    'vxlan',
    '--api-port',
    String(await freePort()),
    '--transport-prefix',
    prefix,
    '--timeout',
    '150',
  );
  if (up.exitCode !== 0) throw new Error(`podnet up failed:\n${up.stdout}\n${up.stderr}`);
  const client = new KubeClient({ kubeconfig: join(stateDir, 'kubeconfig') });
  for (const ns of NAMESPACES) {
    await client.resource('namespaces').create({ metadata: { name: ns, labels: { ns } } } as never);
    for (const name of PODS)
      await client
        .resource('pods')
        .create(
          { metadata: { namespace: ns, name, labels: { pod: name } }, spec: { containers: [container(80), container(81)] } } as never,
          { namespace: ns },
        );
  }
  const deadline = Date.now() + 120_000;
  for (;;) {
    const pods = (await client.resource('pods').list()).items as Array<{
      metadata?: { namespace?: string };
      status?: { phase?: string; podIP?: string };
    }>;
    const ours = pods.filter((p) => (NAMESPACES as readonly string[]).includes(p.metadata?.namespace ?? ''));
    if (ours.length === 9 && ours.every((p) => p.status?.phase === 'Running' && p.status.podIP)) break;
    if (Date.now() > deadline) throw new Error(`model pods not Running: ${JSON.stringify(ours.map((p) => p.status))}`);
    await sleep(250);
  }
  const probeUntil = async (name: string, matrix: string, extra: string[] = [], boundMs = 30_000) => {
    const file = join(root, `${name}.txt`);
    writeFileSync(file, `# ${name}\n${matrix}\n`);
    const until = Date.now() + boundMs;
    for (;;) {
      const r = await podnet('netpol', 'probe', '--namespaces', 'x,y,z', '--timeout-ms', '1000', '--expect', file, ...extra);
      const out = `${r.stdout}\n${r.stderr}`;
      if (r.exitCode === 0 || Date.now() > until) return { exitCode: r.exitCode ?? -1, out };
      await sleep(500);
    }
  };
  return {
    root,
    client,
    podnet,
    probeUntil,
    down: async () => {
      client.close();
      await podnet('down', '--purge');
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The model's pod IP by "ns/name". */
export async function podIps(client: KubeClient): Promise<Map<string, string>> {
  const pods = (await client.resource('pods').list()).items as Array<{
    metadata: { namespace?: string; name: string };
    status?: { podIP?: string };
  }>;
  return new Map(pods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p.status?.podIP ?? ''] as const));
}
