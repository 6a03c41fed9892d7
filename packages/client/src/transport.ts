// HTTPS to the API server: one keep-alive agent per client (connections are reused, as
// client-go's shared http.Transport does), the cluster CA, a bearer token, and retries with
// back-off. A request is retried only when repeating it cannot apply a change twice:
// - idempotent verbs (GET, PUT with its resourceVersion precondition, DELETE) on connection
//   errors, 429 and 5xx;
// - any verb when the server refused it before acting (429 Too Many Requests, which the podnet
//   and real API servers send before touching storage), or when the connection was refused
//   (the request never left).
// client-go retries the same cases (rest/request.go `Request.request` with `checkWait` on 429 and
// `Retry-After` on 5xx); it honours `Retry-After`, and so does this.
import http from 'node:http';
import https from 'node:https';
import { cryptoRng, type Rng } from '@podnet/wire';
import { Backoff, type BackoffOptions, sleep } from './backoff.js';
import { apiErrorFrom, ClientError, ClientErrorCodes } from './errors.js';

export interface TransportOptions {
  /** https://127.0.0.1:6443 (http:// is accepted for tests of plain servers). */
  server: string;
  caPem?: string;
  token?: string;
  /** Attempts per request including the first. Default 5. */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  rng?: Rng;
  /** Per-attempt timeout, ms. Default 30000. */
  timeoutMs?: number;
  userAgent?: string;
}

export interface RawRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const idempotent = new Set(['GET', 'PUT', 'DELETE']);
const neverSentCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

export class Transport {
  readonly server: URL;
  readonly caPem: string | undefined;
  readonly token: string | undefined;
  readonly #agent: http.Agent;
  readonly #maxAttempts: number;
  readonly #backoffOptions: BackoffOptions;
  readonly #rng: Rng;
  readonly #timeoutMs: number;
  readonly #userAgent: string;

  constructor(options: TransportOptions) {
    let url: URL;
    try {
      url = new URL(options.server);
    } catch {
      throw new ClientError(ClientErrorCodes.USAGE, `server "${options.server}" is not a URL; expected https://HOST:PORT`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new ClientError(ClientErrorCodes.USAGE, `server "${options.server}" must be an https:// URL`);
    }
    this.server = url;
    this.caPem = options.caPem;
    this.token = options.token;
    this.#agent =
      url.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ca: options.caPem, maxSockets: 32 })
        : new http.Agent({ keepAlive: true, maxSockets: 32 });
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#backoffOptions = options.backoff ?? {};
    this.#rng = options.rng ?? cryptoRng;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#userAgent = options.userAgent ?? 'podnet-client/0.1';
  }

  /** The headers every request carries (also used for the WebSocket upgrade). */
  authHeaders(): Record<string, string> {
    const h: Record<string, string> = { 'user-agent': this.#userAgent };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    return h;
  }

  url(path: string, query?: RawRequest['query']): URL {
    const u = new URL(path, this.server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') u.searchParams.set(k, String(v));
    return u;
  }

  /** Sends the request, retrying per the rules above; a non-2xx answer becomes a typed ApiError. */
  async request(req: RawRequest): Promise<RawResponse> {
    const backoff = new Backoff(this.#rng, this.#backoffOptions);
    const what = `${req.method} ${req.path}`;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.#maxAttempts;
      let res: RawResponse;
      try {
        res = await this.#once(req);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (req.signal?.aborted) throw err;
        const retriable = idempotent.has(req.method) || neverSentCodes.has(code);
        if (last || !retriable) {
          throw new ClientError(
            ClientErrorCodes.CONNECTION,
            `${what}: cannot reach the API server at ${this.server.origin} (${code || (err as Error).message}); is it running?`,
            { cause: err },
          );
        }
        await sleep(backoff.next(), req.signal);
        continue;
      }
      if (res.status < 400) return res;
      const retriable = res.status === 429 || (res.status >= 500 && idempotent.has(req.method));
      if (!last && retriable) {
        const retryAfter = Number(res.headers['retry-after']);
        const delay = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 10_000) : backoff.next();
        await sleep(delay, req.signal);
        continue;
      }
      throw apiErrorFrom(res.status, parseBody(res), what);
    }
  }

  /** Sends and parses a JSON answer. */
  async json<T>(req: RawRequest): Promise<T> {
    const res = await this.request({ accept: 'application/json', ...req });
    return parseBody(res) as T;
  }

  #once(req: RawRequest): Promise<RawResponse> {
    const url = this.url(req.path, req.query);
    const payload = req.body === undefined ? undefined : Buffer.from(typeof req.body === 'string' ? req.body : JSON.stringify(req.body));
    const headers: Record<string, string> = { ...this.authHeaders(), accept: req.accept ?? 'application/json' };
    if (payload) {
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<RawResponse>((resolve, reject) => {
      const r = mod.request(url, { method: req.method, headers, agent: this.#agent, signal: req.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      r.setTimeout(this.#timeoutMs, () => r.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
      r.on('error', reject);
      r.end(payload);
    });
  }

  /** Closes the idle keep-alive connections. */
  close(): void {
    this.#agent.destroy();
  }
}

export function parseBody(res: RawResponse): unknown {
  const text = res.body.toString('utf8');
  const type = String(res.headers['content-type'] ?? '');
  if (text === '') return undefined;
  if (type.includes('json') || text.startsWith('{') || text.startsWith('[')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
