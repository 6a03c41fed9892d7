// The control socket's server side: accepts unix connections, decodes Requests, runs the handler
// of each method (concurrently: a CNI ADD that waits for the podCIDR must not hold up an
// iptables-save) and writes one Response per Request with the request's id.
import { existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { CniAgentError, CniAgentErrorCodes } from '../errors.js';
import { type DecodedRequest, decodeRequest, type ErrorBody, encodeResponse, FrameReader, type Method, type Methods } from './protocol.js';

export type Handlers = { [M in Method]: (body: Methods[M][0]) => Promise<Methods[M][1]> | Methods[M][1] };

/** Turns any thrown value into the wire Error (stable code, message, line/word of iptables errors). */
export function toErrorBody(error: unknown): ErrorBody {
  const e = error as { code?: unknown; message?: unknown; line?: unknown; word?: unknown };
  const body: ErrorBody = {
    code: typeof e?.code === 'string' && e.code.startsWith('PODNET_ERR_') ? e.code : CniAgentErrorCodes.CONTROL,
    message: typeof e?.message === 'string' ? e.message : String(error),
  };
  if (typeof e?.line === 'number') body.line = e.line;
  if (typeof e?.word === 'string') body.word = e.word;
  return body;
}

export class ControlServer {
  readonly path: string;
  readonly #server: net.Server;
  readonly #handlers: Handlers;
  readonly #connections = new Set<net.Socket>();
  readonly #onError: (error: unknown, request: DecodedRequest) => void;

  private constructor(path: string, handlers: Handlers, onError: (error: unknown, request: DecodedRequest) => void) {
    this.path = path;
    this.#handlers = handlers;
    this.#onError = onError;
    this.#server = net.createServer((socket) => this.#serve(socket));
  }

  static async listen(
    path: string,
    handlers: Handlers,
    onError: (error: unknown, request: DecodedRequest) => void = () => {},
  ): Promise<ControlServer> {
    // A socket file left by a killed agent would make listen() fail with EADDRINUSE.
    if (existsSync(path)) unlinkSync(path);
    const s = new ControlServer(path, handlers, onError);
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', (error) =>
        reject(
          new CniAgentError(CniAgentErrorCodes.CONTROL, `cannot listen on control socket ${path}: ${error.message}`, { cause: error }),
        ),
      );
      s.#server.listen(path, () => resolve());
    });
    return s;
  }

  #serve(socket: net.Socket): void {
    this.#connections.add(socket);
    socket.on('close', () => this.#connections.delete(socket));
    socket.on('error', () => socket.destroy());
    const reader = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = reader.push(chunk);
      } catch (error) {
        socket.end(encodeResponse({ id: 0, error: toErrorBody(error) }));
        return;
      }
      for (const f of frames) {
        let request: DecodedRequest;
        try {
          request = decodeRequest(f);
        } catch (error) {
          socket.end(encodeResponse({ id: 0, error: toErrorBody(error) }));
          return;
        }
        void this.#run(socket, request);
      }
    });
  }

  async #run(socket: net.Socket, request: DecodedRequest): Promise<void> {
    let out: Buffer;
    try {
      const handler = this.#handlers[request.method] as (b: unknown) => Promise<unknown> | unknown;
      const body = await handler(request.body);
      out = encodeResponse({ id: request.id, method: request.method, body: body as Methods[Method][1] });
    } catch (error) {
      this.#onError(error, request);
      out = encodeResponse({ id: request.id, error: toErrorBody(error) });
    }
    if (!socket.destroyed) socket.write(out);
  }

  async close(): Promise<void> {
    for (const c of this.#connections) c.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
