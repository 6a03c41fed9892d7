#!/usr/bin/env node
// The cni-agent process (DESIGN §2). Flags: src/args.ts. Logs: pino JSON lines {component, node}.
// SIGTERM/SIGINT close the control socket, the listeners and the real sockets, then exit 0.
import { KubeClient } from '@podnet/client';
import { pino } from 'pino';
import { CniAgent } from './agent.js';
import { parseArgs } from './args.js';

async function main(): Promise<void> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  const logger = pino({ level: args.logLevel, base: { component: 'cni-agent', node: args.node, pid: process.pid } });
  let agent: CniAgent;
  try {
    const client = new KubeClient({ kubeconfig: args.kubeconfig });
    agent = await CniAgent.start({
      node: args.node,
      client,
      transportAddress: args.transportAddress,
      nodeIp: args.nodeIp,
      controlSocket: args.controlSocket,
      dataDir: args.dataDir,
      backend: args.backend,
      clusterCidr: args.clusterCidr,
      vxlanPort: args.vxlanPort,
      uplinkPort: args.uplinkPort,
      metricsPort: args.metricsPort,
      reconcileMs: args.reconcileMs,
      ...(args.netpolMinSyncPeriodMs === undefined ? {} : { netpolMinSyncPeriodMs: args.netpolMinSyncPeriodMs }),
      ...(args.netpolSyncPeriodMs === undefined ? {} : { netpolSyncMs: args.netpolSyncPeriodMs }),
      logger,
    });
  } catch (error) {
    const e = error as { code?: string; message?: string };
    logger.fatal({ code: e.code, err: e.message }, 'cni-agent failed to start');
    process.stderr.write(`cni-agent: ${e.message ?? String(error)}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'cni-agent stopping');
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    await agent.close().catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

void main();
