// Supervises a child process of the node (cni-agent, kube-proxy): starts it, restarts it with
// back-off when it dies (1 s doubling to 30 s; reset after 60 s of uptime, as systemd's
// Restart=always with a growing RestartSec would), and reports each restart.
import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from '@podnet/client';

export interface SupervisedOptions {
  name: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
  log: Logger;
  /** Called after the child was started again following a death. */
  onRestart?: (restarts: number) => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export class Supervised {
  readonly name: string;
  #child: ChildProcess | undefined;
  #stopping = false;
  #restarts = 0;
  #backoff: number;
  #timer: NodeJS.Timeout | undefined;
  #startedAt = 0;

  constructor(readonly o: SupervisedOptions) {
    this.name = o.name;
    this.#backoff = o.initialBackoffMs ?? 1000;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }
  get restarts(): number {
    return this.#restarts;
  }

  start(): void {
    const [cmd, ...args] = this.o.argv;
    if (!cmd) throw new Error(`supervised ${this.name}: empty command`);
    this.#startedAt = Date.now();
    const child = spawn(cmd, args, { env: this.o.env ?? process.env, stdio: ['ignore', 'inherit', 'inherit'] });
    this.#child = child;
    this.o.log.info({ child: this.name, pid: child.pid, argv: this.o.argv }, 'started child');
    child.on('error', (e) => this.o.log.error({ child: this.name, err: e.message }, 'cannot start child'));
    child.on('exit', (code, signal) => {
      if (this.#stopping) return;
      const up = Date.now() - this.#startedAt;
      if (up > 60_000) this.#backoff = this.o.initialBackoffMs ?? 1000;
      this.o.log.warn({ child: this.name, code, signal, restartInMs: this.#backoff }, 'child died; restarting');
      this.#timer = setTimeout(() => {
        this.#restarts++;
        this.start();
        this.o.onRestart?.(this.#restarts);
      }, this.#backoff);
      this.#backoff = Math.min(this.#backoff * 2, this.o.maxBackoffMs ?? 30_000);
    });
  }

  /** Stops it: SIGTERM, then SIGKILL after graceMs (0: SIGKILL at once, for `podnet kill node`). */
  stop(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      if (graceMs === 0) child.kill('SIGKILL');
      else {
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
      }
    });
  }
}
