// Helpers of the end-to-end cluster test: the `podnet` bin and kubectl against the cluster's own
// kubeconfig (a private HOME, so kubectl's discovery cache never mixes clusters), pod exec through
// the API server, node commands over the cni-agent control sockets, and bounded polling.
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

export const REPO = join(import.meta.dirname, '..', '..');
export const PODNET_BIN = join(REPO, 'packages', 'cli', 'bin', 'podnet.js');

/** A port that was free a moment ago (bind 0, close): for the API server of the test cluster. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Polls until check() returns a value (not undefined), at most timeoutMs; throws with `what` otherwise. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`,
      );
    }
    await sleep(everyMs);
  }
}

/** Splits an iptables-save rule line into argv, honouring double quotes (`--comment "a b"`). */
export function ruleWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] as string));
  return words;
}

export function kubectlRunner(kubeconfig: string, home: string) {
  return (...args: string[]) => execa('kubectl', args, { reject: false, env: { KUBECONFIG: kubeconfig, HOME: home }, timeout: 60_000 });
}

export function podnetRunner(stateDir: string) {
  /** Runs `podnet ARGS` with --state-dir placed before any `--`. */
  return (...args: string[]) => {
    const at = args.indexOf('--');
    const argv = at < 0 ? [...args, '--state-dir', stateDir] : [...args.slice(0, at), '--state-dir', stateDir, ...args.slice(at)];
    return execa(process.execPath, [PODNET_BIN, ...argv], { reject: false, timeout: 240_000 });
  };
}
