// Test support: a cni-agent process (dist/main.js) on a transport address with free ports, and a
// pod namespace in the test process attached to it the way the node-agent attaches pods (CNI ADD,
// then the pod's eth0 connected to the host veth's unix socket).
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Namespace, UnixSocketVeth } from '@podnet/netstack';
import { parseMac } from '@podnet/wire';
import { CniAgentClient } from '../control/client.js';

const MAIN = join(import.meta.dirname, '..', '..', 'dist', 'main.js');

export interface AgentProcessOptions {
  node: string;
  kubeconfig: string;
  transportAddress: string;
  nodeIp: string;
  dir: string;
  backend: 'vxlan' | 'host-gw';
  reconcileMs?: number;
  /** VXLAN port (default 0: any free one). */
  vxlanPort?: number;
  /** A command prefix, e.g. ['ip', 'netns', 'exec', NS] to run the agent in a test namespace. */
  wrap?: string[];
  env?: Record<string, string>;
  /** More flags after the ones above (e.g. ['--netpol-min-sync-period', '0']). */
  extraArgs?: string[];
}

export interface AgentProcess {
  readonly client: CniAgentClient;
  readonly socketPath: string;
  readonly child: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

export async function startAgentProcess(o: AgentProcessOptions): Promise<AgentProcess> {
  const socketPath = join(o.dir, `${o.node}.sock`);
  const args = [
    MAIN,
    '--node',
    o.node,
    '--kubeconfig',
    o.kubeconfig,
    '--transport-address',
    o.transportAddress,
    '--node-ip',
    o.nodeIp,
    '--control-socket',
    socketPath,
    '--data-dir',
    join(o.dir, o.node),
    '--backend',
    o.backend,
    '--vxlan-port',
    String(o.vxlanPort ?? 0),
    '--uplink-port',
    '0',
    '--metrics-port',
    '0',
    '--reconcile-period-ms',
    String(o.reconcileMs ?? 1000),
    ...(o.extraArgs ?? []),
  ];
  const [command, ...rest] = [...(o.wrap ?? []), process.execPath, ...args] as [string, ...string[]];
  const child = spawn(command, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PODNET_LOG_LEVEL: 'info', ...o.env } });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-200_000);
  });
  child.stderr?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-200_000);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cni-agent ${o.node} did not start in 30 s:\n${out}`)), 30_000);
    const onData = () => {
      if (out.includes('"cni-agent started"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cni-agent ${o.node} exited with ${code}:\n${out}`));
    });
  });
  const client = new CniAgentClient({ socketPath, timeoutMs: 20_000 });
  return {
    client,
    socketPath,
    child,
    logs: () => out,
    async stop() {
      client.close();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

export interface TestPod {
  ns: Namespace;
  ip: string;
  containerId: string;
  result: Record<string, unknown>;
}

export const CNI_CONFIG = { cniVersion: '1.0.0', name: 'podnet', type: 'podnet' };

/** CNI ADD on the agent, then the pod's eth0 connected to its host veth (what the node-agent does). */
export async function attachPod(agent: CniAgentClient, name: string): Promise<TestPod> {
  const containerId = `${name}-${process.pid}`;
  const r = await agent.add({
    containerId,
    netns: name,
    ifname: 'eth0',
    args: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name}`,
    config: CNI_CONFIG,
  });
  if (!r.ok) throw new Error(`CNI ADD ${name} failed: ${r.error.code} ${r.error.msg} ${r.error.details}`);
  const result = r.result as { ips: Array<{ address: string; gateway: string }> };
  const ipCidr = result.ips[0]?.address as string;
  const gateway = result.ips[0]?.gateway as string;
  const link = await agent.attach(containerId, 'eth0');
  const ns = new Namespace({ name: `${name}-${process.pid}` });
  ns.addLink(await UnixSocketVeth.connect({ name: 'eth0', mac: parseMac(link.containerMac), mtu: link.mtu, path: link.socketPath }));
  ns.addAddress('eth0', ipCidr);
  ns.addRoute({ dst: 'default', via: gateway, dev: 'eth0' });
  return { ns, ip: ipCidr.split('/')[0] as string, containerId, result: r.result as Record<string, unknown> };
}

/** Polls until fn returns a truthy value. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
