// The cni-agent's command line:
//   node packages/cni-agent/dist/main.js --node NAME --kubeconfig F --transport-address 127.0.1.N
//     --node-ip 172.18.0.N+1 --control-socket PATH --data-dir D --backend vxlan|host-gw
//     [--cluster-cidr 10.244.0.0/16] [--vxlan-port 4789] [--uplink-port 4790] [--metrics-port 9099]
//     [--reconcile-period-ms 10000] [--netpol-min-sync-period 100ms] [--netpol-sync-period 30s] [--log-level info]
import { isIpv4 } from '@podnet/wire';
import { BACKEND_NAMES } from './backends/backend.js';
import { CniAgentError, CniAgentErrorCodes } from './errors.js';

export interface AgentArgs {
  node: string;
  kubeconfig: string;
  transportAddress: string;
  nodeIp: string;
  controlSocket: string;
  dataDir: string;
  backend: string;
  clusterCidr: string;
  vxlanPort: number;
  uplinkPort: number;
  metricsPort: number;
  reconcileMs: number;
  /** --netpol-min-sync-period: least time between NetworkPolicy syncs after a burst (absent: netpol's 100 ms). */
  netpolMinSyncPeriodMs?: number;
  /** --netpol-sync-period: the policy agent's periodic full sync (absent: netpol's 30 s). */
  netpolSyncPeriodMs?: number;
  logLevel: string;
}

export const USAGE =
  'usage: cni-agent --node NAME --kubeconfig FILE --transport-address 127.0.1.N --node-ip 172.18.0.M --control-socket PATH --data-dir DIR --backend vxlan|host-gw [--cluster-cidr CIDR] [--vxlan-port N] [--uplink-port N] [--metrics-port N] [--reconcile-period-ms MS] [--netpol-min-sync-period DURATION] [--netpol-sync-period DURATION] [--log-level LEVEL]';

const FLAGS: Record<string, keyof AgentArgs> = {
  '--node': 'node',
  '--kubeconfig': 'kubeconfig',
  '--transport-address': 'transportAddress',
  '--node-ip': 'nodeIp',
  '--control-socket': 'controlSocket',
  '--data-dir': 'dataDir',
  '--backend': 'backend',
  '--cluster-cidr': 'clusterCidr',
  '--vxlan-port': 'vxlanPort',
  '--uplink-port': 'uplinkPort',
  '--metrics-port': 'metricsPort',
  '--reconcile-period-ms': 'reconcileMs',
  '--netpol-min-sync-period': 'netpolMinSyncPeriodMs',
  '--netpol-sync-period': 'netpolSyncPeriodMs',
  '--log-level': 'logLevel',
};
const NUMERIC = new Set<keyof AgentArgs>(['vxlanPort', 'uplinkPort', 'metricsPort', 'reconcileMs']);
const REQUIRED: Array<keyof AgentArgs> = ['node', 'kubeconfig', 'transportAddress', 'nodeIp', 'controlSocket', 'dataDir', 'backend'];

function usage(message: string): CniAgentError {
  return new CniAgentError(CniAgentErrorCodes.USAGE, `cni-agent: ${message}\n${USAGE}`);
}

/**
 * The policy agent's periodic sync (30 s, netpol's default, or --netpol-sync-period) bounds its
 * least interval: the sync runner (@podnet/wire BoundedFrequencyRunner) refuses minInterval > maxInterval.
 */
export const NETPOL_MAX_MIN_SYNC_PERIOD_MS = 30_000;
/** The longest --netpol-sync-period (a day: longer would leave hand-made changes for good). */
export const NETPOL_MAX_SYNC_PERIOD_MS = 86_400_000;

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go-style duration (`0`, `10ms`, `1.5s`, `1m`, `1h`; a bare number is milliseconds), in whole ms, or undefined. */
function durationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  return m ? Math.round(Number(m[1]) * (DURATION_UNITS_MS[m[2] ?? 'ms'] ?? 1)) : undefined;
}

/**
 * A duration as kube-proxy's --min-sync-period takes it, in whole milliseconds from 0 to
 * `maxMs` (the periodic sync: 30 s unless --netpol-sync-period says otherwise).
 */
export function parseMinSyncPeriod(text: string, flag = '--netpol-min-sync-period', maxMs = NETPOL_MAX_MIN_SYNC_PERIOD_MS): number {
  const ms = durationMs(text);
  if (ms === undefined) throw usage(`${flag} "${text}" is not a duration (examples: 0, 10ms, 100ms, 1s)`);
  if (ms > maxMs)
    throw usage(`${flag} "${text}" is longer than the policy agent's periodic sync (${maxMs / 1000}s); use 0 to ${maxMs / 1000}s`);
  return ms;
}

/** --netpol-sync-period: as kube-proxy's --sync-period, more than 0 and at most a day. */
export function parseSyncPeriod(text: string, flag = '--netpol-sync-period'): number {
  const ms = durationMs(text);
  if (ms === undefined || ms < 1 || ms > NETPOL_MAX_SYNC_PERIOD_MS)
    throw usage(`${flag} "${text}" is not a duration from 1ms to 24h (examples: 10s, 30s, 5m)`);
  return ms;
}

export function parseArgs(argv: readonly string[]): AgentArgs {
  const out: Record<string, string | number> = {
    clusterCidr: '10.244.0.0/16',
    vxlanPort: 4789,
    uplinkPort: 4790,
    metricsPort: 9099,
    reconcileMs: 10_000,
    logLevel: process.env.PODNET_LOG_LEVEL ?? 'info',
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] as string;
    const eq = raw.indexOf('=');
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const key = FLAGS[flag];
    if (!key) throw usage(`unknown flag "${raw}"`);
    const value = eq > 0 ? raw.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw usage(`${flag} needs a value`);
    // The least interval is checked once the periodic one is known (the flags come in any order).
    if (key === 'netpolMinSyncPeriodMs') out[key] = value;
    else if (key === 'netpolSyncPeriodMs') out[key] = parseSyncPeriod(value, flag);
    else if (NUMERIC.has(key)) {
      const n = Number(value);
      const min = key === 'metricsPort' ? -1 : key === 'reconcileMs' ? 100 : 0;
      if (!Number.isInteger(n) || n < min || (key !== 'reconcileMs' && n > 65535)) throw usage(`${flag} "${value}" is not a valid number`);
      out[key] = n;
    } else out[key] = value;
  }
  if (out.netpolMinSyncPeriodMs !== undefined) {
    const max = out.netpolSyncPeriodMs === undefined ? NETPOL_MAX_MIN_SYNC_PERIOD_MS : Number(out.netpolSyncPeriodMs);
    out.netpolMinSyncPeriodMs = parseMinSyncPeriod(String(out.netpolMinSyncPeriodMs), '--netpol-min-sync-period', max);
  } else if (out.netpolSyncPeriodMs !== undefined && Number(out.netpolSyncPeriodMs) < 100) {
    throw usage(
      `--netpol-sync-period "${out.netpolSyncPeriodMs}ms" is shorter than the default --netpol-min-sync-period (100ms); pass a smaller --netpol-min-sync-period too`,
    );
  }
  for (const k of REQUIRED) {
    if (out[k] === undefined) throw usage(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is required`);
  }
  if (!isIpv4(String(out.transportAddress)))
    throw usage(`--transport-address "${out.transportAddress}" is not an IPv4 address (process mode: 127.0.1.N)`);
  if (!String(out.transportAddress).startsWith('127.') && process.env.PODNET_ALLOW_NON_LOOPBACK !== '1') {
    // Real sockets talk only to loopback in process mode (DESIGN §4); compose sets PODNET_ALLOW_NON_LOOPBACK=1.
    throw usage(`--transport-address ${out.transportAddress} is not a loopback address; process mode uses 127.0.1.N`);
  }
  if (!isIpv4(String(out.nodeIp))) throw usage(`--node-ip "${out.nodeIp}" is not an IPv4 address (process mode: 172.18.0.N+1)`);
  if (!(BACKEND_NAMES as readonly string[]).includes(String(out.backend)))
    throw usage(`--backend "${out.backend}" is not one of ${BACKEND_NAMES.join(', ')}`);
  return out as unknown as AgentArgs;
}
