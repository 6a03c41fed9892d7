// The toolbox: the commands a busybox/alpine-like image (and `kubectl exec`, and exec probes) can
// run inside a pod. Each is a ProcessMain over the pod's namespace; `runCommand` dispatches on the
// program's basename, as BusyBox's multi-call binary does.
import type { ProcessContext, ProcessMain } from '../runtime/process.js';
import { EXIT_SIGTERM } from '../runtime/process.js';
import { curl, wget } from './curl.js';
import { ip, ss } from './ip.js';
import { nc } from './nc.js';
import { ping, traceroute } from './ping.js';
import { parseShell, type ShellSyntaxError } from './shell.js';

/** sleep N[smhd] | infinity (coreutils/BusyBox): ends early with 143 on SIGTERM (the default action). */
const sleep: ProcessMain = async (argv, ctx) => {
  const args = argv.slice(1);
  if (args.length === 0) {
    ctx.stderr("sleep: missing operand\nTry 'sleep --help' for more information.\n");
    return 1;
  }
  let ms = 0;
  for (const a of args) {
    if (a === 'infinity') ms = Number.POSITIVE_INFINITY;
    const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(a);
    if (!m && a !== 'infinity') {
      ctx.stderr(`sleep: invalid time interval '${a}'\nTry 'sleep --help' for more information.\n`);
      return 1;
    }
    if (m) ms += Number(m[1]) * ({ '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as string] ?? 1000);
  }
  return new Promise((resolve) => {
    // setTimeout's limit is 2^31-1 ms; longer sleeps just wait for a signal.
    const t = Number.isFinite(ms) && ms < 2 ** 31 ? ctx.net.setTimeout(() => resolve(0), ms) : undefined;
    ctx.terminated.addEventListener(
      'abort',
      () => {
        if (t) ctx.net.clearTimer(t);
        resolve(EXIT_SIGTERM);
      },
      { once: true },
    );
    ctx.killed.addEventListener('abort', () => resolve(137), { once: true });
  });
};

const echo: ProcessMain = async (argv, ctx) => {
  let args = argv.slice(1);
  let newline = true;
  if (args[0] === '-n') {
    newline = false;
    args = args.slice(1);
  }
  ctx.stdout(`${args.join(' ')}${newline ? '\n' : ''}`);
  return 0;
};

const hostname: ProcessMain = async (_argv, ctx) => {
  ctx.stdout(`${ctx.hostname}\n`);
  return 0;
};

/** cat of the few files a pod has: /etc/hostname, /etc/hosts, /etc/resolv.conf. */
const cat: ProcessMain = async (argv, ctx) => {
  let status = 0;
  for (const f of argv.slice(1)) {
    const eth0 = ctx.net.ns.interfaceAddress('eth0');
    const files: Record<string, string> = {
      '/etc/hostname': `${ctx.hostname}\n`,
      '/etc/hosts': `127.0.0.1\tlocalhost\n${eth0 !== undefined ? `${[eth0 >>> 24, (eth0 >>> 16) & 255, (eth0 >>> 8) & 255, eth0 & 255].join('.')}\t${ctx.hostname}\n` : ''}`,
      '/etc/resolv.conf': 'search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n',
    };
    const text = files[f];
    if (text === undefined) {
      ctx.stderr(`cat: ${f}: No such file or directory\n`);
      status = 1;
    } else ctx.stdout(text);
  }
  return status;
};

const env: ProcessMain = async (_argv, ctx) => {
  for (const [k, v] of Object.entries(ctx.env)) ctx.stdout(`${k}=${v}\n`);
  return 0;
};

const sh: ProcessMain = async (argv, ctx) => {
  const args = argv.slice(1);
  if (args[0] !== '-c' || args[1] === undefined) {
    ctx.stderr(args[0] === '-c' ? 'sh: -c requires an argument\n' : 'sh: the podnet toolbox shell runs only `sh -c "COMMANDS"`\n');
    return 2;
  }
  let commands: ReturnType<typeof parseShell>;
  try {
    commands = parseShell(args[1], ctx.env);
  } catch (e) {
    ctx.stderr(`${(e as ShellSyntaxError).message}\n`);
    return 2;
  }
  let status = 0;
  for (const c of commands) {
    if (c.op === '&&' && status !== 0) continue;
    if (c.op === '||' && status === 0) continue;
    if (ctx.killed.aborted) return 137;
    // `exit [N]`: the shell builtin ends the list with N (or the last status).
    if (c.argv[0] === 'exit') return c.argv[1] === undefined ? status : Number(c.argv[1]) & 255;
    const io: ProcessContext = {
      ...ctx,
      stdout: c.discardStdout ? () => undefined : ctx.stdout,
      stderr: c.discardStderr ? () => undefined : c.stderrToStdout ? ctx.stdout : ctx.stderr,
    };
    status = await runCommand(c.argv, io);
  }
  return status;
};

export const COMMANDS: Record<string, ProcessMain> = {
  sh,
  ash: sh,
  bash: sh,
  sleep,
  echo,
  hostname,
  cat,
  env,
  true: async () => 0,
  false: async () => 1,
  curl,
  wget,
  ping,
  traceroute,
  nc,
  ip,
  ss,
};

/** Runs one command (argv[0] may be a path: /bin/sh, /usr/bin/curl). 127 for an unknown program. */
export async function runCommand(argv: string[], ctx: ProcessContext): Promise<number> {
  const program = argv[0];
  if (program === undefined) return 0;
  const name = program.slice(program.lastIndexOf('/') + 1);
  const main = COMMANDS[name];
  if (main === undefined) {
    ctx.stderr(`sh: ${program}: not found (the podnet toolbox has: ${Object.keys(COMMANDS).sort().join(', ')})\n`);
    return 127;
  }
  try {
    return await main([name, ...argv.slice(1)], ctx);
  } catch (e) {
    if (ctx.killed.aborted) return 137;
    ctx.stderr(`${name}: ${(e as Error).message}\n`);
    return 1;
  }
}
