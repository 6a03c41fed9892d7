// The kubelet's exec over WebSocket (k8s.io/apimachinery httpstream/wsstream and the remotecommand
// protocols, KEP-4006): every binary message starts with a channel byte — 0 stdin, 1 stdout,
// 2 stderr, 3 error (v4+: a metav1.Status JSON with the exit code), 4 resize; v5.channel.k8s.io
// adds 255 "close" (the client's [255, 0] closes stdin). kubectl 1.32 offers v5 first.
import type { WebSocket } from 'ws';
import type { ProcessIo } from '../runtime/process.js';

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const ERROR = 3;
export const RESIZE = 4;
export const CLOSE = 255;

/** Picks the newest protocol both sides speak. */
export function chooseExecProtocol(offered: Set<string>): string | false {
  for (const p of EXEC_PROTOCOLS) if (offered.has(p)) return p;
  return false;
}

/** The status line on channel 3 (remotecommand v4 errorDecoderV4: Success, or NonZeroExitCode with causes[ExitCode]). */
export function exitStatus(argv: string[], exitCode: number): object {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** An async iterable of stdin chunks, fed by channel 0 and ended by the close channel or the socket closing. */
class StdinQueue implements AsyncIterable<Buffer> {
  readonly #chunks: Buffer[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  push(b: Buffer): void {
    this.#chunks.push(b);
    this.#wake?.();
  }
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const next = this.#chunks.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((r) => {
        this.#wake = r;
      });
      this.#wake = undefined;
    }
  }
}

export interface ExecStreams {
  io: ProcessIo;
  /** Sends the exit status (v4+) and closes. */
  finish(exitCode: number): void;
  closed: Promise<void>;
}

export function execStreams(ws: WebSocket, argv: string[], want: { stdin: boolean; stdout: boolean; stderr: boolean }): ExecStreams {
  const protocol = ws.protocol;
  const stdin = want.stdin ? new StdinQueue() : undefined;
  const send = (channel: number, data: string | Buffer) => {
    if (ws.readyState !== ws.OPEN) return;
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    ws.send(Buffer.concat([Buffer.from([channel]), body]));
  };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const buf = isBinary ? data : Buffer.from(data.toString());
    if (buf.length === 0) return;
    const channel = buf[0];
    if (channel === STDIN) stdin?.push(buf.subarray(1));
    else if (channel === CLOSE && protocol === 'v5.channel.k8s.io' && buf[1] === STDIN) stdin?.end();
  });
  const closed = new Promise<void>((resolve) =>
    ws.once('close', () => {
      stdin?.end();
      resolve();
    }),
  );
  return {
    io: {
      stdout: (t) => want.stdout && send(STDOUT, t),
      stderr: (t) => want.stderr && send(STDERR, t),
      ...(stdin ? { stdin } : {}),
    },
    finish(exitCode: number) {
      if (ws.readyState !== ws.OPEN) return;
      const v4 = protocol === 'v4.channel.k8s.io' || protocol === 'v5.channel.k8s.io';
      if (v4) send(ERROR, JSON.stringify(exitStatus(argv, exitCode)));
      else if (exitCode !== 0) send(ERROR, `command terminated with non-zero exit code: exit status ${exitCode}`);
      ws.close(1000);
    },
    closed,
  };
}
