// The cluster subcommands of `podnet` (up, down, status, exec, node exec, kill, trace, capture):
// option parsing and dispatch. main.ts hands any of these command names to runClusterCommand.
// Usage mistakes throw UsageError (exit 2); run-time failures throw ClusterError, printed as one
// clear message with exit 1.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { Output } from '../pcap-read.js';
import { UsageError } from '../usage.js';
import { ClusterError } from './errors.js';
import { CAPTURE_HELP, DOWN_HELP, EXEC_HELP, KILL_HELP, STATUS_HELP, TRACE_HELP, UP_HELP } from './help.js';
import { checkClusterName, readRecord, requireRecord, stateDirFor } from './state.js';

// The commands load their modules (API client, control-socket client, credentials) on use, so
// that \`podnet pcap read\` and the help do not pay for them.
const MAX_NODES = 20;
const up = async (...a: Parameters<typeof import('./up.js').up>) => (await import('./up.js')).up(...a);
const down = async (...a: Parameters<typeof import('./down.js').down>) => (await import('./down.js')).down(...a);
const status = async (...a: Parameters<typeof import('./status.js').status>) => (await import('./status.js')).status(...a);
const trace = async (...a: Parameters<typeof import('./trace.js').trace>) => (await import('./trace.js')).trace(...a);
const podExec = async (...a: Parameters<typeof import('./pod-exec.js').podExec>) => (await import('./pod-exec.js')).podExec(...a);
const nodeOps = () => import('./node-ops.js');

export const CLUSTER_COMMANDS = new Set(['up', 'down', 'status', 'exec', 'node', 'kill', 'trace', 'capture']);

export const CLUSTER_HELP: Record<string, string> = {
  up: UP_HELP,
  down: DOWN_HELP,
  status: STATUS_HELP,
  exec: EXEC_HELP,
  node: EXEC_HELP,
  kill: KILL_HELP,
  trace: TRACE_HELP,
  capture: CAPTURE_HELP,
};

const CLUSTER_OPTIONS = {
  name: { type: 'string', default: 'podnet' },
  'state-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, command: string) {
  try {
    return parseArgs({ args, options: { ...CLUSTER_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(
      `podnet ${command}: ${(error as Error).message.replace(/\. To specify a positional argument.*$/, '')}`,
      `run \`podnet help ${command.split(' ')[0]}\``,
    );
  }
}

/** Splits `ARGS -- CMD...`; the command part must not be empty. */
function splitCommand(args: string[], command: string, usage: string): [string[], string[]] {
  const at = args.indexOf('--');
  if (at < 0 || at === args.length - 1) throw new UsageError(`podnet ${command}: missing -- CMD [ARG...]`, `usage: ${usage}`);
  return [args.slice(0, at), args.slice(at + 1)];
}

function integer(text: string | undefined, flag: string, command: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(
      `podnet ${command}: ${flag} must be an integer from ${min} to ${max} (got "${text}")`,
      `run \`podnet help ${command.split(' ')[0]}\``,
    );
  return n;
}

/**
 * A duration as kube-proxy's --min-sync-period takes it (Go units ms, s, m; a bare number is
 * milliseconds), in whole milliseconds from 0 to maxMs.
 */
function durationMs(text: string, flag: string, command: string, maxMs: number, minMs = 0): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm']) : Number.NaN;
  if (!(ms >= minMs && ms <= maxMs))
    throw new UsageError(
      `podnet ${command}: ${flag} must be a duration from ${minMs === 0 ? '0' : `${minMs}ms`} to ${maxMs / 1000}s, such as ${minMs === 0 ? '0, 10ms or 1s' : '10s, 30s or 5m'} (got "${text}")`,
      `run \`podnet help ${command.split(' ')[0]}\``,
    );
  return ms;
}

/** The policy agent's periodic sync (30 s, or --netpol-sync-period) bounds its least interval (the sync runner refuses more). */
const NETPOL_MAX_MIN_SYNC_PERIOD_MS = 30_000;
/** --netpol-sync-period: at least the default least interval (100 ms), at most a day (the cni-agent's bounds). */
const NETPOL_SYNC_PERIOD_MS = { min: 100, max: 86_400_000 };

function recordFrom(values: { name?: unknown; 'state-dir'?: unknown }) {
  const name = checkClusterName(String(values.name ?? 'podnet'));
  return requireRecord(stateDirFor(name, values['state-dir'] as string | undefined), name);
}

function one(positionals: string[], what: string, command: string, usage: string): string {
  if (positionals.length === 0) throw new UsageError(`podnet ${command}: missing ${what}`, `usage: ${usage}`);
  if (positionals.length > 1) throw new UsageError(`podnet ${command}: unexpected argument "${positionals[1]}"`, `usage: ${usage}`);
  return positionals[0] as string;
}

function none(positionals: string[], command: string): void {
  if (positionals.length > 0)
    throw new UsageError(`podnet ${command}: unexpected argument "${positionals[0]}"`, `run \`podnet help ${command}\``);
}

function printHelp(io: Output, text: string): number {
  io.out(text);
  return 0;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function dispatch(command: string, rest: string[], io: Output): Promise<number> {
  if (rest[0] === '-h' || rest[0] === '--help') {
    io.out(CLUSTER_HELP[command] ?? '');
    return 0;
  }
  switch (command) {
    case 'up': {
      const { values, positionals } = parse(
        rest,
        {
          nodes: { type: 'string', default: '3' },
          backend: { type: 'string', default: 'vxlan' },
          demo: { type: 'boolean', default: false },
          'api-port': { type: 'string', default: '6443' },
          'transport-prefix': { type: 'string', default: '127.0.1' },
          timeout: { type: 'string', default: '120' },
          'node-monitor-grace-period': { type: 'string' },
          'pod-eviction-timeout': { type: 'string' },
          'netpol-min-sync-period': { type: 'string' },
          'netpol-sync-period': { type: 'string' },
          runtime: { type: 'string', default: 'process' },
        },
        'up',
      );
      if (values.help) return printHelp(io, UP_HELP);
      none(positionals, 'up');
      const backend = values.backend as string;
      if (backend !== 'vxlan' && backend !== 'host-gw')
        throw new UsageError(`podnet up: --backend must be vxlan or host-gw (got "${backend}")`, 'run `podnet help up`');
      if (values.runtime !== 'process' && values.runtime !== 'compose')
        throw new UsageError(`podnet up: --runtime must be process or compose (got "${values.runtime}")`, 'run `podnet help up`');
      const netpolSyncPeriod = values['netpol-sync-period'] as string | undefined;
      const netpolSyncPeriodMs =
        netpolSyncPeriod === undefined
          ? undefined
          : durationMs(netpolSyncPeriod, '--netpol-sync-period', 'up', NETPOL_SYNC_PERIOD_MS.max, NETPOL_SYNC_PERIOD_MS.min);
      const netpolMinSyncPeriod = values['netpol-min-sync-period'] as string | undefined;
      const netpolMinSyncPeriodMs =
        netpolMinSyncPeriod === undefined
          ? undefined
          : durationMs(netpolMinSyncPeriod, '--netpol-min-sync-period', 'up', netpolSyncPeriodMs ?? NETPOL_MAX_MIN_SYNC_PERIOD_MS);
      if (values.runtime === 'compose' && (netpolMinSyncPeriodMs !== undefined || netpolSyncPeriodMs !== undefined))
        // deploy/docker-compose.yml fixes each node's command line; process mode builds it here.
        throw new UsageError(
          "podnet up: --netpol-min-sync-period and --netpol-sync-period work with --runtime process only (the compose file sets the nodes' commands)",
          'drop it, or run without --runtime compose',
        );
      if (values.runtime === 'compose') {
        // The cluster as containers (deploy/docker-compose.yml, packages/cli/src/compose).
        const { composeUp } = await import('../compose/index.js');
        await composeUp(
          {
            nodes: integer(values.nodes as string, '--nodes', 'up', 1, MAX_NODES),
            backend,
            project: checkClusterName(String(values.name)),
            ...(values['state-dir'] ? { stateDir: values['state-dir'] as string } : {}),
            apiPort: integer(values['api-port'] as string, '--api-port', 'up', 1, 65535),
            timeoutMs: integer(values.timeout as string, '--timeout', 'up', 1, 3600) * 1000,
            ...(values['node-monitor-grace-period'] === undefined
              ? {}
              : {
                  nodeMonitorGracePeriodMs:
                    integer(values['node-monitor-grace-period'] as string, '--node-monitor-grace-period', 'up', 1, 3600) * 1000,
                }),
            ...(values['pod-eviction-timeout'] === undefined
              ? {}
              : {
                  podEvictionTimeoutMs: integer(values['pod-eviction-timeout'] as string, '--pod-eviction-timeout', 'up', 0, 3600) * 1000,
                }),
          },
          io,
        );
        return 0;
      }
      const prefix = values['transport-prefix'] as string;
      if (!/^127\.\d{1,3}\.\d{1,3}$/.test(prefix) || prefix.split('.').some((o) => Number(o) > 255))
        throw new UsageError(
          `podnet up: --transport-prefix must be 127.X.Y (got "${prefix}"); node N listens on 127.X.Y.N`,
          'run `podnet help up`',
        );
      return up(
        {
          name: String(values.name),
          nodes: integer(values.nodes as string, '--nodes', 'up', 1, MAX_NODES),
          backend,
          demo: values.demo === true,
          ...(values['state-dir'] ? { stateDir: values['state-dir'] as string } : {}),
          apiPort: integer(values['api-port'] as string, '--api-port', 'up', 1, 65535),
          transportPrefix: prefix,
          timeoutMs: integer(values.timeout as string, '--timeout', 'up', 1, 3600) * 1000,
          ...(values['node-monitor-grace-period'] === undefined
            ? {}
            : {
                nodeMonitorGracePeriodMs:
                  integer(values['node-monitor-grace-period'] as string, '--node-monitor-grace-period', 'up', 1, 3600) * 1000,
              }),
          ...(values['pod-eviction-timeout'] === undefined
            ? {}
            : { podEvictionTimeoutMs: integer(values['pod-eviction-timeout'] as string, '--pod-eviction-timeout', 'up', 0, 3600) * 1000 }),
          ...(netpolMinSyncPeriodMs === undefined ? {} : { netpolMinSyncPeriodMs }),
          ...(netpolSyncPeriodMs === undefined ? {} : { netpolSyncPeriodMs }),
        },
        io,
      );
    }
    case 'down': {
      const { values, positionals } = parse(
        rest,
        { purge: { type: 'boolean', default: false }, runtime: { type: 'string', default: 'process' } },
        'down',
      );
      if (values.help) return printHelp(io, DOWN_HELP);
      none(positionals, 'down');
      if (values.runtime !== 'process' && values.runtime !== 'compose')
        throw new UsageError(`podnet down: --runtime must be process or compose (got "${values.runtime}")`, 'run `podnet help down`');
      if (values.runtime === 'compose') {
        const { composeDown } = await import('../compose/index.js');
        await composeDown(
          { project: checkClusterName(String(values.name)), ...(values['state-dir'] ? { stateDir: values['state-dir'] as string } : {}) },
          io,
        );
        return 0;
      }
      return down(
        {
          name: String(values.name),
          ...(values['state-dir'] ? { stateDir: values['state-dir'] as string } : {}),
          purge: values.purge === true,
        },
        io,
      );
    }
    case 'status': {
      const { values, positionals } = parse(rest, {}, 'status');
      if (values.help) return printHelp(io, STATUS_HELP);
      none(positionals, 'status');
      return status(recordFrom(values), io);
    }
    case 'exec': {
      const usage = 'podnet exec POD [-n NAMESPACE] [-c CONTAINER] -- CMD [ARG...]';
      const [head, cmd] = splitCommand(rest, 'exec', usage);
      const { values, positionals } = parse(
        head,
        { namespace: { type: 'string', short: 'n', default: 'default' }, container: { type: 'string', short: 'c' } },
        'exec',
      );
      const pod = one(positionals, 'POD', 'exec', usage);
      const record = recordFrom(values);
      const r = await podExec(
        {
          kubeconfig: record.kubeconfig,
          namespace: values.namespace as string,
          pod,
          ...(values.container ? { container: values.container as string } : {}),
          command: cmd,
        },
        (channel, chunk) => (channel === 1 ? process.stdout : process.stderr).write(chunk),
      );
      // A failure that was not output of the command (container not running, ...) is on stderr already only if the command wrote it.
      if (r.exitCode !== 0 && r.stderr && !r.stderr.endsWith('\n')) process.stderr.write('\n');
      return r.exitCode;
    }
    case 'node': {
      const [sub, ...subArgs] = rest;
      const usage = 'podnet node exec NODE -- CMD [ARG...]';
      if (sub !== 'exec')
        throw new UsageError(
          sub === undefined ? 'podnet node: missing subcommand' : `podnet node: unknown subcommand "${sub}"`,
          `usage: ${usage}`,
        );
      if (subArgs[0] === '-h' || subArgs[0] === '--help') return printHelp(io, EXEC_HELP);
      const [head, cmd] = splitCommand(subArgs, 'node exec', usage);
      const { values, positionals } = parse(head, {}, 'node exec');
      const node = one(positionals, 'NODE', 'node exec', usage);
      const record = recordFrom(values);
      const stdin = cmd[0] === 'iptables-restore' ? await readStdin() : '';
      return (await nodeOps()).nodeExec(record, node, cmd, stdin, io);
    }
    case 'kill': {
      const [kind, ...kindArgs] = rest;
      const usage = 'podnet kill pod NAME [-n NAMESPACE] | podnet kill node NODE';
      if (kind !== 'pod' && kind !== 'node')
        throw new UsageError(
          kind === undefined ? 'podnet kill: missing pod or node' : `podnet kill: unknown kind "${kind}" (pod or node)`,
          `usage: ${usage}`,
        );
      const { values, positionals } = parse(kindArgs, { namespace: { type: 'string', short: 'n', default: 'default' } }, `kill ${kind}`);
      if (values.help) return printHelp(io, KILL_HELP);
      const target = one(positionals, kind === 'pod' ? 'NAME' : 'NODE', `kill ${kind}`, usage);
      const name = checkClusterName(String(values.name ?? 'podnet'));
      const stateDir = values['state-dir'] as string | undefined;
      if (!readRecord(stateDirFor(name, stateDir))) {
        // No process-mode cluster: a `podnet up --runtime compose` one, when recorded.
        const { composeKillTarget } = await import('../compose/index.js');
        const viaCompose = await composeKillTarget(
          { kind, name: target, namespace: values.namespace as string, project: name, ...(stateDir ? { stateDir } : {}) },
          io,
        );
        if (viaCompose !== undefined) return viaCompose;
      }
      const record = recordFrom(values);
      const ops = await nodeOps();
      return kind === 'pod' ? ops.killPod(record, values.namespace as string, target, io) : ops.killNode(record, target, io);
    }
    case 'trace': {
      const { values, positionals } = parse(
        rest,
        {
          from: { type: 'string' },
          to: { type: 'string' },
          namespace: { type: 'string', short: 'n', default: 'default' },
          proto: { type: 'string', default: 'tcp' },
          json: { type: 'boolean', default: false },
        },
        'trace',
      );
      if (values.help) return printHelp(io, TRACE_HELP);
      none(positionals, 'trace');
      for (const required of ['from', 'to'] as const)
        if (!values[required])
          throw new UsageError(`podnet trace: missing --${required}`, 'usage: podnet trace --from POD --to IP:PORT [--proto tcp|udp|icmp]');
      const proto = values.proto as string;
      if (!['tcp', 'udp', 'sctp', 'icmp'].includes(proto))
        throw new UsageError(`podnet trace: --proto must be tcp, udp, sctp or icmp (got "${proto}")`, 'run `podnet help trace`');
      return trace(
        recordFrom(values),
        {
          from: values.from as string,
          to: values.to as string,
          namespace: values.namespace as string,
          proto: proto as 'tcp',
          json: values.json === true,
        },
        io,
      );
    }
    case 'capture': {
      const usage = 'podnet capture NODE [--iface NAME] -w FILE.pcap [--duration S]';
      const { values, positionals } = parse(
        rest,
        {
          iface: { type: 'string', short: 'i' },
          inner: { type: 'boolean', default: false },
          write: { type: 'string', short: 'w' },
          duration: { type: 'string', default: '10' },
        },
        'capture',
      );
      if (values.help) return printHelp(io, CAPTURE_HELP);
      const node = one(positionals, 'NODE', 'capture', usage);
      if (!values.write) throw new UsageError('podnet capture: missing -w FILE.pcap', `usage: ${usage}`);
      const durationS = integer(values.duration as string, '--duration', 'capture', 1, 3600);
      const record = recordFrom(values);
      // The tunnel by default: flannel.1's underlay (VXLAN, UDP 4789) or, with host-gw, eth0's (UDP 4790).
      const iface = (values.iface as string | undefined) ?? (record.backend === 'host-gw' ? 'eth0' : 'flannel.1');
      return (await nodeOps()).capture(
        record,
        node,
        {
          iface,
          file: values.write as string,
          durationS,
          underlay: values.iface === undefined && values.inner !== true,
        },
        io,
      );
    }
  }
  throw new UsageError(`podnet: unknown command "${command}"`, 'run `podnet --help` for the list of commands');
}

/** Runs a cluster command; a ClusterError becomes its message and exit status 1. */
export async function runClusterCommand(command: string, rest: string[], io: Output): Promise<number> {
  try {
    return await dispatch(command, rest, io);
  } catch (error) {
    if (error instanceof ClusterError) {
      io.err(error.message);
      return 1;
    }
    const e = error as { code?: string; message?: string };
    // A typed error of another podnet package (an API Status, a control socket failure): its message is the explanation.
    if (typeof e?.code === 'string' && e.code.startsWith('PODNET_ERR_') && !(error instanceof UsageError)) {
      io.err(`podnet ${command}: ${e.message}`);
      return 1;
    }
    throw error;
  }
}
