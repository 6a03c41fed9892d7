// One HTTP/1.1 request over the pod's emulated TCP (Node's http client with netstack's socket as
// its connection: never a real socket). Shared by curl, wget, the load generator and httpGet probes.
import { isIpv4 } from '@podnet/wire';
import type { SocketScope } from '../runtime/socket-scope.js';

export interface FetchOptions {
  method?: string;
  url: URL;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with each step, for curl -v. */
  onConnected?: (ip: string, port: number) => void;
}

export interface FetchResult {
  status: number;
  statusText: string;
  httpVersion: string;
  rawHeaders: string[];
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  remoteIp: string;
  remotePort: number;
  connectMs: number;
  totalMs: number;
}

export type FetchFailure = 'resolve' | 'refused' | 'timeout' | 'unreachable' | 'reset' | 'aborted';

export class FetchError extends Error {
  constructor(
    readonly kind: FetchFailure,
    message: string,
    readonly elapsedMs: number,
  ) {
    super(message);
  }
}

/** The address a host name stands for: the toolbox has no DNS, only literal IPv4 and localhost. */
export function resolveHost(host: string): string | undefined {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return '127.0.0.1';
  return isIpv4(h) ? h : undefined;
}

export function httpFetch(scope: SocketScope, o: FetchOptions): Promise<FetchResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const host = o.url.hostname;
  const ip = resolveHost(host);
  if (ip === undefined) return Promise.reject(new FetchError('resolve', `Could not resolve host: ${host}`, 0));
  const port = Number(o.url.port || (o.url.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve, reject) => {
    let connectMs = 0;
    let done = false;
    let req: ReturnType<SocketScope['httpRequest']> | undefined;
    const fail = (e: FetchError) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req?.destroy();
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new FetchError('timeout', `timed out after ${o.timeoutMs} milliseconds`, elapsed())),
      o.timeoutMs ?? 300_000,
    );
    const headers: Record<string, string> = { Host: o.url.host, ...o.headers };
    if (o.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(o.body));
    try {
      req = scope.httpRequest(
        { host: ip, port, method: o.method ?? 'GET', path: `${o.url.pathname}${o.url.search}`, headers, setHost: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', () => fail(new FetchError('reset', 'Recv failure: Connection reset by peer', elapsed())));
          res.on('end', () => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            resolve({
              status: res.statusCode ?? 0,
              statusText: res.statusMessage ?? '',
              httpVersion: res.httpVersion,
              rawHeaders: res.rawHeaders,
              headers: res.headers,
              body: Buffer.concat(chunks),
              remoteIp: ip,
              remotePort: port,
              connectMs,
              totalMs: performance.now() - started,
            });
          });
        },
      );
    } catch (e) {
      fail(new FetchError('reset', (e as Error).message, elapsed()));
      return;
    }
    req.on('socket', (socket) => {
      socket.once('connect', () => {
        connectMs = performance.now() - started;
        o.onConnected?.(ip, port);
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? '';
      if (code === 'ECONNREFUSED') fail(new FetchError('refused', "Couldn't connect to server", elapsed()));
      else if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') fail(new FetchError('unreachable', 'No route to host', elapsed()));
      else if (code === 'ETIMEDOUT') fail(new FetchError('timeout', 'Connection timed out', elapsed()));
      else if (done) return;
      else fail(new FetchError('reset', e.message || 'Connection reset by peer', elapsed()));
    });
    o.signal?.addEventListener('abort', () => fail(new FetchError('aborted', 'aborted', elapsed())), { once: true });
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}
