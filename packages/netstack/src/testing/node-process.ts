// Starting node-process.mjs as a child process and talking to it (tests of two OS processes).
// The child runs the built dist/ (build first: `npx tsc -b packages/netstack`; `npm test` does).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const NODE_PROCESS_SCRIPT = fileURLToPath(new URL('./node-process.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

export interface NodeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Sends one op and resolves with its answer (rejects with the child's error message). */
  call<T = Record<string, unknown>>(op: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Ends stdin, so the child closes its namespaces and exits; kills it after 5 s. */
  close(): Promise<void>;
  /** What the child wrote to stderr. */
  stderr(): string;
}

export interface SpawnOptions {
  /** Run it through another command first, e.g. ['ip', 'netns', 'exec', 'ns2']. */
  wrap?: string[];
  env?: Record<string, string>;
}

export async function spawnNodeProcess(options: SpawnOptions = {}): Promise<NodeProcess> {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: build the package first (npx tsc -b packages/netstack)`);
  const argv = [...(options.wrap ?? []), process.execPath, NODE_PROCESS_SCRIPT];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let errText = '';
  child.stderr?.on('data', (d: Buffer) => {
    errText += d.toString();
  });
  const pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let ready: (() => void) | undefined;
  const readyPromise = new Promise<void>((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => reject(new Error(`node process exited (${code}) before it was ready: ${errText}`)));
    child.once('error', reject);
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    let m: { id: number; ok: boolean; error?: string; code?: string; ready?: boolean };
    try {
      m = JSON.parse(line);
    } catch {
      errText += `(stdout) ${line}\n`;
      return;
    }
    if (m.id === 0 && m.ready) return ready?.();
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m as Record<string, unknown>);
    else p.reject(Object.assign(new Error(`node process: ${m.error}`), { code: m.code }));
  });
  child.on('exit', () => {
    for (const p of pending.values()) p.reject(new Error(`node process exited: ${errText}`));
    pending.clear();
  });
  await readyPromise;
  return {
    child,
    pid: child.pid as number,
    call<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`node process: no answer to ${op} within ${timeoutMs} ms; stderr: ${errText}`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.stdin?.write(`${JSON.stringify({ id, op, ...args })}\n`);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.stdin?.end();
      }),
    stderr: () => errText,
  };
}

/**
 * Acceptance topology 2: two processes, one namespace each ("node-1", "node-2"), joined by
 * flannel.1 VXLAN devices on 127.0.1.1 and 127.0.1.2 (free ports), programmed the flannel way.
 * node-N holds 10.244.N.0/32 on flannel.1 and is reached at that address.
 */
export async function twoProcessesOverVxlan(): Promise<{ p1: NodeProcess; p2: NodeProcess; close(): Promise<void> }> {
  const procs = await Promise.all([spawnNodeProcess(), spawnNodeProcess()]);
  const infos: Array<{ port: number; mac: string }> = [];
  for (let i = 0; i < 2; i++) {
    const p = procs[i] as NodeProcess;
    const n = i + 1;
    await p.call('create-namespace', { name: `node-${n}` });
    infos.push(
      await p.call<{ port: number; mac: string }>('add-vxlan', {
        ns: `node-${n}`,
        mac: `0a:58:0a:f4:0${n}:00`,
        nodeIp: `172.18.0.${n + 1}`,
        localAddress: `127.0.1.${n}`,
        port: 0,
      }),
    );
    await p.call('add-address', { ns: `node-${n}`, dev: 'flannel.1', cidr: `10.244.${n}.0/32` });
  }
  for (let i = 0; i < 2; i++) {
    const n = i + 1;
    const r = 2 - i;
    const remote = infos[r - 1] as { port: number; mac: string };
    await (procs[i] as NodeProcess).call('add-vxlan-peer', {
      ns: `node-${n}`,
      podCidr: `10.244.${r}.0/24`,
      vtepMac: remote.mac,
      nodeIp: `172.18.0.${r + 1}`,
      transport: { address: `127.0.1.${r}`, port: remote.port },
    });
  }
  const [p1, p2] = procs as [NodeProcess, NodeProcess];
  return { p1, p2, close: async () => void (await Promise.all(procs.map((p) => p.close()))) };
}
