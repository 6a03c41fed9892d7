// `podnet up --runtime compose`: the cluster as containers (deploy/docker-compose.yml), driven
// through docker compose (v2) or docker-compose (v1). Records what it started in the state
// directory (compose.json) so `down` and `status` find the project; waits, with progress, until
// every Node is Ready; prints the same next steps as process mode, NodePorts at 127.0.0.1.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeClient } from '@podnet/client';
import { execa } from 'execa';
import type { Output } from '../pcap-read.js';
import { type ComposeCommand, composeArgv, downArgv, findCompose, upArgv } from './compose-command.js';
import { ComposeError, ComposeErrorCodes } from './errors.js';
import { type ComposeNode, composeNodes, overrideFor, PUBLISHED_NODEPORTS, STATIC_NODES } from './plan.js';
import { composePrometheusYaml } from './prometheus.js';

export const COMPOSE_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../deploy/docker-compose.yml');

export interface ComposeUpOptions {
  nodes: number;
  backend?: 'vxlan' | 'host-gw';
  /** Compose project name (containers, network): default "podnet". */
  project?: string;
  stateDir?: string;
  /** Host ports on 127.0.0.1. */
  apiPort?: number;
  livePort?: number;
  /** Host port for container NodePort 30080; the next nine follow it. */
  nodePortHostFirst?: number;
  /** The podnet image (default podnet:local, built from deploy/Dockerfile when missing). */
  image?: string;
  /** Start Prometheus and Grafana too (profile "observability": their images must be pullable). */
  observability?: boolean;
  timeoutMs?: number;
  /** The node lifecycle controller's grace before NotReady (default: the control plane's 10 s). */
  nodeMonitorGracePeriodMs?: number;
  /** How long a NotReady node keeps its pods before eviction (default: the control plane's 30 s). */
  podEvictionTimeoutMs?: number;
}

export interface ComposeRecord {
  project: string;
  stateDir: string;
  files: string[];
  env: Record<string, string>;
  nodes: ComposeNode[];
  apiUrl: string;
  kubeconfig: string;
  nodePorts: Array<{ container: number; host: number }>;
  observability: boolean;
  startedAt: string;
}

export function composeStateDir(project: string, stateDir?: string): string {
  if (stateDir) return resolve(stateDir);
  return join(process.env.PODNET_HOME ? resolve(process.env.PODNET_HOME) : join(homedir(), '.podnet'), `compose-${project}`);
}

const recordFile = (stateDir: string) => join(stateDir, 'compose.json');

export function readComposeRecord(stateDir: string): ComposeRecord | undefined {
  if (!existsSync(recordFile(stateDir))) return undefined;
  return JSON.parse(readFileSync(recordFile(stateDir), 'utf8')) as ComposeRecord;
}

async function compose(record: Pick<ComposeRecord, 'project' | 'files' | 'env'>, argv: [string, string[]], timeoutMs = 600_000) {
  const [program, args] = argv;
  return execa(program, args, {
    env: { ...process.env, ...record.env },
    reject: false,
    timeout: timeoutMs,
    all: true,
  });
}

interface NodeObject {
  metadata: { name?: string };
  status?: { conditions?: Array<{ type?: string; status?: string }> };
}

function portFromEnv(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new ComposeError(ComposeErrorCodes.USAGE, `$${name} must be a port from 1 to 65535 (got "${text}")`);
  }
  return n;
}

export async function composeUp(options: ComposeUpOptions, io: Output): Promise<ComposeRecord> {
  const nodes = composeNodes(options.nodes);
  const project = options.project ?? 'podnet';
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(project)) {
    throw new ComposeError(ComposeErrorCodes.USAGE, `compose project "${project}" must be lowercase letters, digits, "-" or "_"`);
  }
  const stateDir = composeStateDir(project, options.stateDir);
  const cmd = await findCompose();
  const apiPort = options.apiPort ?? 6443;
  // Host ports and the image may also come from the environment compose itself reads
  // (PODNET_LIVE_PORT, PODNET_NODEPORT_HOST_FIRST, PODNET_IMAGE), as with `docker compose up`.
  const first = options.nodePortHostFirst ?? portFromEnv('PODNET_NODEPORT_HOST_FIRST') ?? PUBLISHED_NODEPORTS.first;
  const livePort = options.livePort ?? portFromEnv('PODNET_LIVE_PORT') ?? 8080;
  const span = PUBLISHED_NODEPORTS.last - PUBLISHED_NODEPORTS.first;
  if (first + span > 65535) {
    throw new ComposeError(
      ComposeErrorCodes.USAGE,
      `the NodePort host range ${first}-${first + span} goes past port 65535; start it lower`,
    );
  }
  mkdirSync(stateDir, { recursive: true });
  // A fresh cluster each time: old credentials and API data would not match the new containers.
  // The prometheus/ directory is kept (a running prometheus container may have it mounted): the
  // control plane rewrites the files in it at its start.
  for (const stale of ['control-plane', 'kubeconfig', 'kubeconfig-node-agent', 'kubeconfig-kube-proxy', 'prometheus.yml'])
    rmSync(join(stateDir, stale), { recursive: true, force: true });
  const files = [COMPOSE_FILE];
  // deploy/prometheus/prometheus.yml scrapes the three nodes docker-compose.yml defines; any other
  // count gets a configuration of its own.
  let prometheusConfig: string | undefined;
  if (nodes.length !== STATIC_NODES) {
    prometheusConfig = join(stateDir, 'prometheus.yml');
    writeFileSync(prometheusConfig, composePrometheusYaml(nodes));
  }
  const override = overrideFor(nodes, { prometheusConfig });
  if (override) {
    const path = join(stateDir, 'docker-compose.nodes.json');
    writeFileSync(path, JSON.stringify(override, null, 2));
    files.push(path);
  }
  const env: Record<string, string> = {
    PODNET_STATE_DIR: stateDir,
    PODNET_API_PORT: String(apiPort),
    PODNET_LIVE_PORT: String(livePort),
    PODNET_NODEPORT_HOST_FIRST: String(first),
    PODNET_NODEPORT_HOST_LAST: String(first + span),
    PODNET_BACKEND: options.backend ?? 'vxlan',
    PODNET_CLUSTER: project,
    ...(options.image ? { PODNET_IMAGE: options.image } : {}),
    ...(options.nodeMonitorGracePeriodMs === undefined
      ? {}
      : { PODNET_NODE_MONITOR_GRACE_PERIOD_MS: String(options.nodeMonitorGracePeriodMs) }),
    ...(options.podEvictionTimeoutMs === undefined ? {} : { PODNET_POD_EVICTION_TIMEOUT_MS: String(options.podEvictionTimeoutMs) }),
  };
  const record: ComposeRecord = {
    project,
    stateDir,
    files,
    env,
    nodes,
    apiUrl: `https://127.0.0.1:${apiPort}`,
    kubeconfig: join(stateDir, 'kubeconfig'),
    nodePorts: Array.from({ length: span + 1 }, (_, i) => ({ container: PUBLISHED_NODEPORTS.first + i, host: first + i })),
    observability: options.observability ?? false,
    startedAt: new Date().toISOString(),
  };
  writeFileSync(recordFile(stateDir), JSON.stringify(record, null, 2));
  io.out(`starting compose project "${project}" with ${cmd.argv.join(' ')} (${cmd.version} ${cmd.release}), state in ${stateDir}`);
  const services = ['control-plane', ...nodes.map((n) => n.name), ...(record.observability ? ['prometheus', 'grafana'] : [])];
  const profiles = record.observability ? ['observability'] : [];
  const timeoutMs = options.timeoutMs ?? 180_000;
  // Long bound: `up` builds the image first when it is missing (npm ci inside).
  const started = await compose(record, upArgv(cmd, { project, files, profiles }, services, Math.ceil(timeoutMs / 1000)), 1_800_000);
  if (started.exitCode !== 0) {
    await composeDown({ stateDir }, { out: () => undefined, err: io.err }).catch(() => undefined);
    throw new ComposeError(
      ComposeErrorCodes.START,
      `${cmd.argv.join(' ')} up failed (exit ${started.exitCode}):\n${String(started.all ?? '').slice(-2000)}`,
    );
  }
  io.out(`  containers started: ${services.join(', ')}`);
  try {
    await waitReady(record, timeoutMs, io);
  } catch (error) {
    const logs = await compose(record, composeArgv(cmd, record, ['logs', '--no-color', '--tail', '15']), 60_000);
    io.err(`the compose cluster did not become ready; last log lines:\n${String(logs.all ?? '')}`);
    await composeDown({ stateDir }, { out: () => undefined, err: io.err }).catch(() => undefined);
    throw error;
  }
  printNextSteps(cmd, record, io);
  return record;
}

async function waitReady(record: ComposeRecord, timeoutMs: number, io: Output): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const reported = new Set<string>();
  let client: KubeClient | undefined;
  try {
    while (Date.now() < deadline) {
      // A container that exited will never get Ready: say which, at once.
      // Asked of docker itself: compose v1 ignores `ps --filter` together with -q. Both versions
      // label their containers with the project.
      const ps = await execa(
        'docker',
        ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${record.project}`, '--filter', 'status=exited'],
        {
          reject: false,
          timeout: 60_000,
        },
      );
      if (ps.exitCode === 0 && String(ps.stdout).trim() !== '') {
        throw new ComposeError(ComposeErrorCodes.START, 'a podnet container exited during start (see the log lines below)');
      }
      if (!client && existsSync(record.kubeconfig)) {
        client = new KubeClient({ kubeconfig: record.kubeconfig });
        io.out(`  control plane wrote ${record.kubeconfig}`);
      }
      if (client) {
        let items: NodeObject[] | undefined;
        try {
          items = (await client.resource('nodes').list()).items as NodeObject[];
        } catch {
          items = undefined;
        }
        if (items && !reported.has('api')) {
          reported.add('api');
          io.out(`  control plane ready: ${record.apiUrl}`);
        }
        for (const node of items ?? []) {
          const name = node.metadata.name ?? '';
          if (!reported.has(`${name}/registered`)) {
            reported.add(`${name}/registered`);
            io.out(`  ${name} registered`);
          }
          if ((node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') && !reported.has(`${name}/ready`)) {
            reported.add(`${name}/ready`);
            io.out(`  ${name} Ready`);
          }
        }
        if (record.nodes.every((n) => reported.has(`${n.name}/ready`))) return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const late = record.nodes.filter((n) => !reported.has(`${n.name}/ready`)).map((n) => n.name);
    throw new ComposeError(ComposeErrorCodes.START, `${late.join(', ')} did not become Ready within ${Math.round(timeoutMs / 1000)} s`);
  } finally {
    client?.close();
  }
}

function printNextSteps(cmd: ComposeCommand, record: ComposeRecord, io: Output): void {
  const nodePorts = `${record.nodePorts[0]?.container}-${record.nodePorts.at(-1)?.container}`;
  const hostPorts = `127.0.0.1:${record.nodePorts[0]?.host}-${record.nodePorts.at(-1)?.host}`;
  const lines = [
    '',
    `Cluster "${record.project}" is running in docker compose (${record.nodes.length} node${record.nodes.length === 1 ? '' : 's'}, backend ${record.env.PODNET_BACKEND}).`,
    '',
    'Use it with kubectl:',
    `  export KUBECONFIG=${record.kubeconfig}`,
    '  kubectl get nodes -o wide',
    '  kubectl get pods -A -o wide',
    '',
    'Nodes (node IP and transport address: the container address on 172.30.0.0/24):',
    ...record.nodes.map(
      (n) =>
        `  ${n.name}  ${n.address}  (container ${record.project}-${n.name}; kill it with: ${cmd.argv.join(' ')} -p ${record.project} kill ${n.name})`,
    ),
    '',
    `NodePorts: Services with nodePort ${nodePorts} answer on the host at ${hostPorts} (through node-1):`,
    `  curl http://127.0.0.1:${record.nodePorts[0]?.host}/   (nodePort ${record.nodePorts[0]?.container})`,
    '',
    'Metrics (inside the compose network; Prometheus scrapes them):',
    `  API server    ${record.apiUrl}/metrics (bearer token in the kubeconfig)`,
    ...record.nodes.map(
      (n) =>
        `  ${n.name}  kube-proxy http://${n.address}:10249/metrics  cni-agent http://${n.address}:9099/metrics  node-agent https://${n.address}:10250/metrics`,
    ),
    `  from the host: each node publishes 10250, 10249 and 9099 on 127.0.0.1 (${cmd.argv.join(' ')} -p ${record.project} -f ${record.files[0]} port node-1 10250)`,
    `  Prometheus's credentials: ${join(record.stateDir, 'prometheus')} (token files, cluster CA)`,
    `Live page: http://127.0.0.1:${record.env.PODNET_LIVE_PORT}/`,
    ...(record.observability ? ['Prometheus: http://127.0.0.1:9090/   Grafana: http://127.0.0.1:3000/'] : []),
    '',
    `Logs: ${cmd.argv.join(' ')} -p ${record.project} -f ${record.files[0]} logs -f`,
    '',
    `Stop it with: podnet down --runtime compose${record.project === 'podnet' ? '' : ` --name ${record.project}`}`,
  ];
  for (const l of lines) io.out(l);
}

export interface ComposeDownOptions {
  project?: string;
  stateDir?: string;
}

/** Stops and removes the project's containers, network and volumes; keeps the state directory. */
export async function composeDown(options: ComposeDownOptions, io: Output): Promise<void> {
  const stateDir = composeStateDir(options.project ?? 'podnet', options.stateDir);
  const record = readComposeRecord(stateDir);
  if (!record) {
    throw new ComposeError(
      ComposeErrorCodes.NOT_FOUND,
      `no compose cluster recorded in ${stateDir} (start one with: podnet up --runtime compose)`,
    );
  }
  const cmd = await findCompose();
  // Always with the observability profile: compose leaves a profile's containers (and so the
  // network) behind otherwise, and they may have been started by hand after `podnet up`.
  const r = await compose(record, downArgv(cmd, { ...record, profiles: ['observability'] }), 300_000);
  if (r.exitCode !== 0) {
    throw new ComposeError(
      ComposeErrorCodes.START,
      `${cmd.argv.join(' ')} down failed (exit ${r.exitCode}):\n${String(r.all ?? '').slice(-2000)}`,
    );
  }
  rmSync(recordFile(stateDir), { force: true });
  io.out(`compose project "${record.project}" stopped and removed (containers, network)`);
}

export interface ComposeServiceStatus {
  service: string;
  state: string;
}

/** Each service's container state, from `compose ps`. */
export async function composeStatus(options: ComposeDownOptions, io: Output): Promise<ComposeServiceStatus[]> {
  const stateDir = composeStateDir(options.project ?? 'podnet', options.stateDir);
  const record = readComposeRecord(stateDir);
  if (!record) throw new ComposeError(ComposeErrorCodes.NOT_FOUND, `no compose cluster recorded in ${stateDir}`);
  const cmd = await findCompose();
  const out: ComposeServiceStatus[] = [];
  const services = ['control-plane', ...record.nodes.map((n) => n.name)];
  for (const service of services) {
    const id = String((await compose(record, composeArgv(cmd, record, ['ps', '-q', service]), 60_000)).stdout).trim();
    let state = 'absent';
    if (id) {
      const inspect = await execa('docker', ['inspect', '-f', '{{.State.Status}}', id], { reject: false });
      state = inspect.exitCode === 0 ? String(inspect.stdout).trim() : 'unknown';
    }
    out.push({ service, state });
  }
  io.out(`compose project "${record.project}" (${record.apiUrl}, KUBECONFIG=${record.kubeconfig})`);
  for (const s of out) io.out(`  ${s.service.padEnd(14)} ${s.state}`);
  return out;
}

/** Runs `compose kill SERVICE` (a node's power cut: SIGKILL to every process in the container). */
export async function composeKill(service: string, options: ComposeDownOptions): Promise<void> {
  const stateDir = composeStateDir(options.project ?? 'podnet', options.stateDir);
  const record = readComposeRecord(stateDir);
  if (!record) throw new ComposeError(ComposeErrorCodes.NOT_FOUND, `no compose cluster recorded in ${stateDir}`);
  const cmd = await findCompose();
  const r = await compose(record, composeArgv(cmd, record, ['kill', service]), 60_000);
  if (r.exitCode !== 0) throw new ComposeError(ComposeErrorCodes.START, `compose kill ${service} failed:\n${String(r.all ?? '')}`);
}
