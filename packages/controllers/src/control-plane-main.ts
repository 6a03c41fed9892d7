#!/usr/bin/env node
// The control-plane process: `node packages/controllers/dist/control-plane-main.js --data-dir D
// [--port 6443] [--host 127.0.0.1] [--node-monitor-grace-period-ms 10000]
// [--pod-eviction-timeout-ms 30000] [--cluster-cidr 10.244.0.0/16] [--node-cidr-mask-size 24]`.
// Prints one line "podnet control plane ready on URL (kubeconfig: PATH)" on stdout when the API
// server listens and the controllers have synced; logs (pino JSON) go to stderr.
// The live page (--live-page-port, default $PODNET_LIVE_PAGE_PORT or 8080; -1: off) follows with
// "podnet live page on URL"; a taken port is logged and the control plane runs without it.
import { startControlPlane } from './control-plane.js';
import { type LivePage, startLivePage } from './live-page/live-page-server.js';

const USAGE =
  'usage: podnet-control-plane --data-dir DIR [--port 6443] [--host 127.0.0.1] [--node-monitor-grace-period-ms 10000] [--node-monitor-period-ms 1000] [--pod-eviction-timeout-ms 30000] [--cluster-cidr 10.244.0.0/16] [--node-cidr-mask-size 24] [--live-page-port 8080|-1] [--live-page-host 127.0.0.1] [--log-level info]';

function usage(msg: string): never {
  process.stderr.write(`PODNET_ERR_USAGE: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

const known = new Set([
  'data-dir',
  'port',
  'host',
  'node-monitor-grace-period-ms',
  'node-monitor-period-ms',
  'pod-eviction-timeout-ms',
  'cluster-cidr',
  'node-cidr-mask-size',
  'log-level',
  'live-page-port',
  'live-page-host',
]);
const args: Record<string, string> = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i] ?? '';
  if (!a.startsWith('--')) usage(`unexpected argument "${a}"`);
  const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
  if (!known.has(k)) usage(`unknown flag --${k}`);
  const v = inline ?? argv[++i];
  if (v === undefined) usage(`--${k} needs a value`);
  args[k] = v;
}
if (!args['data-dir']) usage('--data-dir is required');
const num = (k: string): number | undefined => {
  if (args[k] === undefined) return undefined;
  const n = Number(args[k]);
  if (!Number.isInteger(n) || n < 0) usage(`--${k} must be a non-negative integer, got "${args[k]}"`);
  return n;
};
// Checked before anything starts, so a bad value never leaves a half-started control plane.
const livePortText = args['live-page-port'] ?? (process.env.PODNET_LIVE_PAGE_PORT || undefined) ?? '8080';
const livePort = Number(livePortText);
if (!Number.isInteger(livePort) || livePort < -1 || livePort > 65535)
  usage(`--live-page-port must be a port (0: any free one, -1: off), got "${livePortText}"`);
if (args['log-level']) process.env.PODNET_LOG_LEVEL = args['log-level'];
const { pino } = await import('pino');
const logger = pino({ level: args['log-level'] ?? 'info' }, pino.destination(2));

try {
  const cp = await startControlPlane({
    dataDir: args['data-dir'],
    port: num('port') ?? 6443,
    host: args.host ?? '127.0.0.1',
    logger,
    controllerLogger: logger.child({ component: 'controller-manager' }),
    nodeMonitorGracePeriodMs: num('node-monitor-grace-period-ms'),
    nodeMonitorPeriodMs: num('node-monitor-period-ms'),
    podEvictionTimeoutMs: num('pod-eviction-timeout-ms'),
    clusterCIDR: args['cluster-cidr'],
    nodeCIDRMaskSize: num('node-cidr-mask-size'),
  });
  process.stdout.write(`podnet control plane ready on ${cp.apiServer.url} (kubeconfig: ${cp.apiServer.kubeconfigPath})\n`);
  let livePage: LivePage | undefined;
  if (livePort >= 0) {
    const liveHost = args['live-page-host'] ?? '127.0.0.1';
    try {
      livePage = await startLivePage({
        client: cp.client,
        host: liveHost,
        port: livePort,
        logger: logger.child({ component: 'live-page' }),
        controllerInformers: () => cp.controllers.context.informers.entries(),
      });
      process.stdout.write(`podnet live page on ${livePage.url}\n`);
    } catch (error) {
      logger.warn(
        { err: (error as Error).message },
        `live page not started: cannot listen on ${liveHost}:${livePort} (pass --live-page-port N, 0 for any free port, -1 for none)`,
      );
    }
  }
  const stop = () => {
    void (livePage?.close() ?? Promise.resolve()).then(() => cp.close()).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (err) {
  const code = (err as { code?: string }).code;
  process.stderr.write(`podnet control plane: ${code ? `${code}: ` : ''}${(err as Error).message}\n`);
  process.exit(1);
}
