// Commands that talk to one node: `podnet node exec` (the cni-agent's exec over its control
// socket: iptables-save, iptables, iptables-restore, conntrack, ip route|neigh, bridge fdb),
// `podnet kill pod|node` (the node-agent's kill entries on 10250, authenticated with the
// node-agent token), `podnet capture` (the cni-agent's capture API).
import https from 'node:https';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient, loadKubeconfig, NotFoundError } from '@podnet/client';
import { CniAgentClient } from '@podnet/cni-agent';
import type { Output } from '../pcap-read.js';
import { ClusterError, ClusterErrorCodes } from './errors.js';
import { signalGroup, waitFor } from './spawn.js';
import { type ClusterRecord, groupAlive, type NodeRecord } from './state.js';

export function findNode(record: ClusterRecord, name: string): NodeRecord {
  const node = record.nodes.find((n) => n.name === name);
  if (!node) {
    throw new ClusterError(
      ClusterErrorCodes.TARGET,
      `podnet: no node "${name}" in cluster "${record.name}" (its nodes: ${record.nodes.map((n) => n.name).join(', ')})`,
    );
  }
  return node;
}

export async function nodeExec(record: ClusterRecord, nodeName: string, argv: string[], stdin: string, io: Output): Promise<number> {
  const node = findNode(record, nodeName);
  const agent = new CniAgentClient({ socketPath: node.controlSocket, timeoutMs: 30_000 });
  try {
    const r = await agent.exec(argv, stdin);
    if (r.stdout) process.stdout.write(r.stdout);
    if (r.stderr) process.stderr.write(r.stderr);
    return r.exitCode;
  } catch (error) {
    throw new ClusterError(ClusterErrorCodes.REMOTE, `podnet node exec ${nodeName}: ${(error as Error).message}`);
  } finally {
    agent.close();
    void io;
  }
}

/** POST to a node-agent's podnet control entry (https://TRANSPORT:10250/podnet/...). */
function postToNodeAgent(record: ClusterRecord, node: NodeRecord, path: string): Promise<{ status: number; body: string }> {
  const token = loadKubeconfig(resolve(record.stateDir, 'kubeconfig-node-agent')).token;
  return new Promise((done, fail) => {
    const req = https.request(
      {
        host: node.transportAddress,
        port: 10250,
        path,
        method: 'POST',
        headers: { Authorization: `Bearer ${token}` },
        // The kubelet's certificate is self-signed, as the API server also accepts it (no --kubelet-certificate-authority).
        rejectUnauthorized: false,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (e) =>
      fail(
        new ClusterError(
          ClusterErrorCodes.REMOTE,
          `cannot reach ${node.name}'s node-agent at ${node.transportAddress}:10250: ${e.message}`,
        ),
      ),
    );
    req.end();
  });
}

export async function killPod(record: ClusterRecord, namespace: string, pod: string, io: Output): Promise<number> {
  const client = new KubeClient({ kubeconfig: record.kubeconfig });
  let nodeName: string | undefined;
  try {
    const p = (await client.resource('pods').get(pod, { namespace })) as { spec?: { nodeName?: string } };
    nodeName = p.spec?.nodeName;
  } catch (error) {
    if (error instanceof NotFoundError)
      throw new ClusterError(ClusterErrorCodes.TARGET, `podnet kill pod: pod "${pod}" not found in namespace "${namespace}"`);
    throw new ClusterError(ClusterErrorCodes.REMOTE, `podnet kill pod: ${(error as Error).message}`);
  } finally {
    client.close();
  }
  if (!nodeName)
    throw new ClusterError(ClusterErrorCodes.TARGET, `podnet kill pod: pod "${namespace}/${pod}" is not scheduled to a node yet`);
  const node = findNode(record, nodeName);
  const r = await postToNodeAgent(record, node, `/podnet/kill/${encodeURIComponent(namespace)}/${encodeURIComponent(pod)}`);
  if (r.status !== 200) {
    let message = r.body;
    try {
      message = (JSON.parse(r.body) as { message?: string }).message ?? r.body;
    } catch {}
    throw new ClusterError(ClusterErrorCodes.REMOTE, `podnet kill pod ${namespace}/${pod}: ${nodeName} answered ${r.status}: ${message}`);
  }
  const body = JSON.parse(r.body) as { containersKilled?: number };
  io.out(
    `pod/${pod} killed on ${nodeName} (${body.containersKilled ?? 0} container(s), as by SIGKILL; the kubelet restarts them per restartPolicy)`,
  );
  return 0;
}

export async function killNode(record: ClusterRecord, nodeName: string, io: Output): Promise<number> {
  const node = findNode(record, nodeName);
  if (!groupAlive(node.pid)) throw new ClusterError(ClusterErrorCodes.TARGET, `podnet kill node: ${nodeName} is not running`);
  // The node-agent's own kill entry first (it SIGKILLs its children and exits 137); SIGKILL to
  // the whole process group makes sure nothing of the node survives even if it cannot answer.
  await postToNodeAgent(record, node, '/podnet/kill-node').catch(() => undefined);
  await waitFor(() => (groupAlive(node.pid) ? undefined : true), 2000, 50);
  if (groupAlive(node.pid)) signalGroup(node.pid, 'SIGKILL');
  await waitFor(() => (groupAlive(node.pid) ? undefined : true), 2000, 50);
  io.out(`node/${nodeName} killed: its node-agent, cni-agent and kube-proxy are gone (the Node goes NotReady after the grace period)`);
  return 0;
}

export async function capture(
  record: ClusterRecord,
  nodeName: string,
  options: { iface: string; file: string; durationS: number; underlay: boolean },
  io: Output,
): Promise<number> {
  const node = findNode(record, nodeName);
  const agent = new CniAgentClient({ socketPath: node.controlSocket, timeoutMs: 30_000 });
  try {
    const path = resolve(options.file);
    const id = await agent.captureStart({ iface: options.iface, path, underlay: options.underlay });
    io.err(`capturing on ${nodeName} ${options.iface} for ${options.durationS} s into ${path} ...`);
    await sleep(options.durationS * 1000);
    const r = await agent.captureStop(id);
    io.out(`${r.packets} packets (${r.bytes} bytes) captured on ${nodeName} ${options.iface}: ${r.path}`);
    return 0;
  } catch (error) {
    throw new ClusterError(ClusterErrorCodes.REMOTE, `podnet capture ${nodeName}: ${(error as Error).message}`);
  } finally {
    agent.close();
  }
}
