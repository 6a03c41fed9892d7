// Starts the real control-plane process (packages/controllers/dist/control-plane-main.js: the API
// server and the controllers) on a free loopback port, for the acceptance tests; restartable on
// the same port and data directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '@podnet/client';

const root = join(import.meta.dirname, '..', '..');
const MAIN = join(root, 'packages', 'controllers', 'dist', 'control-plane-main.js');

export interface ControlPlaneProcess {
  url: string;
  port: number;
  dataDir: string;
  kubeconfigPath: string;
  client(opts?: { watchEncoding?: 'protobuf' | 'json' }): KubeClient;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  stderr(): string;
}

export async function startControlPlaneProcess(extraArgs: string[] = []): Promise<ControlPlaneProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), `podnet-cp-${process.pid}-`));
  let child: ChildProcess | undefined;
  let port = 0;
  let url = '';
  let kubeconfigPath = '';
  let errText = '';
  const clients: KubeClient[] = [];

  const launch = () =>
    new Promise<void>((resolve, reject) => {
      const c = spawn(
        process.execPath,
        [MAIN, '--data-dir', dataDir, '--port', String(port), '--log-level', process.env.CP_LOG_LEVEL ?? 'warn', ...extraArgs],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      child = c;
      let out = '';
      const timer = setTimeout(() => reject(new Error(`control plane did not start within 30 s:\n${errText}`)), 30_000);
      c.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /ready on (https:\/\/[^\s]+) \(kubeconfig: ([^)]+)\)/.exec(out);
        if (m) {
          clearTimeout(timer);
          url = m[1]!;
          kubeconfigPath = m[2]!;
          port = Number(new URL(url).port);
          resolve();
        }
      });
      c.stderr?.on('data', (d: Buffer) => {
        errText = (errText + d.toString()).slice(-20_000);
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`control plane exited with ${code}:\n${errText}`));
      });
    });

  const exited = (c: ChildProcess | undefined) =>
    new Promise<void>((r) => {
      if (!c || c.exitCode !== null || c.signalCode !== null) return r();
      c.once('exit', () => r());
    });

  await launch();
  return {
    get url() {
      return url;
    },
    get port() {
      return port;
    },
    dataDir,
    get kubeconfigPath() {
      return kubeconfigPath;
    },
    client(opts = {}) {
      const c = new KubeClient({ kubeconfig: kubeconfigPath, watchEncoding: opts.watchEncoding });
      clients.push(c);
      return c;
    },
    async kill() {
      const c = child;
      c?.kill('SIGKILL');
      await exited(c);
    },
    async restart() {
      await launch();
    },
    async stop() {
      for (const c of clients) c.close();
      const c = child;
      c?.kill('SIGTERM');
      const t = setTimeout(() => c?.kill('SIGKILL'), 5000);
      await exited(c);
      clearTimeout(t);
      rmSync(dataDir, { recursive: true, force: true });
    },
    stderr: () => errText,
  };
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes; the error names `what`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
