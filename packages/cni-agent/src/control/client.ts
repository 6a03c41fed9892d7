// CniAgentClient: the typed client of the node control socket (proto/podnet-node.proto), used by
// the node-agent (CNI calls, pod links), kube-proxy (iptables-restore/-save, conntrack -D) and
// the `podnet` CLI (node exec, trace, capture, status). One unix connection, opened on first use
// and reopened after the cni-agent restarts; requests are pipelined and matched by id.
import net from 'node:net';
import { CniAgentError, CniAgentErrorCodes } from '../errors.js';
import {
  type AttachResponseBody,
  type CaptureStartRequestBody,
  type CaptureStopResponseBody,
  type CniRequestBody,
  type CniResponseBody,
  type ConntrackFilterBody,
  type ConntrackListResponseBody,
  type DecodedResponse,
  decodeResponse,
  type ExecResponseBody,
  encodeRequest,
  FrameReader,
  type IptablesRestoreResponseBody,
  type Method,
  type Methods,
  type StatusResponseBody,
  type TraceResultsResponseBody,
  type TraceStartRequestBody,
} from './protocol.js';

export interface CniAgentClientOptions {
  /** The cni-agent's --control-socket path. */
  socketPath: string;
  /** Per-request deadline (default 30 s; a CNI ADD may wait for the Node's podCIDR). */
  timeoutMs?: number;
}

/** A CNI call as the runtime makes it (CNI_* environment + the config on stdin). */
export interface CniCall {
  containerId: string;
  netns: string;
  ifname?: string;
  /** CNI_ARGS, e.g. 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1'. */
  args?: string;
  /** The network configuration object (or its JSON text). */
  config: object | string;
}

/** The outcome of a CNI call: the parsed result, or the CNI error object. */
export type CniOutcome =
  | { ok: true; result: Record<string, unknown> | undefined }
  | { ok: false; error: { code: number; msg: string; details: string } };

interface Pending {
  resolve: (r: DecodedResponse) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class CniAgentClient {
  readonly socketPath: string;
  readonly #timeoutMs: number;
  #socket: net.Socket | undefined;
  #connecting: Promise<net.Socket> | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #closed = false;

  constructor(options: CniAgentClientOptions | string) {
    const o = typeof options === 'string' ? { socketPath: options } : options;
    this.socketPath = o.socketPath;
    this.#timeoutMs = o.timeoutMs ?? 30_000;
  }

  #connect(): Promise<net.Socket> {
    if (this.#socket && !this.#socket.destroyed) return Promise.resolve(this.#socket);
    if (this.#connecting) return this.#connecting;
    this.#connecting = new Promise<net.Socket>((resolve, reject) => {
      const socket = net.createConnection(this.socketPath);
      const reader = new FrameReader();
      socket.once('connect', () => {
        this.#socket = socket;
        this.#connecting = undefined;
        resolve(socket);
      });
      socket.on('data', (chunk: Buffer) => {
        let frames: Buffer[];
        try {
          frames = reader.push(chunk);
        } catch (error) {
          socket.destroy(error as Error);
          return;
        }
        for (const f of frames) {
          let response: DecodedResponse;
          try {
            response = decodeResponse(f);
          } catch {
            continue;
          }
          const p = this.#pending.get(response.id);
          if (!p) continue;
          this.#pending.delete(response.id);
          clearTimeout(p.timer);
          p.resolve(response);
        }
      });
      socket.on('error', (error) => {
        if (this.#connecting) {
          this.#connecting = undefined;
          reject(
            new CniAgentError(
              CniAgentErrorCodes.CONTROL_UNREACHABLE,
              `cannot reach the cni-agent control socket ${this.socketPath}: ${error.message}. Is the cni-agent running on this node?`,
              { cause: error },
            ),
          );
        }
      });
      socket.on('close', () => {
        if (this.#socket === socket) this.#socket = undefined;
        // Requests in flight on a broken connection fail; the next request reconnects.
        for (const [id, p] of this.#pending) {
          if ((p as Pending & { socket?: net.Socket }).socket !== socket) continue;
          this.#pending.delete(id);
          clearTimeout(p.timer);
          p.reject(
            new CniAgentError(CniAgentErrorCodes.CONTROL, `the cni-agent closed the control socket ${this.socketPath} before answering`),
          );
        }
      });
    });
    return this.#connecting;
  }

  /** One request; resolves with the response body, rejects with a CniAgentError (code, line, word). */
  async request<M extends Method>(method: M, body: Methods[M][0], options: { timeoutMs?: number } = {}): Promise<Methods[M][1]> {
    if (this.#closed) throw new CniAgentError(CniAgentErrorCodes.CONTROL, 'CniAgentClient is closed');
    const socket = await this.#connect();
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const response = await new Promise<DecodedResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new CniAgentError(
            CniAgentErrorCodes.CONTROL_TIMEOUT,
            `cni-agent did not answer ${method} within ${timeoutMs} ms (${this.socketPath})`,
          ),
        );
      }, timeoutMs);
      const pending: Pending & { socket: net.Socket } = { resolve, reject, timer, socket };
      this.#pending.set(id, pending);
      socket.write(encodeRequest(id, method, body));
    });
    if (response.error) {
      const e = response.error;
      const opts: { line?: number; word?: string } = {};
      if (e.line !== undefined) opts.line = e.line;
      if (e.word !== undefined) opts.word = e.word;
      throw new CniAgentError(e.code || CniAgentErrorCodes.CONTROL, e.message, opts);
    }
    if (response.method !== method) {
      throw new CniAgentError(CniAgentErrorCodes.CONTROL, `cni-agent answered ${method} with ${response.method ?? 'nothing'}`);
    }
    return response.body as Methods[M][1];
  }

  // ---- CNI ------------------------------------------------------------------------------------

  /** The raw CNI call: the result JSON text or the CNI error, as a plugin would print them. */
  cni(request: CniRequestBody, options?: { timeoutMs?: number }): Promise<CniResponseBody> {
    return this.request('cni', request, options);
  }

  async #cniCall(command: string, call: CniCall): Promise<CniOutcome> {
    const r = await this.cni({
      command,
      containerId: call.containerId,
      netns: call.netns,
      ifname: call.ifname ?? 'eth0',
      args: call.args ?? '',
      config: typeof call.config === 'string' ? call.config : JSON.stringify(call.config),
    });
    if (r.cniError) return { ok: false, error: { code: r.cniError.code, msg: r.cniError.msg, details: r.cniError.details ?? '' } };
    return { ok: true, result: r.result ? (JSON.parse(r.result) as Record<string, unknown>) : undefined };
  }

  add(call: CniCall): Promise<CniOutcome> {
    return this.#cniCall('ADD', call);
  }
  del(call: CniCall): Promise<CniOutcome> {
    return this.#cniCall('DEL', call);
  }
  check(call: CniCall): Promise<CniOutcome> {
    return this.#cniCall('CHECK', call);
  }
  async version(): Promise<{ cniVersion: string; supportedVersions: string[] }> {
    const r = await this.cni({ command: 'VERSION', config: '' });
    if (r.cniError) throw new CniAgentError(CniAgentErrorCodes.CNI, r.cniError.msg);
    return JSON.parse(r.result ?? '{}') as { cniVersion: string; supportedVersions: string[] };
  }

  /** Where the pod's eth0 connects (after ADD). */
  attach(containerId: string, ifname = 'eth0'): Promise<AttachResponseBody> {
    return this.request('attach', { containerId, ifname });
  }

  // ---- netfilter --------------------------------------------------------------------------------

  /** iptables-restore, atomically: all or nothing; a refusal rejects with line and word. */
  iptablesRestore(
    payload: string,
    options: { noflush?: boolean; test?: boolean; counters?: boolean } = {},
  ): Promise<IptablesRestoreResponseBody> {
    return this.request('iptablesRestore', { payload, ...options });
  }

  async iptablesSave(options: { table?: string; counters?: boolean } = {}): Promise<string> {
    return (await this.request('iptablesSave', options)).text;
  }

  /** A node command line (`iptables -t nat -S`, `ip route`, `bridge fdb show`, `conntrack -L`, ...). */
  exec(argv: readonly string[], stdin = ''): Promise<ExecResponseBody> {
    return this.request('exec', { argv: [...argv], stdin });
  }

  /** `iptables ARGS...`: the output, or a CniAgentError with the tool's message on a non-zero exit. */
  async iptables(args: readonly string[]): Promise<string> {
    const r = await this.exec(['iptables', ...args]);
    if (r.exitCode !== 0) throw new CniAgentError(CniAgentErrorCodes.EXEC, r.stderr.trim() || `iptables exited with ${r.exitCode}`);
    return r.stdout;
  }

  conntrackList(filter: ConntrackFilterBody = {}): Promise<ConntrackListResponseBody> {
    return this.request('conntrackList', { filter });
  }

  /** conntrack -D with a filter (kube-proxy's ConntrackFilter fits); resolves with the number deleted. */
  async conntrackDelete(filter: ConntrackFilterBody): Promise<number> {
    return (await this.request('conntrackDelete', { filter })).deleted;
  }

  /**
   * The three callbacks kube-proxy's IptablesProxier takes, typed as it wants them:
   * `new IptablesProxier({ ...agent.proxierHooks(), hostname, nodeIP, ... })`.
   */
  proxierHooks(): {
    apply: (payload: string, options: { noflush: boolean }) => Promise<void>;
    iptablesSave: () => Promise<string>;
    deleteConntrack: (filter: ConntrackFilterBody) => Promise<void>;
  } {
    return {
      apply: async (payload, options) => {
        await this.iptablesRestore(payload, { noflush: options.noflush });
      },
      iptablesSave: () => this.iptablesSave(),
      deleteConntrack: async (filter) => {
        await this.conntrackDelete(filter);
      },
    };
  }

  // ---- observability ------------------------------------------------------------------------------

  async traceStart(filter: TraceStartRequestBody): Promise<string> {
    return (await this.request('traceStart', filter)).traceId;
  }
  traceResults(traceId: string, stop = false): Promise<TraceResultsResponseBody> {
    return this.request('traceResults', { traceId, stop });
  }
  async captureStart(request: CaptureStartRequestBody): Promise<string> {
    return (await this.request('captureStart', request)).captureId;
  }
  captureStop(captureId: string): Promise<CaptureStopResponseBody> {
    return this.request('captureStop', { captureId });
  }
  status(): Promise<StatusResponseBody> {
    return this.request('status', {});
  }

  close(): void {
    this.#closed = true;
    this.#socket?.destroy();
    this.#socket = undefined;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new CniAgentError(CniAgentErrorCodes.CONTROL, 'CniAgentClient closed'));
    }
    this.#pending.clear();
  }
}
