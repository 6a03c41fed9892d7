// `podnet netpol probe ...`: argument parsing, pod discovery and output of the probe (probe.ts).
// Exit status: 0 matrix printed (and, with --expect, equal to the file), 1 some cell differs or the
// cluster could not be probed, 2 a usage mistake (the message says which option and how to fix it).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { KubeClient, type KubeObject } from '@podnet/client';
import { diffMatrices, formatDifference, formatMatrix, type Matrix, parseMatrix } from '@podnet/netpol';
import { podExec } from '../cluster/pod-exec.js';
import { checkClusterName, requireRecord, stateDirFor } from '../cluster/state.js';
import type { Output } from '../pcap-read.js';
import { UsageError } from '../usage.js';
import { type ProbeCase, type ProbePod, type ProbeProtocol, type ProbeResult, podKey, probe } from './probe.js';

export const NETPOL_HELP = `Usage: podnet netpol probe [--namespaces x,y,z] [--ports 80,81] [--protocols tcp,udp]
                          [--expect FILE] [--json] [--timeout-ms N] [--kubeconfig FILE | --name NAME] [--state-dir DIR]

From every running pod of the selected namespaces (default: every namespace but kube-system) to
every other, real connection attempts through the data plane, run inside the source pod via
pods/exec with the toolbox's nc (TCP: \`nc -z -w S\`, a handshake; UDP: \`echo hostname | nc -u -w S\`,
an answer from agnhost netexec). Attempts run in parallel with a short timeout (default 1000 ms;
a policy DROP shows as a timeout). Prints one matrix per protocol and port in the upstream e2e
style: "." allowed, "X" denied. --expect FILE: a matrix in the same format (optionally one per
"tcp/80" heading line; one matrix without heading applies to every case); prints the cells that
differ and exits 1 when any do. --json: {cases: [{protocol, port, pods, allowed}], differences}.`;

/** A probe that could not run (no pods, API unreachable): exit 1 with this code. */
export class NetpolProbeError extends Error {
  readonly code = 'PODNET_ERR_NETPOL_PROBE';
}

const PROTOCOLS: readonly ProbeProtocol[] = ['tcp', 'udp'];
const USAGE_HINT = 'run `podnet help netpol`';

interface PodObject extends KubeObject {
  spec?: { containers?: Array<{ name: string }>; hostNetwork?: boolean };
  status?: { phase?: string; podIP?: string };
}

function list(value: string | undefined, flag: string): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`podnet netpol probe: ${flag} "${value}" has an empty item`, USAGE_HINT);
  return items;
}

export interface ProbeArgs {
  namespaces?: string[];
  cases: ProbeCase[];
  expect?: string;
  json: boolean;
  timeoutMs: number;
  kubeconfig?: string;
  name: string;
  stateDir?: string;
}

function parseRaw(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        namespaces: { type: 'string' },
        ports: { type: 'string' },
        protocols: { type: 'string' },
        expect: { type: 'string' },
        json: { type: 'boolean' },
        'timeout-ms': { type: 'string' },
        kubeconfig: { type: 'string' },
        name: { type: 'string' },
        'state-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(
      `podnet netpol probe: ${(error as Error).message.replace(/\. To specify a positional argument.*$/, '')}`,
      USAGE_HINT,
    );
  }
}

export function parseProbeArgs(args: string[]): ProbeArgs | 'help' {
  const parsed = parseRaw(args);
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help) return 'help';
  if (parsed.positionals.length > 0)
    throw new UsageError(`podnet netpol probe: unexpected argument "${parsed.positionals[0]}"`, USAGE_HINT);
  const ports = (list(v.ports as string | undefined, '--ports') ?? ['80']).map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > 65535)
      throw new UsageError(`podnet netpol probe: --ports: "${p}" is not a port (1-65535)`, USAGE_HINT);
    return n;
  });
  const protocols = (list(v.protocols as string | undefined, '--protocols') ?? ['tcp']).map((p) => {
    const lower = p.toLowerCase() as ProbeProtocol;
    if (!PROTOCOLS.includes(lower))
      throw new UsageError(
        `podnet netpol probe: --protocols: "${p}" is not tcp or udp (SCTP associations are not probed; use podnet trace)`,
        USAGE_HINT,
      );
    return lower;
  });
  const timeoutText = (v['timeout-ms'] as string | undefined) ?? '1000';
  const timeoutMs = Number(timeoutText);
  if (!/^\d+$/.test(timeoutText) || timeoutMs < 100 || timeoutMs > 60_000)
    throw new UsageError(
      `podnet netpol probe: --timeout-ms "${timeoutText}" must be a whole number of milliseconds, 100-60000`,
      USAGE_HINT,
    );
  const namespaces = list(v.namespaces as string | undefined, '--namespaces');
  return {
    ...(namespaces ? { namespaces } : {}),
    cases: protocols.flatMap((protocol) => [...new Set(ports)].map((port) => ({ protocol, port }))),
    ...(v.expect !== undefined ? { expect: v.expect as string } : {}),
    json: v.json === true,
    timeoutMs,
    ...(v.kubeconfig !== undefined ? { kubeconfig: v.kubeconfig as string } : {}),
    name: (v.name as string | undefined) ?? 'podnet',
    ...(v['state-dir'] !== undefined ? { stateDir: v['state-dir'] as string } : {}),
  };
}

/** The expected matrices of --expect FILE, by "protocol/port" ('*' when the file has no headings). */
export function parseExpectFile(text: string, file: string): Map<string, Matrix> {
  const out = new Map<string, Matrix>();
  const lines = text.split('\n');
  const headings = lines.flatMap((l, i) => (/^\s*(tcp|udp)\/\d+:?\s*$/i.test(l) ? [i] : []));
  if (headings.length === 0) {
    out.set('*', parseMatrix(text, file));
    return out;
  }
  headings.forEach((start, k) => {
    const key = (lines[start] as string).trim().replace(/:$/, '').toLowerCase();
    const end = headings[k + 1] ?? lines.length;
    // Blank the other lines instead of slicing, so parseMatrix's file:line numbers stay right.
    const section = lines.map((l, i) => (i > start && i < end ? l : '')).join('\n');
    out.set(key, parseMatrix(section, file));
  });
  return out;
}

async function selectPods(client: KubeClient, namespaces: string[] | undefined): Promise<ProbePod[]> {
  const items = (await client.resource<PodObject>('pods').list()).items as PodObject[];
  const wanted = (ns: string) => (namespaces ? namespaces.includes(ns) : ns !== 'kube-system');
  const pods = items
    .filter((p) => wanted(p.metadata?.namespace ?? '') && p.status?.phase === 'Running' && p.status.podIP && !p.spec?.hostNetwork)
    .map((p) => ({
      namespace: p.metadata?.namespace as string,
      name: p.metadata?.name as string,
      ip: p.status?.podIP as string,
      container: p.spec?.containers?.[0]?.name ?? '',
    }))
    .sort((a, b) => podKey(a).localeCompare(podKey(b)));
  for (const ns of namespaces ?? []) {
    if (!pods.some((p) => p.namespace === ns))
      throw new NetpolProbeError(`no running pod with an IP in namespace "${ns}"; check --namespaces and \`kubectl get pods -n ${ns}\``);
  }
  if (pods.length < 2) throw new NetpolProbeError(`found ${pods.length} running pod(s) with an IP; a probe needs at least two`);
  return pods;
}

export async function netpolProbe(a: ProbeArgs, io: Output): Promise<number> {
  // Read --expect first: a bad file is reported before any probing.
  let expected: Map<string, Matrix> | undefined;
  if (a.expect !== undefined) {
    let text: string;
    try {
      text = readFileSync(a.expect, 'utf8');
    } catch (error) {
      throw new UsageError(
        `podnet netpol probe: cannot read --expect ${a.expect}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        USAGE_HINT,
      );
    }
    expected = parseExpectFile(text, a.expect);
  }
  const kubeconfig = a.kubeconfig ?? requireRecord(stateDirFor(checkClusterName(a.name), a.stateDir), a.name).kubeconfig;
  const client = new KubeClient({ kubeconfig });
  let results: ProbeResult[];
  try {
    const pods = await selectPods(client, a.namespaces);
    results = await probe({
      pods,
      cases: a.cases,
      timeoutMs: a.timeoutMs,
      exec: async (pod, argv, stdin) => {
        const r = await podExec({
          kubeconfig,
          namespace: pod.namespace,
          pod: pod.name,
          ...(pod.container ? { container: pod.container } : {}),
          command: argv,
          ...(stdin !== undefined ? { stdin } : {}),
          // nc gives up after its -w; this bound only catches a stuck exec.
          timeoutMs: a.timeoutMs + 10_000,
        });
        return { stdout: r.stdout, exitCode: r.exitCode };
      },
    });
  } finally {
    client.close();
  }
  const differences = results.flatMap((r) => {
    const e = expected?.get(`${r.protocol}/${r.port}`) ?? expected?.get('*');
    return e ? diffMatrices(e, r.matrix).map((d) => ({ protocol: r.protocol, port: r.port, ...d })) : [];
  });
  if (expected) {
    const missing = [...expected.keys()].filter((k) => k !== '*' && !results.some((r) => `${r.protocol}/${r.port}` === k));
    if (missing.length > 0)
      throw new UsageError(
        `podnet netpol probe: --expect ${a.expect} has matrices for ${missing.join(', ')}, which were not probed`,
        'add them to --ports/--protocols',
      );
  }
  if (a.json) {
    io.out(
      JSON.stringify({
        cases: results.map((r) => ({ protocol: r.protocol, port: r.port, pods: r.matrix.pods, allowed: r.matrix.allowed })),
        ...(expected ? { differences } : {}),
      }),
    );
  } else {
    for (const r of results) {
      io.out(`${r.protocol}/${r.port}:`);
      io.out(formatMatrix(r.matrix));
    }
    if (expected) {
      if (differences.length === 0) io.out('all cells as expected');
      else {
        io.out(`${differences.length} cell(s) differ from ${a.expect}:`);
        for (const d of differences) io.out(`${d.protocol}/${d.port} ${formatDifference(d)}`);
      }
    }
  }
  return differences.length > 0 ? 1 : 0;
}

/** `podnet netpol SUB ...` */
export async function runNetpolCommand(args: string[], io: Output): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help') {
    if (sub === undefined)
      throw new UsageError('podnet netpol: missing subcommand', 'usage: podnet netpol probe [options]; run `podnet help netpol`');
    io.out(NETPOL_HELP);
    return 0;
  }
  if (sub !== 'probe') throw new UsageError(`podnet netpol: unknown subcommand "${sub}"`, 'usage: podnet netpol probe [options]');
  const parsed = parseProbeArgs(rest);
  if (parsed === 'help') {
    io.out(NETPOL_HELP);
    return 0;
  }
  try {
    return await netpolProbe(parsed, io);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('PODNET_ERR')) {
      io.err(`podnet netpol probe: ${code}: ${(error as Error).message}`);
      return 1;
    }
    throw error;
  }
}
