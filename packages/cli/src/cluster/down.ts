// `podnet down`: SIGTERM to every process group `podnet up` recorded (nodes first, then the
// control plane, so kubelets do not report a dead API server), SIGKILL to what is left after the
// grace period. Removes nothing unless --purge (then the whole state directory).
import { rmSync } from 'node:fs';
import type { Output } from '../pcap-read.js';
import { signalGroup, waitFor } from './spawn.js';
import { type ClusterRecord, checkClusterName, groupAlive, readRecord, recordPath, stateDirFor, writeRecord } from './state.js';

export interface DownOptions {
  name: string;
  stateDir?: string;
  purge: boolean;
  graceMs?: number;
}

async function stopGroups(pgids: number[], graceMs: number): Promise<number[]> {
  const running = pgids.filter((p) => groupAlive(p));
  for (const p of running) signalGroup(p, 'SIGTERM');
  await waitFor(() => (running.every((p) => !groupAlive(p)) ? true : undefined), graceMs, 100);
  const stubborn = running.filter((p) => groupAlive(p));
  for (const p of stubborn) signalGroup(p, 'SIGKILL');
  await waitFor(() => (stubborn.every((p) => !groupAlive(p)) ? true : undefined), 2000, 50);
  return running;
}

/** Stops every process group of the record; returns how many were running. */
export async function stopCluster(record: ClusterRecord, graceMs = 10_000): Promise<number> {
  const nodes = await stopGroups(
    record.nodes.map((n) => n.pid),
    graceMs,
  );
  const cp = await stopGroups(record.controlPlane.pid > 0 ? [record.controlPlane.pid] : [], graceMs);
  return nodes.length + cp.length;
}

export async function down(options: DownOptions, io: Output): Promise<number> {
  const name = checkClusterName(options.name);
  const stateDir = stateDirFor(name, options.stateDir);
  const record = readRecord(stateDir);
  if (!record) {
    io.out(`podnet: no cluster "${name}" recorded in ${recordPath(stateDir)}: nothing to stop`);
    if (options.purge) {
      rmSync(stateDir, { recursive: true, force: true });
      io.out(`removed ${stateDir}`);
    }
    return 0;
  }
  const stopped = await stopCluster(record, options.graceMs ?? 10_000);
  io.out(
    stopped === 0
      ? `cluster "${name}" was not running`
      : `stopped cluster "${name}" (${record.nodes.length} node${record.nodes.length === 1 ? '' : 's'} and the control plane)`,
  );
  if (options.purge) {
    rmSync(stateDir, { recursive: true, force: true });
    io.out(`removed ${stateDir}`);
  } else {
    writeRecord({ ...record, controlPlane: { ...record.controlPlane, pid: 0 }, nodes: record.nodes.map((n) => ({ ...n, pid: 0 })) });
    io.out(`state kept in ${stateDir} (logs, credentials, the API server's data); \`podnet down --purge\` removes it`);
  }
  return 0;
}
