#!/usr/bin/env node
// The kube-proxy process (DESIGN §2). Flags: src/process-args.ts. Logs: pino JSON lines on stderr
// with {component: "kube-proxy", node}. Prints `podnet kube-proxy NODE ready (metrics URL)` on
// stdout once serving. SIGTERM/SIGINT stop the informers and the metrics server, then exit 0
// (the rules stay on the node, as when the real kube-proxy exits).
import { KubeClient } from '@podnet/client';
import { pino } from 'pino';
import { type KubeProxyProcess, startKubeProxy } from './process.js';
import { parseKubeProxyArgs } from './process-args.js';

let args: ReturnType<typeof parseKubeProxyArgs>;
try {
  args = parseKubeProxyArgs(process.argv.slice(2));
} catch (error) {
  const e = error as { code?: string; message?: string };
  process.stderr.write(`${e.code ?? 'PODNET_ERR_USAGE'}: ${e.message ?? String(error)}\n`);
  process.exit(2);
}
const logger = pino({ level: args.logLevel, base: { component: 'kube-proxy', node: args.node, pid: process.pid } }, pino.destination(2));
let running: KubeProxyProcess;
try {
  const client = new KubeClient({ kubeconfig: args.kubeconfig });
  running = await startKubeProxy({ ...args, client, logger });
} catch (error) {
  const e = error as { code?: string; message?: string };
  logger.fatal({ code: e.code, err: e.message }, 'kube-proxy failed to start');
  process.stderr.write(`kube-proxy ${args.node}: cannot start: ${e.message ?? String(error)}\n`);
  process.exit(1);
}
process.stdout.write(`podnet kube-proxy ${args.node} ready (metrics ${running.metricsUrl}/metrics)\n`);
let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'kube-proxy stopping');
  setTimeout(() => process.exit(1), 5000).unref();
  void running.close().finally(() => process.exit(0));
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
