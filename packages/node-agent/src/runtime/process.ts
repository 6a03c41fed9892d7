// What a built-in image's entrypoint or a toolbox command gets: the emulated process environment.
// A "process" is a workload inside the node-agent (DESIGN §2), not an OS process: its network is
// the pod's namespace through a SocketScope, its signals are AbortSignals.
import type { SocketScope } from './socket-scope.js';

export interface ProcessIo {
  stdout(text: string | Buffer): void;
  stderr(text: string | Buffer): void;
  /** stdin, when attached (kubectl exec -i); ends when the client closes it. */
  stdin?: AsyncIterable<Buffer>;
}

export interface ProcessContext extends ProcessIo {
  /** The pod's network (namespace) and the process's sockets. */
  net: SocketScope;
  /** The pod's hostname (its name, as the kubelet sets it), for `hostname` and agnhost /hostname. */
  hostname: string;
  env: Record<string, string>;
  /** Aborted on SIGKILL: the process is gone; its sockets are already closed. */
  killed: AbortSignal;
  /** Aborted on SIGTERM: the process should exit (exit code 143 unless it handles it). */
  terminated: AbortSignal;
  /** The pod's namespace/name, for logs. */
  podKey: string;
}

/** An entrypoint or command: resolves with the exit status (128+n for death by signal n). */
export type ProcessMain = (argv: string[], ctx: ProcessContext) => Promise<number>;

export const EXIT_SIGKILL = 137;
export const EXIT_SIGTERM = 143;

/** Resolves when the signal aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
