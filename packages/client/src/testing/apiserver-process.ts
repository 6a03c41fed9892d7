// The real API server process (packages/apiserver/dist/main.js) for the client's tests: started
// on a free loopback port, killable with SIGKILL and restartable on the same port and data
// directory; plus a loopback TCP relay that can cut the client off from the server.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAIN = join(import.meta.dirname, '..', '..', '..', 'apiserver', 'dist', 'main.js');

export interface ApiServerProcess {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly kubeconfigPath: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startApiServerProcess(extraArgs: string[] = []): Promise<ApiServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), `podnet-apiserver-${process.pid}-`));
  let child: ChildProcess | undefined;
  let port = 0;
  let errText = '';
  const launch = () =>
    new Promise<void>((resolve, reject) => {
      const c = spawn(process.execPath, [MAIN, '--data-dir', dataDir, '--port', String(port), '--log-level', 'warn', ...extraArgs], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = c;
      let out = '';
      const timer = setTimeout(() => reject(new Error(`API server did not start within 30 s:\n${errText}`)), 30_000);
      c.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (https:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          port = Number(new URL(m[1]!).port);
          resolve();
        }
      });
      c.stderr?.on('data', (d: Buffer) => {
        errText = (errText + d.toString()).slice(-20_000);
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`API server exited with ${code}:\n${errText}`));
      });
    });
  const exited = (c: ChildProcess | undefined) =>
    new Promise<void>((r) => (!c || c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
  await launch();
  return {
    get url() {
      return `https://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dataDir,
    kubeconfigPath: join(dataDir, 'kubeconfig'),
    async kill() {
      const c = child;
      c?.kill('SIGKILL');
      await exited(c);
    },
    restart: launch,
    async stop() {
      const c = child;
      c?.kill('SIGTERM');
      const t = setTimeout(() => c?.kill('SIGKILL'), 5000);
      await exited(c);
      clearTimeout(t);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A TCP relay on 127.0.0.1 to `targetPort`; cut() drops every connection and refuses new ones. */
export class Relay {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #open = true;
  port = 0;
  /** Connections accepted so far (to check keep-alive reuse). */
  connections = 0;

  constructor(targetPort: number) {
    this.#server = net.createServer((client) => {
      this.connections++;
      if (!this.#open) {
        client.destroy();
        return;
      }
      const upstream = net.connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve) =>
      this.#server.listen(0, '127.0.0.1', () => {
        this.port = (this.#server.address() as net.AddressInfo).port;
        resolve(this.port);
      }),
    );
  }

  cut(): void {
    this.#open = false;
    for (const s of this.#sockets) s.destroy();
  }

  restore(): void {
    this.#open = true;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((r) => this.#server.close(() => r()));
  }
}
