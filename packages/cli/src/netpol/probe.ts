// `podnet netpol probe`: the reachability matrix of the upstream NetworkPolicy e2e suite
// (test/e2e/network/netpol: a probe from every pod to every other pod, per port and protocol),
// measured with real connection attempts through the data plane. Each attempt runs INSIDE the
// source pod via the API server's pods/exec (proxied to that pod's node-agent), with the pod
// toolbox's BusyBox `nc`, so the packets leave the pod's eth0 and cross both nodes' netfilter
// (egress on the source's node, ingress on the destination's) — never a separate evaluator.
// TCP: `nc -z -w S IP PORT` (exit 0 = the handshake completed; a DROP times out, as upstream's
// agnhost connect). UDP has no handshake, so a datagram is sent and an answer waited for:
// `echo hostname | nc -u -w S IP PORT` — agnhost netexec answers "hostname" on its UDP port, as
// upstream's probes rely on; no answer within S seconds = denied.
import { buildMatrix, type Matrix } from '@podnet/netpol';

export type ProbeProtocol = 'tcp' | 'udp';

export interface ProbePod {
  namespace: string;
  name: string;
  ip: string;
  /** The container to exec into (the first one). */
  container: string;
}

export interface ProbeCase {
  protocol: ProbeProtocol;
  port: number;
}

export interface ExecOutcome {
  stdout: string;
  exitCode: number;
}

/** Runs argv in a pod (pods/exec); resolves with its output and exit code. */
export type PodExecFn = (pod: ProbePod, argv: string[], stdin: string | undefined) => Promise<ExecOutcome>;

export interface ProbeOptions {
  pods: ProbePod[];
  cases: ProbeCase[];
  timeoutMs: number;
  /** Attempts in flight at once (default 16): the matrix is fast, the API server is not flooded. */
  concurrency?: number;
  exec: PodExecFn;
}

export interface ProbeResult extends ProbeCase {
  matrix: Matrix;
}

export const podKey = (p: ProbePod): string => `${p.namespace}/${p.name}`;

/** The command one attempt runs in the source pod (nc's -w is whole seconds, at least 1). */
export function attemptCommand(c: ProbeCase, ip: string, timeoutMs: number): { argv: string[]; stdin?: string } {
  const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  if (c.protocol === 'tcp') return { argv: ['nc', '-z', '-w', seconds, ip, String(c.port)] };
  return { argv: ['nc', '-u', '-w', seconds, ip, String(c.port)], stdin: 'hostname\n' };
}

/** Whether an attempt's outcome means "allowed". */
export function attemptAllowed(c: ProbeCase, r: ExecOutcome): boolean {
  return c.protocol === 'tcp' ? r.exitCode === 0 : r.stdout.trim().length > 0;
}

async function pool<T>(tasks: Array<() => Promise<T>>, width: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await (tasks[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
  return results;
}

/**
 * Every (source, destination ≠ source, case) attempt, in parallel; a pod probing itself counts as
 * allowed (its own IP stays on lo, no policy applies: upstream's AllowLoopback).
 */
export async function probe(o: ProbeOptions): Promise<ProbeResult[]> {
  const verdicts = new Map<string, boolean>();
  const tasks: Array<() => Promise<void>> = [];
  for (const c of o.cases)
    for (const from of o.pods)
      for (const to of o.pods) {
        if (from === to) continue;
        tasks.push(async () => {
          const { argv, stdin } = attemptCommand(c, to.ip, o.timeoutMs);
          const r = await o.exec(from, argv, stdin);
          verdicts.set(`${c.protocol}/${c.port} ${podKey(from)} ${podKey(to)}`, attemptAllowed(c, r));
        });
      }
  await pool(tasks, o.concurrency ?? 16);
  const keys = o.pods.map(podKey);
  return o.cases.map((c) => ({
    ...c,
    matrix: buildMatrix(keys, (from, to) => from === to || verdicts.get(`${c.protocol}/${c.port} ${from} ${to}`) === true),
  }));
}
