// Starting and stopping a real `podnet up` cluster for the benchmark groups (scale, programming, netpol), through the
// CLI's documented interface only (packages/cli: `podnet up --nodes N --name --state-dir
// --api-port --transport-prefix --timeout`, which returns once every node is Ready; `podnet down
// --purge`; cluster.json in the state directory records each component's process group).
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
export const PODNET_CLI = join(repo, 'packages/cli/bin/podnet.js');

/** Runs a command to completion (bounded by timeoutMs); resolves with its code, signal and output. */
export function run(file, args, { timeoutMs, env, input } = {}) {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { timeout: timeoutMs, env: { ...process.env, ...env }, maxBuffer: 1 << 26 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (error.code ?? 1) : 0, signal: error?.signal, stdout, stderr, killed: error?.killed });
      },
    );
    if (input !== undefined) child.stdin.end(input);
  });
}

/** A free TCP port on 127.0.0.1 (bind 0, read it, close), for the cluster's API server. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Resident memory (kB → MiB) summed over every live process whose process group is pgid, and per
 * process by the podnet program it runs (packages/NAME/dist/…: node-agent, cni-agent, kube-proxy;
 * anything else by its command name).
 */
export function processGroupRssMiB(pgid) {
  let kb = 0;
  let processes = 0;
  const byProgram = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after "(comm) ": state ppid pgrp … (proc(5)); comm may contain spaces, so split after ')'.
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp !== pgid) continue;
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'));
      if (rss) {
        kb += Number(rss[1]);
        processes++;
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
        const program = /packages\/([a-z-]+)\/dist\//.exec(cmdline)?.[1] ?? stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        byProgram[program] = (byProgram[program] ?? 0) + Number(rss[1]) / 1024;
      }
    } catch {
      // The process ended while being read.
    }
  }
  return { mib: kb / 1024, processes, byProgram };
}

/**
 * `podnet up --nodes N` on its own name, state directory, API port and transport prefix (so it
 * never meets a cluster or test using the defaults); resolves with the seconds until up returned
 * (every node Ready) and a handle to deploy pods, read memory and stop it.
 */
export async function startCluster({ nodes, prefix, timeoutS, label = 'bench', upArgs = [] }) {
  const name = `${label}-${process.pid}-${nodes}`;
  const stateDir = mkdtempSync(join(tmpdir(), `podnet-${label}-`));
  const apiPort = await freePort();
  const env = { PODNET_HOME: stateDir };
  const common = ['--name', name, '--state-dir', stateDir];
  const down = async () => {
    await run(process.execPath, [PODNET_CLI, 'down', ...common, '--purge'], { timeoutMs: 60_000, env });
    rmSync(stateDir, { recursive: true, force: true });
  };
  const started = performance.now();
  const up = await run(
    process.execPath,
    [
      PODNET_CLI,
      'up',
      '--nodes',
      String(nodes),
      ...common,
      '--api-port',
      String(apiPort),
      '--transport-prefix',
      prefix,
      '--timeout',
      String(timeoutS),
      ...upArgs,
    ],
    { timeoutMs: (timeoutS + 30) * 1000, env },
  );
  const upSeconds = (performance.now() - started) / 1000;
  if (up.code !== 0) {
    await down();
    const why = `${up.stderr}\n${up.stdout}`.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
    return { error: `podnet up --nodes ${nodes} failed (${up.signal ?? `exit ${up.code}`}): ${why.slice(0, 300)}` };
  }
  const record = JSON.parse(readFileSync(join(stateDir, 'cluster.json'), 'utf8'));
  const kubeconfig = record.kubeconfig ?? join(stateDir, 'kubeconfig');
  const kubectl = (args, opts = {}) => run('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeoutMs: 120_000, ...opts });
  return {
    upSeconds,
    record,
    /** Node names whose Ready condition is True, as the API server reports them. */
    async readyNodes() {
      const r = await kubectl(['get', 'nodes', '-o', 'json']);
      if (r.code !== 0) throw new Error(`kubectl get nodes: ${r.stderr.trim()}`);
      return JSON.parse(r.stdout)
        .items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        .map((n) => n.metadata.name);
    },
    /** A Deployment of `replicas` agnhost pods; seconds until all are Ready (bounded). */
    async deployPods(replicas, timeoutS) {
      const manifest = JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'bench-pods' },
        spec: {
          replicas,
          selector: { matchLabels: { app: 'bench-pods' } },
          template: {
            metadata: { labels: { app: 'bench-pods' } },
            spec: {
              containers: [{ name: 'web', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', args: ['netexec', '--http-port=8080'] }],
            },
          },
        },
      });
      const t = performance.now();
      const applied = await kubectl(['apply', '-f', '-'], { input: manifest });
      if (applied.code !== 0) throw new Error(`kubectl apply: ${applied.stderr.trim()}`);
      const rolled = await kubectl(['rollout', 'status', 'deployment/bench-pods', `--timeout=${timeoutS}s`], {
        timeoutMs: (timeoutS + 15) * 1000,
      });
      const seconds = (performance.now() - t) / 1000;
      const got = await kubectl(['get', 'deployment', 'bench-pods', '-o', 'jsonpath={.status.readyReplicas}']);
      const ready = Number(got.stdout) || 0;
      return { seconds, ready, complete: rolled.code === 0 && ready === replicas };
    },
    /** RSS per node (its process group: node-agent, cni-agent, kube-proxy) and the control plane's. */
    memory() {
      return {
        nodes: record.nodes.map((n) => ({ name: n.name, ...processGroupRssMiB(n.pid) })),
        controlPlane: processGroupRssMiB(record.controlPlane.pid),
      };
    },
    stop: down,
  };
}
