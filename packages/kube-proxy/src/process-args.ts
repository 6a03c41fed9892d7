// The kube-proxy process's command line (the flags mirror the real kube-proxy's where one exists):
//   node packages/kube-proxy/dist/main.js --node NAME --kubeconfig FILE --control-socket PATH
//     --metrics-address 127.0.1.N:10249 [--min-sync-period 10ms] [--sync-period 30s]
//     [--cluster-cidr 10.244.0.0/16] [--node-ip IP] [--log-level info]
// Durations take Go's units as kube-proxy's flags do (`10ms`, `1s`, `1m`); a bare number is ms.
import { KubeProxyError, KubeProxyErrorCodes } from './errors.js';
import { parseIPv4, parseIPv4Cidr } from './ip.js';

export interface KubeProxyArgs {
  node: string;
  kubeconfig: string;
  controlSocket: string;
  /** host:port of /metrics and /healthz (upstream --metrics-bind-address, default port 10249). */
  metricsHost: string;
  metricsPort: number;
  minSyncPeriodMs: number;
  syncPeriodMs: number;
  clusterCIDR: string;
  nodeIP?: string;
  logLevel: string;
}

export const KUBE_PROXY_USAGE =
  'usage: kube-proxy --node NAME --kubeconfig FILE --control-socket PATH --metrics-address HOST:PORT [--min-sync-period 10ms] [--sync-period 30s] [--cluster-cidr 10.244.0.0/16] [--node-ip IP] [--log-level info]';

function usage(message: string): KubeProxyError {
  return new KubeProxyError(KubeProxyErrorCodes.CONFIG, `kube-proxy: ${message}\n${KUBE_PROXY_USAGE}`);
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** A Go-style duration (`10ms`, `1.5s`, `1m`) or a bare number of milliseconds. */
export function parseDurationMs(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw usage(`${flag} "${text}" is not a duration (examples: 10ms, 1s, 1m)`);
  return Math.round(Number(m[1]) * (UNITS_MS[m[2] ?? 'ms'] ?? 1));
}

const FLAGS = new Set([
  'node',
  'kubeconfig',
  'control-socket',
  'metrics-address',
  'min-sync-period',
  'sync-period',
  'cluster-cidr',
  'node-ip',
  'log-level',
]);

export function parseKubeProxyArgs(argv: readonly string[]): KubeProxyArgs {
  const raw: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw usage(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq > 0 ? eq : undefined);
    if (!FLAGS.has(name)) throw usage(`unknown flag "--${name}"`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw usage(`--${name} needs a value`);
    raw[name] = value;
  }
  for (const required of ['node', 'kubeconfig', 'control-socket', 'metrics-address']) {
    if (raw[required] === undefined) throw usage(`--${required} is required`);
  }
  const address = raw['metrics-address'] as string;
  const colon = address.lastIndexOf(':');
  const host = colon > 0 ? address.slice(0, colon) : '';
  const port = Number(colon > 0 ? address.slice(colon + 1) : Number.NaN);
  if (parseIPv4(host) === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw usage(`--metrics-address "${address}" is not IPv4:PORT (process mode: 127.0.1.N:10249)`);
  }
  const clusterCIDR = raw['cluster-cidr'] ?? '10.244.0.0/16';
  if (parseIPv4Cidr(clusterCIDR) === undefined) throw usage(`--cluster-cidr "${clusterCIDR}" is not an IPv4 CIDR`);
  const nodeIP = raw['node-ip'];
  if (nodeIP !== undefined && parseIPv4(nodeIP) === undefined) throw usage(`--node-ip "${nodeIP}" is not an IPv4 address`);
  const minSyncPeriodMs = parseDurationMs(raw['min-sync-period'] ?? '10ms', '--min-sync-period');
  const syncPeriodMs = parseDurationMs(raw['sync-period'] ?? '30s', '--sync-period');
  if (syncPeriodMs <= 0 || minSyncPeriodMs > syncPeriodMs) {
    throw usage(`--min-sync-period (${minSyncPeriodMs} ms) must not exceed --sync-period (${syncPeriodMs} ms), which must be > 0`);
  }
  return {
    node: raw.node as string,
    kubeconfig: raw.kubeconfig as string,
    controlSocket: raw['control-socket'] as string,
    metricsHost: host,
    metricsPort: port,
    minSyncPeriodMs,
    syncPeriodMs,
    clusterCIDR,
    ...(nodeIP === undefined ? {} : { nodeIP }),
    logLevel: raw['log-level'] ?? process.env.PODNET_LOG_LEVEL ?? 'info',
  };
}
