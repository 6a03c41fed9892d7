// `podnet kill pod|node` on a compose cluster: a pod's containers die through its node-agent's
// kill entry (the same as process mode, at the node's container address), a node dies by
// `compose kill` (SIGKILL to every process in its container, as a power cut).
import type { Output } from '../pcap-read.js';
import { composeKill, composeStateDir, readComposeRecord } from './compose.js';

export interface ComposeKillTarget {
  kind: 'pod' | 'node';
  name: string;
  namespace: string;
  project: string;
  stateDir?: string;
}

/** Kills the target when a compose cluster is recorded; undefined when there is none (process mode). */
export async function composeKillTarget(t: ComposeKillTarget, io: Output): Promise<number | undefined> {
  const stateDir = composeStateDir(t.project, t.stateDir);
  const record = readComposeRecord(stateDir);
  if (!record) return undefined;
  const { findNode, killPod } = await import('../cluster/node-ops.js');
  // The process-mode record shape node-ops reads: only names, addresses and credentials matter
  // for a pod kill (no pids: compose owns the processes).
  const asCluster = {
    name: record.project,
    stateDir: record.stateDir,
    backend: record.env.PODNET_BACKEND ?? 'vxlan',
    apiPort: Number(record.env.PODNET_API_PORT),
    apiUrl: record.apiUrl,
    kubeconfig: record.kubeconfig,
    startedAt: record.startedAt,
    controlPlane: { pid: -1, log: '', dataDir: '' },
    nodes: record.nodes.map((n) => ({
      name: n.name,
      nodeIp: n.address,
      transportAddress: n.address,
      pid: -1,
      log: '',
      controlSocket: '',
      dataDir: '',
    })),
  };
  if (t.kind === 'pod') return killPod(asCluster, t.namespace, t.name, io);
  findNode(asCluster, t.name);
  await composeKill(t.name, { stateDir });
  io.out(`node/${t.name} killed (compose kill: every process in its container; the Node goes NotReady after the grace period)`);
  return 0;
}
