// Readiness, liveness and startup probes (pkg/kubelet/prober): httpGet (2xx/3xx succeeds),
// tcpSocket (a completed handshake succeeds), exec (exit status 0 succeeds), each with
// timeoutSeconds; a worker runs one probe every periodSeconds after initialDelaySeconds and flips
// its result after failureThreshold consecutive failures or successThreshold consecutive
// successes (worker.go). Network probes run from the node, as the kubelet's do: they leave the
// node's prober namespace and reach the pod's IP over the emulated network.
import type { ContainerPort, Probe } from '../kube-types.js';
import { type FetchError, httpFetch } from '../toolbox/http-fetch.js';
import type { SocketScope } from './socket-scope.js';

export type ProbeKind = 'readiness' | 'liveness' | 'startup';

export interface ProbeOutcome {
  ok: boolean;
  /**
   * The probe could not run yet: the node's prober is not attached to cni0 (the cni-agent is still
   * starting). Such an attempt counts neither as a success nor as a failure, as the kubelet does not
   * probe before its network is up; the worker tries again shortly.
   */
  notRun?: boolean;
  /** Why it failed, worded as the kubelet's events ("Get \"http://...\": dial tcp ...: connect: connection refused"). */
  output: string;
}

export interface ProbeTarget {
  podIp: string;
  /** The node's prober namespace (network probes leave from here), looked up at each probe: it may attach after the container started. */
  prober: () => SocketScope | undefined;
  ports: ContainerPort[];
  /** Runs argv in the container; resolves with the exit status and output. */
  exec(argv: string[], timeoutMs: number): Promise<{ status: number; output: string }>;
}

function resolvePort(port: number | string, ports: ContainerPort[]): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return ports.find((p) => p.name === port)?.containerPort;
}

const PROBER_NOT_ATTACHED: ProbeOutcome = { ok: false, notRun: true, output: 'the node prober is not attached to cni0 yet' };

/** How soon a probe that could not run is tried again. */
const NOT_RUN_RETRY_MS = 500;

export async function runProbe(probe: Probe, target: ProbeTarget): Promise<ProbeOutcome> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  const prober = probe.httpGet || probe.tcpSocket ? target.prober() : undefined;
  if ((probe.httpGet || probe.tcpSocket) && !prober) return PROBER_NOT_ATTACHED;
  if (probe.httpGet) {
    const port = resolvePort(probe.httpGet.port, target.ports);
    if (port === undefined) return { ok: false, output: `unknown named port ${probe.httpGet.port}` };
    const host = probe.httpGet.host || target.podIp;
    const path = probe.httpGet.path ?? '/';
    const url = new URL(`http://${host}:${port}${path.startsWith('/') ? path : `/${path}`}`);
    const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.32', Accept: '*/*', Connection: 'close' };
    for (const h of probe.httpGet.httpHeaders ?? []) headers[h.name] = h.value;
    try {
      const r = await httpFetch(prober as SocketScope, { url, headers, timeoutMs });
      if (r.status >= 200 && r.status < 400) return { ok: true, output: '' };
      return { ok: false, output: `HTTP probe failed with statuscode: ${r.status}` };
    } catch (e) {
      const f = e as FetchError;
      const why =
        f.kind === 'refused'
          ? `dial tcp ${host}:${port}: connect: connection refused`
          : f.kind === 'timeout'
            ? 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
            : f.message;
      return { ok: false, output: `Get "${url.href}": ${why}` };
    }
  }
  if (probe.tcpSocket) {
    const port = resolvePort(probe.tcpSocket.port, target.ports);
    if (port === undefined) return { ok: false, output: `unknown named port ${probe.tcpSocket.port}` };
    const host = probe.tcpSocket.host || target.podIp;
    return new Promise((resolve) => {
      const socket = (prober as SocketScope).connect(port, host);
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ ok: false, output: `dial tcp ${host}:${port}: i/o timeout` });
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.destroy();
        resolve({ ok: true, output: '' });
      });
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve({
          ok: false,
          output: `dial tcp ${host}:${port}: connect: ${e.code === 'ECONNREFUSED' ? 'connection refused' : (e.code ?? e.message)}`,
        });
      });
    });
  }
  if (probe.exec) {
    const argv = probe.exec.command ?? [];
    if (argv.length === 0) return { ok: false, output: 'exec probe has no command' };
    const r = await target.exec(argv, timeoutMs);
    if (r.status === 0) return { ok: true, output: r.output };
    return {
      ok: false,
      output: r.status === -1 ? `command ${JSON.stringify(argv.join(' '))} timed out` : r.output || `command exited with ${r.status}`,
    };
  }
  return { ok: false, output: 'the probe has no handler (httpGet, tcpSocket or exec)' };
}

/** One probe of one container, run periodically (prober/worker.go). */
export class ProbeWorker {
  readonly kind: ProbeKind;
  #result: boolean;
  #successes = 0;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #running = false;

  constructor(
    kind: ProbeKind,
    readonly probe: Probe,
    readonly target: ProbeTarget,
    readonly onChange: (ok: boolean, output: string) => void,
    readonly onResult: (ok: boolean) => void = () => undefined,
  ) {
    this.kind = kind;
    // results.go: readiness starts as Failure, liveness and startup as Success (they act on failure).
    this.#result = kind !== 'readiness';
  }

  get result(): boolean {
    return this.#result;
  }

  start(): void {
    const delay = (this.probe.initialDelaySeconds ?? 0) * 1000;
    this.#timer = setTimeout(() => this.#tick(), delay);
  }

  async #tick(): Promise<void> {
    if (this.#stopped || this.#running) return;
    this.#running = true;
    let outcome: ProbeOutcome;
    try {
      outcome = await runProbe(this.probe, this.target);
    } catch (e) {
      outcome = { ok: false, output: (e as Error).message };
    }
    this.#running = false;
    if (this.#stopped) return;
    if (outcome.notRun) {
      this.#timer = setTimeout(() => this.#tick(), NOT_RUN_RETRY_MS);
      return;
    }
    this.onResult(outcome.ok);
    if (outcome.ok) {
      this.#failures = 0;
      this.#successes++;
      const threshold = this.kind === 'readiness' ? (this.probe.successThreshold ?? 1) : 1;
      if (!this.#result && this.#successes >= threshold) {
        this.#result = true;
        this.onChange(true, outcome.output);
      }
    } else {
      this.#successes = 0;
      this.#failures++;
      if (this.#result && this.#failures >= (this.probe.failureThreshold ?? 3)) {
        this.#result = false;
        this.onChange(false, outcome.output);
      } else if (!this.#result && this.kind === 'readiness' && this.#failures === (this.probe.failureThreshold ?? 3)) {
        // A readiness probe that never succeeded still reports its failure once (an event).
        this.onChange(false, outcome.output);
      }
    }
    this.#timer = setTimeout(() => this.#tick(), (this.probe.periodSeconds ?? 10) * 1000);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
