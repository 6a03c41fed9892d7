// The cluster's state directory (default ~/.podnet/<name>/): credentials, kubeconfigs, each
// component's data and log, and cluster.json, which records what `podnet up` started (the process
// group of every component) so that `podnet down` stops exactly that and nothing else.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterError, ClusterErrorCodes } from './errors.js';

/** The repository root (this file is src/cluster/state.ts or dist/cluster/state.js of packages/cli). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

export interface NodeRecord {
  name: string;
  /** The emulated node IP (Node InternalIP), 172.18.0.N+1 (DESIGN §4). */
  nodeIp: string;
  /** The real address the node's sockets listen on, 127.0.1.N. */
  transportAddress: string;
  /** The node-agent's pid; it leads its process group (cni-agent and kube-proxy are in it). */
  pid: number;
  log: string;
  controlSocket: string;
  dataDir: string;
}

export interface ClusterRecord {
  name: string;
  stateDir: string;
  backend: string;
  apiPort: number;
  apiUrl: string;
  kubeconfig: string;
  startedAt: string;
  controlPlane: { pid: number; log: string; dataDir: string };
  nodes: NodeRecord[];
}

const NAME = /^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/;

export function checkClusterName(name: string): string {
  if (!NAME.test(name)) {
    throw new ClusterError(
      ClusterErrorCodes.TARGET,
      `cluster name "${name}" is not valid: use 1-40 lowercase letters, digits and '-', starting and ending with a letter or digit`,
    );
  }
  return name;
}

/** --state-dir, else $PODNET_HOME/<name>, else ~/.podnet/<name>. */
export function stateDirFor(name: string, stateDir?: string): string {
  if (stateDir) return resolve(stateDir);
  return join(process.env.PODNET_HOME ? resolve(process.env.PODNET_HOME) : join(homedir(), '.podnet'), name);
}

export function recordPath(stateDir: string): string {
  return join(stateDir, 'cluster.json');
}

export function readRecord(stateDir: string): ClusterRecord | undefined {
  const path = recordPath(stateDir);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ClusterRecord;
  } catch (error) {
    throw new ClusterError(
      ClusterErrorCodes.NOT_FOUND,
      `cannot read ${path} (${(error as Error).message}); stop leftover processes by hand, then remove that file`,
    );
  }
}

/** Written atomically (a rename), so a crash never leaves half a record. */
export function writeRecord(record: ClusterRecord): void {
  mkdirSync(record.stateDir, { recursive: true });
  const path = recordPath(record.stateDir);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

export function requireRecord(stateDir: string, name: string): ClusterRecord {
  const record = readRecord(stateDir);
  if (!record) {
    throw new ClusterError(
      ClusterErrorCodes.NOT_FOUND,
      `no podnet cluster "${name}" here: ${recordPath(stateDir)} does not exist. Start one with \`podnet up${name === 'podnet' ? '' : ` --name ${name}`}\``,
    );
  }
  return record;
}

/** Whether a process with this pid exists (signal 0 checks without sending). */
export function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether any process of the group led by pid still exists. */
export function groupAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
