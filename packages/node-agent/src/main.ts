#!/usr/bin/env node
// node packages/node-agent/dist/main.js --node NAME --kubeconfig F --transport-address 127.0.1.N
//   --node-ip 172.18.0.N+1 --data-dir D [--backend vxlan] [...]: one node's kubelet. Prints
// `podnet node-agent NAME ready on https://ADDRESS:PORT` on stdout once serving and syncing pods;
// pino JSON logs go to stderr. Bad flags exit 2 with PODNET_ERR_USAGE.
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KubeClient, loadKubeconfig } from '@podnet/client';
import { CniAgentClient } from '@podnet/cni-agent/control-client';
import { NODE_PROCESS_V8_FLAGS } from '@podnet/wire';
import { pino } from 'pino';
import { CniAgentPlugin } from './cni/cni-agent-plugin.js';
import { LocalBridgeCni } from './cni/local-bridge-cni.js';
import { NodeAgentErrorCodes } from './errors.js';
import { NodeAgent } from './node-agent.js';
import { Supervised } from './supervisor.js';

const USAGE = `usage: node-agent --node NAME --kubeconfig FILE --transport-address ADDR --node-ip IP --data-dir DIR
  [--backend vxlan|host-gw] [--port 10250] [--cni agent|local] [--control-socket PATH]
  [--cni-agent-command CMD | --no-cni-agent] [--kube-proxy | --kube-proxy-command CMD]
  [--lease-interval-ms 10000] [--status-interval-ms 10000] [--backoff-initial-ms 10000] [--backoff-max-ms 300000]
  [--authentication-token-webhook-cache-ttl-ms 120000] [--authorization-webhook-cache-authorized-ttl-ms 300000]
  [--authorization-webhook-cache-unauthorized-ttl-ms 30000] [--log-level info]`;

function usage(message: string): never {
  process.stderr.write(`${NodeAgentErrorCodes.USAGE}: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let parsed: ReturnType<typeof parseArgs>;
try {
  parsed = parseArgs({
    options: {
      node: { type: 'string' },
      kubeconfig: { type: 'string' },
      'transport-address': { type: 'string' },
      'node-ip': { type: 'string' },
      'data-dir': { type: 'string' },
      backend: { type: 'string', default: 'vxlan' },
      port: { type: 'string', default: '10250' },
      cni: { type: 'string', default: 'agent' },
      'control-socket': { type: 'string' },
      'cni-agent-command': { type: 'string' },
      'no-cni-agent': { type: 'boolean', default: false },
      'kube-proxy': { type: 'boolean', default: false },
      'kube-proxy-command': { type: 'string' },
      'lease-interval-ms': { type: 'string', default: '10000' },
      'status-interval-ms': { type: 'string', default: '10000' },
      'backoff-initial-ms': { type: 'string', default: '10000' },
      'backoff-max-ms': { type: 'string', default: '300000' },
      // The kubelet's webhook cache flags (as durations there), for bearer tokens not the node's.
      'authentication-token-webhook-cache-ttl-ms': { type: 'string', default: '120000' },
      'authorization-webhook-cache-authorized-ttl-ms': { type: 'string', default: '300000' },
      'authorization-webhook-cache-unauthorized-ttl-ms': { type: 'string', default: '30000' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
} catch (e) {
  usage((e as Error).message);
}
const v = parsed.values as Record<string, string | boolean | undefined>;
if (v.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const str = (k: string): string => {
  const x = v[k];
  if (typeof x !== 'string' || x === '') usage(`--${k} is required`);
  return x;
};
const int = (k: string): number => {
  const n = Number(v[k]);
  if (!Number.isInteger(n) || n < 0) usage(`--${k} must be a non-negative integer (got ${JSON.stringify(v[k])})`);
  return n;
};
const node = str('node');
const kubeconfig = resolve(str('kubeconfig'));
const transportAddress = str('transport-address');
const nodeIp = str('node-ip');
const dataDir = resolve(str('data-dir'));
const backend = v.backend as string;
if (backend !== 'vxlan' && backend !== 'host-gw') usage(`--backend must be vxlan or host-gw (got "${backend}")`);
const cniMode = v.cni as string;
if (cniMode !== 'agent' && cniMode !== 'local') usage(`--cni must be agent or local (got "${cniMode}")`);
const port = int('port');
mkdirSync(dataDir, { recursive: true });

const log = pino({ level: v['log-level'] as string, base: { component: 'node-agent', node } }, pino.destination(2));
const creds = (() => {
  try {
    return loadKubeconfig(kubeconfig);
  } catch (e) {
    usage(`cannot read --kubeconfig ${kubeconfig}: ${(e as Error).message}`);
  }
})();
// Containers are workloads inside this process (DESIGN §2): a workload's stray error must not take
// the node down with it, as a crashing container never takes down a real kubelet.
process.on('unhandledRejection', (reason) =>
  log.error({ err: String((reason as Error)?.stack ?? reason) }, 'unhandled rejection (a workload error; the node keeps running)'),
);
process.on('uncaughtException', (error) =>
  log.error({ err: String(error?.stack ?? error) }, 'uncaught exception (a workload error; the node keeps running)'),
);
const client = new KubeClient({ kubeconfig });
const controlSocket = (v['control-socket'] as string | undefined) ?? join(dataDir, 'cni-agent.sock');

/** Splits a command line on spaces (quotes group words), for the supervised commands. */
function words(cmd: string): string[] {
  return (cmd.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^["']|["']$/g, ''));
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');
const children: Supervised[] = [];
let agent: NodeAgent | undefined;

if (cniMode === 'agent' && !v['no-cni-agent']) {
  const argv = v['cni-agent-command']
    ? words(v['cni-agent-command'] as string)
    : [
        process.execPath,
        ...NODE_PROCESS_V8_FLAGS,
        join(repoRoot, 'packages/cni-agent/dist/main.js'),
        '--node',
        node,
        '--kubeconfig',
        kubeconfig,
        '--transport-address',
        transportAddress,
        '--node-ip',
        nodeIp,
        '--data-dir',
        join(dataDir, 'cni-agent'),
        '--control-socket',
        controlSocket,
        '--backend',
        backend,
      ];
  children.push(new Supervised({ name: 'cni-agent', argv, log, onRestart: () => void agent?.resyncPods() }));
}
if (v['kube-proxy-command']) children.push(new Supervised({ name: 'kube-proxy', argv: words(v['kube-proxy-command'] as string), log }));
else if (v['kube-proxy'])
  children.push(
    new Supervised({
      name: 'kube-proxy',
      argv: [
        process.execPath,
        ...NODE_PROCESS_V8_FLAGS,
        join(repoRoot, 'packages/kube-proxy/dist/main.js'),
        '--node',
        node,
        '--kubeconfig',
        kubeconfig,
        '--control-socket',
        controlSocket,
        '--metrics-address',
        `${transportAddress}:10249`,
        '--node-ip',
        nodeIp,
      ],
      log,
    }),
  );

async function shutdown(graceMs: number, code: number): Promise<void> {
  await Promise.all(children.map((c) => c.stop(graceMs)));
  if (graceMs > 0) await agent?.stop().catch(() => undefined);
  process.exit(code);
}

try {
  for (const c of children) c.start();
  agent = new NodeAgent({
    client,
    nodeName: node,
    transportAddress,
    nodeIp,
    dataDir,
    port,
    cni:
      cniMode === 'local'
        ? (podCidr) => new LocalBridgeCni({ podCidr, socketDir: join(dataDir, 'veth') })
        : new CniAgentPlugin(new CniAgentClient({ socketPath: controlSocket })),
    leaseRenewIntervalMs: int('lease-interval-ms'),
    statusIntervalMs: int('status-interval-ms'),
    backoff: { initialMs: int('backoff-initial-ms'), maxMs: int('backoff-max-ms') },
    kubeletAuth: {
      authenticatedTtlMs: int('authentication-token-webhook-cache-ttl-ms'),
      authorizedTtlMs: int('authorization-webhook-cache-authorized-ttl-ms'),
      unauthorizedTtlMs: int('authorization-webhook-cache-unauthorized-ttl-ms'),
    },
    controlTokens: creds.token ? [creds.token] : [],
    logger: log,
    // `podnet kill node`: every process of the node dies at once.
    onKillNode: () => void shutdown(0, 137),
  });
  await agent.start();
  process.stdout.write(`podnet node-agent ${node} ready on https://${transportAddress}:${agent.port}\n`);
} catch (e) {
  log.error({ err: (e as Error).message }, 'node-agent failed to start');
  process.stderr.write(`node-agent ${node}: cannot start: ${(e as Error).message}\n`);
  await Promise.all(children.map((c) => c.stop(0)));
  process.exit(1);
}
process.on('SIGTERM', () => void shutdown(5000, 0));
process.on('SIGINT', () => void shutdown(5000, 0));
