// `podnet up`: the cluster credentials and kubeconfigs in the state directory, the control plane
// (API server + controllers, one process) and N nodes (each a node-agent that supervises its
// cni-agent and kube-proxy), all detached; waits, with progress, until every Node is Ready, then
// prints how to use it. Never touches ~/.kube/config. A failure stops what it started.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeconfigYaml, loadOrCreateCredentials } from '@podnet/apiserver';
import { KubeClient } from '@podnet/client';
import { CniAgentClient } from '@podnet/cni-agent';
import { NODE_PROCESS_V8_FLAGS } from '@podnet/wire';
import type { Output } from '../pcap-read.js';
import { deployDemo } from './demo-app.js';
import { stopCluster } from './down.js';
import { ClusterError, ClusterErrorCodes } from './errors.js';
import { portFree } from './ports.js';
import { spawnDetached, tail, waitFor } from './spawn.js';
import {
  alive,
  type ClusterRecord,
  checkClusterName,
  groupAlive,
  type NodeRecord,
  REPO_ROOT,
  readRecord,
  stateDirFor,
  writeRecord,
} from './state.js';

export interface UpOptions {
  name: string;
  nodes: number;
  backend: 'vxlan' | 'host-gw';
  demo: boolean;
  stateDir?: string;
  apiPort: number;
  /** Node N's transport address is PREFIX.N (default 127.0.1, DESIGN §4). */
  transportPrefix: string;
  timeoutMs: number;
  /** The node lifecycle controller's grace before NotReady (default: the control plane's 10 s). */
  nodeMonitorGracePeriodMs?: number;
  /** How long a NotReady node keeps its pods before they are evicted (default: the control plane's 30 s). */
  podEvictionTimeoutMs?: number;
  /** Each cni-agent's NetworkPolicy least sync interval (--netpol-min-sync-period; default netpol's 100 ms). */
  netpolMinSyncPeriodMs?: number;
  /** Each cni-agent's NetworkPolicy periodic full sync (--netpol-sync-period; default netpol's 30 s). */
  netpolSyncPeriodMs?: number;
}

/**
 * How often each node-agent renews its Lease: well inside the node monitor grace period
 * (upstream renews every 10 s against a 40 s grace; podnet's control plane defaults to 10 s).
 */
const LEASE_INTERVAL_MS = 2000;

/** A word of a supervised command line (node-agent splits on spaces; quotes group). */
function quote(word: string): string {
  return /\s/.test(word) ? `"${word}"` : word;
}

/**
 * The cni-agent command line the node-agent supervises when `podnet up` has cni-agent flags to
 * pass (--netpol-min-sync-period, --netpol-sync-period): the node-agent's own default command (node-agent main.ts:
 * its kubeconfig, transport address, node IP, DATA_DIR/cni-agent, control socket, backend) plus
 * those flags, handed over as --cni-agent-command, as kube-proxy's is with --kube-proxy-command.
 * Undefined when there is nothing to add, so the node-agent's default stays the one path.
 */
export function cniAgentCommand(
  n: Pick<NodeRecord, 'name' | 'nodeIp' | 'transportAddress'>,
  o: {
    kubeconfig: string;
    dataDir: string;
    controlSocket: string;
    backend: string;
    netpolMinSyncPeriodMs?: number;
    netpolSyncPeriodMs?: number;
  },
): string | undefined {
  if (o.netpolMinSyncPeriodMs === undefined && o.netpolSyncPeriodMs === undefined) return undefined;
  return [
    process.execPath,
    ...NODE_PROCESS_V8_FLAGS,
    join(REPO_ROOT, 'packages/cni-agent/dist/main.js'),
    '--node',
    n.name,
    '--kubeconfig',
    o.kubeconfig,
    '--transport-address',
    n.transportAddress,
    '--node-ip',
    n.nodeIp,
    '--data-dir',
    join(o.dataDir, 'cni-agent'),
    '--control-socket',
    o.controlSocket,
    '--backend',
    o.backend,
    ...(o.netpolMinSyncPeriodMs === undefined ? [] : ['--netpol-min-sync-period', `${o.netpolMinSyncPeriodMs}ms`]),
    ...(o.netpolSyncPeriodMs === undefined ? [] : ['--netpol-sync-period', `${o.netpolSyncPeriodMs}ms`]),
  ]
    .map(quote)
    .join(' ');
}

interface NodeCondition {
  type?: string;
  status?: string;
}
interface NodeObject {
  metadata: { name?: string };
  status?: { conditions?: NodeCondition[] };
}

function isReady(node: NodeObject): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

export function nodePlan(count: number, prefix: string): Array<Pick<NodeRecord, 'name' | 'nodeIp' | 'transportAddress'>> {
  return Array.from({ length: count }, (_, i) => ({
    name: `node-${i + 1}`,
    nodeIp: `172.18.0.${i + 2}`,
    transportAddress: `${prefix}.${i + 1}`,
  }));
}

export async function up(options: UpOptions, io: Output): Promise<number> {
  const name = checkClusterName(options.name);
  const stateDir = stateDirFor(name, options.stateDir);
  const previous = readRecord(stateDir);
  if (previous && (groupAlive(previous.controlPlane.pid) || previous.nodes.some((n) => groupAlive(n.pid)))) {
    throw new ClusterError(
      ClusterErrorCodes.ALREADY_RUNNING,
      `podnet: cluster "${name}" is already running (API ${previous.apiUrl}, started ${previous.startedAt}, state in ${stateDir}).\n` +
        `Use it with: export KUBECONFIG=${previous.kubeconfig}\nor stop it first: podnet down${name === 'podnet' ? '' : ` --name ${name}`}`,
    );
  }
  const plan = nodePlan(options.nodes, options.transportPrefix);
  if (!(await portFree(options.apiPort, '127.0.0.1'))) {
    throw new ClusterError(
      ClusterErrorCodes.PORT_IN_USE,
      `podnet: port ${options.apiPort} on 127.0.0.1 is already in use (another API server, or another podnet cluster?).\n` +
        'Stop whatever holds it (`ss -ltnp sport = :' +
        options.apiPort +
        '`), or pick another port with --api-port N.',
    );
  }
  for (const n of plan) {
    for (const port of [10250, 10249, 9099]) {
      if (!(await portFree(port, n.transportAddress))) {
        throw new ClusterError(
          ClusterErrorCodes.PORT_IN_USE,
          `podnet: ${n.transportAddress}:${port} (${n.name}'s transport address) is already in use: another podnet cluster is probably running.\n` +
            'Stop it with `podnet down --name NAME`, or give this one other addresses with --transport-prefix 127.0.N.',
        );
      }
    }
  }

  const logs = join(stateDir, 'logs');
  const cpDataDir = join(stateDir, 'control-plane');
  mkdirSync(logs, { recursive: true });
  mkdirSync(cpDataDir, { recursive: true });
  io.out(`podnet: creating cluster "${name}" in ${stateDir}`);
  const creds = await loadOrCreateCredentials(cpDataDir);
  const apiUrl = `https://127.0.0.1:${options.apiPort}`;
  const kubeconfigOf = (user: string) => {
    const token = creds.tokens[user];
    if (!token) throw new ClusterError(ClusterErrorCodes.START, `the credentials in ${cpDataDir}/pki have no token for "${user}"`);
    const path = join(stateDir, user === 'admin' ? 'kubeconfig' : `kubeconfig-${user}`);
    writeFileSync(path, kubeconfigYaml(apiUrl, creds.caPem, token, user, name), { mode: 0o600 });
    return path;
  };
  const kubeconfig = kubeconfigOf('admin');
  const nodeKubeconfig = kubeconfigOf('node-agent');
  const proxyKubeconfig = kubeconfigOf('kube-proxy');

  const record: ClusterRecord = {
    name,
    stateDir,
    backend: options.backend,
    apiPort: options.apiPort,
    apiUrl,
    kubeconfig,
    startedAt: new Date().toISOString(),
    controlPlane: { pid: 0, log: join(logs, 'control-plane.log'), dataDir: cpDataDir },
    nodes: [],
  };
  try {
    record.controlPlane.pid = spawnDetached(
      [
        process.execPath,
        join(REPO_ROOT, 'packages/controllers/dist/control-plane-main.js'),
        '--data-dir',
        cpDataDir,
        '--port',
        String(options.apiPort),
        '--host',
        '127.0.0.1',
        ...(options.nodeMonitorGracePeriodMs === undefined
          ? []
          : ['--node-monitor-grace-period-ms', String(options.nodeMonitorGracePeriodMs)]),
        ...(options.podEvictionTimeoutMs === undefined ? [] : ['--pod-eviction-timeout-ms', String(options.podEvictionTimeoutMs)]),
      ],
      record.controlPlane.log,
    );
    writeRecord(record);
    io.out(`  control plane starting (pid ${record.controlPlane.pid}, log ${record.controlPlane.log})`);
    const client = new KubeClient({ kubeconfig });
    const cpUp = await waitFor(
      async () => {
        if (!alive(record.controlPlane.pid)) throw failed('the control plane', record.controlPlane.log);
        try {
          await client.resource('namespaces').get('default');
          return true;
        } catch {
          return undefined;
        }
      },
      Math.min(options.timeoutMs, 60_000),
      250,
    );
    if (!cpUp) throw failed('the control plane', record.controlPlane.log, 'did not answer within 60 s');
    io.out(`  control plane ready: ${apiUrl}`);

    for (const n of plan) {
      const dataDir = join(stateDir, 'nodes', n.name);
      const controlSocket = join(dataDir, 'cni-agent.sock');
      const log = join(logs, `${n.name}.log`);
      mkdirSync(dataDir, { recursive: true });
      const kubeProxy = [
        process.execPath,
        ...NODE_PROCESS_V8_FLAGS,
        join(REPO_ROOT, 'packages/kube-proxy/dist/main.js'),
        '--node',
        n.name,
        '--kubeconfig',
        proxyKubeconfig,
        '--control-socket',
        controlSocket,
        '--metrics-address',
        `${n.transportAddress}:10249`,
        '--node-ip',
        n.nodeIp,
        '--min-sync-period',
        '10ms',
      ]
        .map(quote)
        .join(' ');
      const cniAgent = cniAgentCommand(n, {
        kubeconfig: nodeKubeconfig,
        dataDir,
        controlSocket,
        backend: options.backend,
        ...(options.netpolMinSyncPeriodMs === undefined ? {} : { netpolMinSyncPeriodMs: options.netpolMinSyncPeriodMs }),
        ...(options.netpolSyncPeriodMs === undefined ? {} : { netpolSyncPeriodMs: options.netpolSyncPeriodMs }),
      });
      const pid = spawnDetached(
        [
          process.execPath,
          ...NODE_PROCESS_V8_FLAGS,
          join(REPO_ROOT, 'packages/node-agent/dist/main.js'),
          '--node',
          n.name,
          '--kubeconfig',
          nodeKubeconfig,
          '--transport-address',
          n.transportAddress,
          '--node-ip',
          n.nodeIp,
          '--data-dir',
          dataDir,
          '--backend',
          options.backend,
          '--control-socket',
          controlSocket,
          '--lease-interval-ms',
          String(LEASE_INTERVAL_MS),
          '--kube-proxy-command',
          kubeProxy,
          ...(cniAgent === undefined ? [] : ['--cni-agent-command', cniAgent]),
        ],
        log,
      );
      record.nodes.push({ ...n, pid, log, controlSocket, dataDir });
      writeRecord(record);
      io.out(`  ${n.name} starting (node IP ${n.nodeIp}, transport ${n.transportAddress}, pid ${pid}, log ${log})`);
    }

    const reported = new Set<string>();
    const allReady = await waitFor(
      async () => {
        for (const n of record.nodes) if (!alive(n.pid)) throw failed(`${n.name}'s node-agent`, n.log);
        if (!alive(record.controlPlane.pid)) throw failed('the control plane', record.controlPlane.log);
        let items: NodeObject[];
        try {
          items = (await client.resource('nodes').list()).items as NodeObject[];
        } catch {
          return undefined;
        }
        for (const node of items) {
          const nodeName = node.metadata.name ?? '';
          if (!plan.some((p) => p.name === nodeName)) continue;
          if (!reported.has(`${nodeName}/registered`)) {
            reported.add(`${nodeName}/registered`);
            io.out(`  ${nodeName} registered`);
          }
          if (isReady(node) && !reported.has(`${nodeName}/ready`)) {
            reported.add(`${nodeName}/ready`);
            io.out(`  ${nodeName} Ready`);
          }
        }
        return plan.every((p) => reported.has(`${p.name}/ready`)) ? true : undefined;
      },
      options.timeoutMs,
      300,
    );
    if (!allReady) {
      const late = record.nodes.filter((n) => !reported.has(`${n.name}/ready`));
      throw new ClusterError(
        ClusterErrorCodes.START,
        `podnet: ${late.map((n) => n.name).join(', ')} did not become Ready within ${Math.round(options.timeoutMs / 1000)} s.\n` +
          late.map((n) => `${n.name}'s log (${n.log}) ends with:\n${tail(n.log)}`).join('\n'),
      );
    }
    await waitForDataPlanes(record, io);
    if (!options.demo) {
      printSummary(record, io);
      client.close();
      return 0;
    }
  } catch (error) {
    io.err('podnet: start failed; stopping what was started');
    await stopCluster(record, 5000);
    writeRecord({ ...record, controlPlane: { ...record.controlPlane, pid: 0 }, nodes: record.nodes.map((n) => ({ ...n, pid: 0 })) });
    throw error;
  }
  // The demo is deployed on a running cluster: if it fails, the cluster stays up for inspection.
  const client = new KubeClient({ kubeconfig });
  try {
    io.out('  deploying the demo app (web: 3 agnhost replicas behind a NodePort Service; loadgen calling it)');
    const demo = await deployDemo(client, io, Math.max(30_000, options.timeoutMs));
    printSummary(record, io, demo);
    return 0;
  } catch (error) {
    printSummary(record, io);
    throw error;
  } finally {
    client.close();
  }
}

/**
 * A node is Ready once its kubelet reports so; its data plane is ready once the cni-agent answers
 * `status` ready and the node-agent's prober sandbox is attached to cni0 (the first pod-like
 * attachment on a fresh node: network probes leave from it, so pods started before it would have
 * no readiness probes). Bounded; a node that is late only gets a warning.
 */
async function waitForDataPlanes(record: ClusterRecord, io: Output): Promise<void> {
  await Promise.all(
    record.nodes.map(async (n) => {
      const agent = new CniAgentClient({ socketPath: n.controlSocket, timeoutMs: 3000 });
      try {
        const ok = await waitFor(
          async () => {
            const s = await agent.status().catch(() => undefined);
            return s?.ready && s.pods >= 1 ? true : undefined;
          },
          15_000,
          100,
        );
        if (!ok) io.err(`  warning: ${n.name}'s data plane is not ready after 15 s (see ${n.log})`);
      } finally {
        agent.close();
      }
    }),
  );
}

function failed(what: string, log: string, why = 'exited'): ClusterError {
  return new ClusterError(ClusterErrorCodes.START, `podnet: ${what} ${why}. Its log (${log}) ends with:\n${tail(log)}`);
}

/** The live page's URL, as the control plane announced it in its log ("podnet live page on URL"). */
function livePageUrl(logPath: string): string | undefined {
  try {
    return /^podnet live page on (\S+)$/m.exec(readFileSync(logPath, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

function printSummary(record: ClusterRecord, io: Output, demo?: { nodePort: number; clusterIP: string }): void {
  const lines = [
    '',
    `Cluster "${record.name}" is running (${record.nodes.length} node${record.nodes.length === 1 ? '' : 's'}, backend ${record.backend}).`,
    '',
    'Use it with kubectl:',
    `  export KUBECONFIG=${record.kubeconfig}`,
    '  kubectl get nodes -o wide',
    '  kubectl get pods -A -o wide',
    '',
    'Nodes (node IP: inside the emulated network; transport address: where its real sockets listen):',
    ...record.nodes.map(
      (n) => `  ${n.name}  node IP ${n.nodeIp}  transport ${n.transportAddress}  (NodePorts: curl http://${n.transportAddress}:NODEPORT/)`,
    ),
    '',
    `Live page: ${livePageUrl(record.controlPlane.log) ?? `not running (port 8080 taken? see ${record.controlPlane.log})`}`,
    '',
    'Metrics:',
    `  API server    ${record.apiUrl}/metrics (bearer token in the kubeconfig)`,
    ...record.nodes.map(
      (n) =>
        `  ${n.name}  kube-proxy http://${n.transportAddress}:10249/metrics  cni-agent http://${n.transportAddress}:9099/metrics  node-agent https://${n.transportAddress}:10250/metrics`,
    ),
    '',
    `Logs: ${join(record.stateDir, 'logs')}/ (control-plane.log, node-N.log: pino JSON lines)`,
  ];
  if (demo) {
    lines.push(
      '',
      `Demo: Service web ClusterIP ${demo.clusterIP}:80, NodePort ${demo.nodePort}:`,
      ...record.nodes.map((n) => `  curl http://${n.transportAddress}:${demo.nodePort}/hostname`),
      '  kubectl logs deploy/loadgen',
    );
  }
  lines.push('', `Stop it with: podnet down${record.name === 'podnet' ? '' : ` --name ${record.name}`}`);
  for (const l of lines) io.out(l);
}
