// `podnet status`: the nodes as the API server sees them (Ready, node IP, transport address) and
// every component's health: pid alive, and its health endpoint (API server /healthz, node-agent
// https :10250/healthz, kube-proxy :10249/healthz, cni-agent `status` over the control socket).
import http from 'node:http';
import https from 'node:https';
import { KubeClient, loadKubeconfig } from '@podnet/client';
import { CniAgentClient } from '@podnet/cni-agent';
import type { Output } from '../pcap-read.js';
import { alive, type ClusterRecord } from './state.js';

function probe(url: string, options: https.RequestOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { timeout: 3000, ...options }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? 'healthy' : `unhealthy (HTTP ${res.statusCode})`);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(`unreachable (${e.message})`));
  });
}

interface NodeObject {
  metadata: { name?: string; annotations?: Record<string, string> };
  spec?: { podCIDR?: string };
  status?: { addresses?: Array<{ type?: string; address?: string }>; conditions?: Array<{ type?: string; status?: string }> };
}

export async function status(record: ClusterRecord, io: Output): Promise<number> {
  const cpAlive = alive(record.controlPlane.pid);
  const creds = loadKubeconfig(record.kubeconfig);
  const apiHealth = cpAlive ? await probe(`${record.apiUrl}/healthz`, { ca: creds.caPem }) : 'not running';
  io.out(`cluster ${record.name}: API ${record.apiUrl}, backend ${record.backend}, state ${record.stateDir}`);
  io.out(`control plane  pid ${record.controlPlane.pid || '-'} ${cpAlive ? 'running' : 'stopped'}, API server ${apiHealth}`);
  let apiNodes: NodeObject[] = [];
  if (cpAlive) {
    const client = new KubeClient({ kubeconfig: record.kubeconfig, maxAttempts: 1 });
    apiNodes = ((
      await client
        .resource('nodes')
        .list()
        .catch(() => ({ items: [] }))
    ).items ?? []) as NodeObject[];
    client.close();
  }
  io.out('');
  io.out('NODE       STATUS     NODE-IP        TRANSPORT      POD-CIDR         NODE-AGENT          CNI-AGENT           KUBE-PROXY');
  let unhealthy = !cpAlive || apiHealth !== 'healthy';
  for (const n of record.nodes) {
    const api = apiNodes.find((a) => a.metadata.name === n.name);
    const ready = api?.status?.conditions?.find((c) => c.type === 'Ready');
    const state = !api ? 'Unknown' : ready?.status === 'True' ? 'Ready' : 'NotReady';
    const running = alive(n.pid);
    const nodeAgent = running ? await probe(`https://${n.transportAddress}:10250/healthz`, { rejectUnauthorized: false }) : 'stopped';
    const kubeProxy = running ? await probe(`http://${n.transportAddress}:10249/healthz`) : 'stopped';
    let cniAgent = 'stopped';
    if (running) {
      const agent = new CniAgentClient({ socketPath: n.controlSocket, timeoutMs: 3000 });
      cniAgent = await agent.status().then(
        (s) => (s.ready ? 'healthy' : 'not ready'),
        (e: Error) => `unreachable (${e.message.split(':')[0]})`,
      );
      agent.close();
    }
    if (state !== 'Ready' || [nodeAgent, cniAgent, kubeProxy].some((h) => h !== 'healthy')) unhealthy = true;
    io.out(
      `${n.name.padEnd(10)} ${state.padEnd(10)} ${n.nodeIp.padEnd(14)} ${n.transportAddress.padEnd(14)} ${(api?.spec?.podCIDR ?? '-').padEnd(16)} ${nodeAgent.padEnd(19)} ${cniAgent.padEnd(19)} ${kubeProxy}`,
    );
  }
  io.out('');
  io.out(`logs: ${record.stateDir}/logs/   kubeconfig: ${record.kubeconfig}`);
  return unhealthy ? 1 : 0;
}
