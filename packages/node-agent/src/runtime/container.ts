// One container instance of a pod: its process (a ProcessMain of a built-in image) in the pod's
// network namespace, its signals, its log file, and its sockets. Kill closes everything at once
// (DESIGN §2, as SIGKILL); terminate delivers SIGTERM and kills after the grace period, as the
// kubelet's killContainer does (kuberuntime_container.go).
import type { Namespace } from '@podnet/netstack';
import { CriLogWriter } from './cri-log.js';
import { EXIT_SIGKILL, type ProcessContext, type ProcessMain } from './process.js';
import { SocketScope } from './socket-scope.js';

export interface ContainerExit {
  exitCode: number;
  startedAt: Date;
  finishedAt: Date;
  /** Last lines of output (terminationMessagePolicy FallbackToLogsOnError). */
  tail: string;
  killed: boolean;
}

export interface ContainerProcessOptions {
  ns: Namespace;
  main: ProcessMain;
  argv: string[];
  env: Record<string, string>;
  hostname: string;
  podKey: string;
  logPath: string;
}

export class ContainerProcess {
  readonly startedAt = new Date();
  readonly scope: SocketScope;
  readonly log: CriLogWriter;
  readonly exited: Promise<ContainerExit>;
  readonly #term = new AbortController();
  readonly #kill = new AbortController();
  #resolveKilled: (() => void) | undefined;
  #done = false;

  constructor(readonly o: ContainerProcessOptions) {
    this.scope = new SocketScope(o.ns);
    this.log = new CriLogWriter(o.logPath);
    const ctx: ProcessContext = {
      net: this.scope,
      hostname: o.hostname,
      env: o.env,
      killed: this.#kill.signal,
      terminated: this.#term.signal,
      podKey: o.podKey,
      stdout: (t) => {
        if (!this.#done) this.log.write('stdout', t);
      },
      stderr: (t) => {
        if (!this.#done) this.log.write('stderr', t);
      },
    };
    const killedPromise = new Promise<number>((resolve) => {
      this.#resolveKilled = () => resolve(EXIT_SIGKILL);
    });
    const run = Promise.resolve()
      .then(() => o.main(o.argv, ctx))
      .catch((e: unknown) => {
        ctx.stderr(`${(e as Error)?.message ?? String(e)}\n`);
        return 1;
      });
    this.exited = Promise.race([run, killedPromise]).then((exitCode) => {
      this.#done = true;
      this.log.flush();
      this.scope.close();
      return {
        exitCode,
        startedAt: this.startedAt,
        finishedAt: new Date(),
        tail: this.log.tail.slice(-5).join('\n'),
        killed: this.#kill.signal.aborted,
      };
    });
  }

  get running(): boolean {
    return !this.#done;
  }

  /** SIGKILL: the process stops now and its sockets close. */
  kill(): void {
    if (this.#done) return;
    this.#kill.abort(new Error('killed'));
    this.scope.close();
    this.#resolveKilled?.();
  }

  /** SIGTERM, then SIGKILL after graceMs if it has not exited. Resolves with the exit. */
  async terminate(graceMs: number): Promise<ContainerExit> {
    if (!this.#done) {
      this.#term.abort(new Error('terminated'));
      const timer = setTimeout(() => this.kill(), graceMs);
      const exit = await this.exited;
      clearTimeout(timer);
      return exit;
    }
    return this.exited;
  }
}
