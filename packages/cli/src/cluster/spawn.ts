// Starting a component as a detached process: its own process group (setsid), so `podnet down`
// and `podnet kill node` can signal the whole group (the node-agent and the cni-agent and
// kube-proxy it supervises), stdout and stderr appended to its log file, and no tie to the
// terminal: `podnet up` returns and the cluster keeps running.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function spawnDetached(argv: string[], log: string, env: NodeJS.ProcessEnv = process.env): number {
  mkdirSync(dirname(log), { recursive: true });
  const fd = openSync(log, 'a');
  try {
    const [cmd, ...args] = argv;
    const child = spawn(cmd as string, args, { detached: true, stdio: ['ignore', fd, fd], env });
    child.unref();
    if (child.pid === undefined) throw new Error(`cannot start ${cmd}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** The last `lines` lines of a log (for an error message). */
export function tail(log: string, lines = 8): string {
  if (!existsSync(log)) return '(no log written)';
  const text = readFileSync(log, 'utf8').trimEnd().split('\n');
  return text.slice(-lines).join('\n');
}

/** Sends a signal to a process group; false when it is gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Polls until check() returns a value, or the bound passes (then undefined). */
export async function waitFor<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 200,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await sleep(everyMs);
  }
}
