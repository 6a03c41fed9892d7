// The kubelet server on <transport-address>:10250 (pkg/kubelet/server/server.go): HTTPS with a
// serving certificate signed by the cluster CA; /healthz, /metrics, /pods, /containerLogs/{ns}/{pod}/{container},
// /exec/{ns}/{pod}/{container} (WebSocket channel protocol, v5 and v4), and podnet's control
// entries `POST /podnet/kill/{ns}/{pod}` and `POST /podnet/kill-node` (bearer token of the node).
// The same handler serves the node-agent's control unix socket (file mode 0600: who can open it
// is authenticated by the filesystem), where no token is needed.
// Authentication (kubelet --anonymous-auth=false, pkg/kubelet/server/auth.go): every TCP request
// but /healthz needs either a client certificate chaining to the cluster CA with the subject CN
// `apiserver-kubelet-client` (the API server's --kubelet-client-certificate; kubelet
// --client-ca-file), the node's own bearer token, or another bearer token that the API server
// authenticates (TokenReview) and authorizes for the request's attributes (SubjectAccessReview:
// kubelet-auth.ts; kubelet --authentication-token-webhook --authorization-mode=Webhook). Else 401
// (not authenticated) or 403 (authenticated, not allowed); 503 when no decision can be had.
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '@podnet/client';
import type { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import type { PodRuntime } from '../runtime/pod-runtime.js';
import { LogRequestError, parseLogQuery, serveContainerLogs } from './container-logs.js';
import { chooseExecProtocol, execStreams } from './exec-stream.js';
import { forbiddenMessage, kubeletRequestAttributes, ReviewUnavailableError, type WebhookAuth } from './kubelet-auth.js';

export interface KubeletBackend {
  node: string;
  findPod(namespace: string, name: string): PodRuntime | undefined;
  pods(): PodRuntime[];
  /** Kills the pod's containers at once; the number killed. */
  killPod(namespace: string, name: string): number;
  /** Stops the whole node (children SIGKILLed) — the process exits. */
  killNode(): void;
  registry: Registry;
  /** Accepted bearer tokens for the control entries on the TCP port. */
  controlTokens: string[];
  /** Accepted bearer tokens for the kubelet API (logs, exec, pods, metrics); default controlTokens. */
  apiTokens?: string[];
}

/** The subject CN of the API server's client certificate (kubeadm's apiserver-kubelet-client). */
export const KUBELET_CLIENT_CN = 'apiserver-kubelet-client';

const UNAUTHORIZED_MESSAGE =
  'Unauthorized: the kubelet API needs the API server\'s client certificate (CN=apiserver-kubelet-client, signed by the cluster CA) or "Authorization: Bearer <token>" with a token the API server authenticates (TokenReview); use kubectl logs/exec through the API server';

/** Why a request is refused: the HTTP status, the Status reason and message. */
interface Refusal {
  code: 401 | 403 | 503;
  reason: 'Unauthorized' | 'Forbidden' | 'ServiceUnavailable';
  message: string;
}

export interface KubeletServerOptions {
  host: string;
  port: number;
  /** Serving certificate and the cluster CA that client certificates must chain to. */
  tls: { certPem: string; keyPem: string; caPem?: string };
  controlSocket?: string;
  backend: KubeletBackend;
  log: Logger;
  /**
   * Delegated authentication and authorization of other bearer tokens (TokenReview and
   * SubjectAccessReview to the API server). Without it only the node's own tokens are accepted.
   */
  webhook?: WebhookAuth;
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  if (!res.headersSent) res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(body);
}

function segments(url: URL): string[] {
  return url.pathname
    .split('/')
    .filter((s) => s !== '')
    .map((s) => decodeURIComponent(s));
}

export class KubeletServer {
  readonly #o: KubeletServerOptions;
  #server: https.Server | undefined;
  #control: http.Server | undefined;
  readonly #wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => chooseExecProtocol(p) });
  port = 0;

  constructor(o: KubeletServerOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    const server = https.createServer(
      {
        cert: this.#o.tls.certPem,
        key: this.#o.tls.keyPem,
        // Ask for a client certificate but let the TLS handshake succeed without one: a bearer
        // token is the other way in, and an unauthenticated client gets a 401 Status, not a
        // TLS alert (as the kubelet: tls.RequestClientCert, then its authenticator decides).
        ...(this.#o.tls.caPem ? { ca: this.#o.tls.caPem, requestCert: true, rejectUnauthorized: false } : {}),
      },
      (req, res) => void this.#handle(req, res, false),
    );
    server.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port, this.#o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    this.port = typeof a === 'object' && a ? a.port : this.#o.port;
    this.#server = server;
    if (this.#o.controlSocket) {
      if (existsSync(this.#o.controlSocket)) unlinkSync(this.#o.controlSocket);
      const control = http.createServer((req, res) => void this.#handle(req, res, true));
      await new Promise<void>((resolve, reject) => {
        control.once('error', reject);
        control.listen(this.#o.controlSocket, () => resolve());
      });
      chmodSync(this.#o.controlSocket, 0o600);
      this.#control = control;
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse, trusted: boolean): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const seg = segments(url);
    const b = this.#o.backend;
    try {
      if (seg[0] === 'healthz' && seg.length === 1) {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
        return;
      }
      if (seg[0] !== 'podnet' && !trusted) {
        const refused = await this.#check(req, url.pathname);
        if (refused) return status(res, refused.code, refused.reason, refused.message);
      }
      if (seg[0] === 'metrics' && seg.length === 1) {
        res.writeHead(200, { 'Content-Type': b.registry.contentType });
        res.end(await b.registry.metrics());
        return;
      }
      if (seg[0] === 'pods' && seg.length === 1) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            kind: 'PodList',
            apiVersion: 'v1',
            metadata: {},
            items: b.pods().map((p) => ({ ...p.pod, status: p.status() })),
          }),
        );
        return;
      }
      if (seg[0] === 'containerLogs' && seg.length === 4 && req.method === 'GET') {
        const [, ns, name, container] = seg as [string, string, string, string];
        const rt = b.findPod(ns, name);
        if (!rt) return status(res, 404, 'NotFound', `pod "${name}" in namespace "${ns}" is not running on node ${b.node}`);
        await serveContainerLogs(rt, container, parseLogQuery(url.searchParams), res);
        return;
      }
      if (seg[0] === 'podnet') {
        if (req.method !== 'POST') return status(res, 405, 'MethodNotAllowed', `${req.method} ${url.pathname}: use POST`);
        if (!trusted && !this.#authorized(req))
          return status(
            res,
            401,
            'Unauthorized',
            'the node-agent control entries need "Authorization: Bearer <node-agent token>" (or its control socket)',
          );
        if (seg[1] === 'kill' && seg.length === 4) {
          const [, , ns, name] = seg as [string, string, string, string];
          if (!b.findPod(ns, name))
            return status(res, 404, 'NotFound', `pod "${name}" in namespace "${ns}" is not running on node ${b.node}`);
          const killed = b.killPod(ns, name);
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ pod: `${ns}/${name}`, node: b.node, containersKilled: killed }));
          return;
        }
        if (seg[1] === 'kill-node' && seg.length === 2) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ node: b.node, killed: true }), () => setImmediate(() => b.killNode()));
          return;
        }
      }
      if (seg[0] === 'exec')
        return status(
          res,
          400,
          'BadRequest',
          'exec needs a WebSocket upgrade (Sec-WebSocket-Protocol v5.channel.k8s.io or v4.channel.k8s.io)',
        );
      status(
        res,
        404,
        'NotFound',
        `${url.pathname}: not found (the node-agent serves /healthz, /metrics, /pods, /containerLogs/NS/POD/CONTAINER, /exec/NS/POD/CONTAINER)`,
      );
    } catch (e) {
      if (e instanceof LogRequestError) return status(res, e.status, 'BadRequest', e.message);
      this.#o.log.error({ err: (e as Error).message, url: url.pathname }, 'kubelet server request failed');
      if (!res.headersSent) status(res, 500, 'InternalError', (e as Error).message);
      else res.end();
    }
  }

  #authorized(req: IncomingMessage): boolean {
    const h = req.headers.authorization ?? '';
    const token = h.startsWith('Bearer ') ? h.slice(7).trim() : '';
    return token !== '' && this.#o.backend.controlTokens.includes(token);
  }

  /** The API server's client certificate, or a bearer token of this node. */
  #trustedIdentity(req: IncomingMessage, token: string | undefined): boolean {
    const tls = req.socket as TLSSocket;
    if (tls.authorized && typeof tls.getPeerCertificate === 'function') {
      const cn = tls.getPeerCertificate().subject?.CN;
      if ((Array.isArray(cn) ? cn[0] : cn) === KUBELET_CLIENT_CN) return true;
    }
    const accepted = this.#o.backend.apiTokens ?? this.#o.backend.controlTokens;
    return token !== undefined && accepted.includes(token);
  }

  /**
   * Authenticates and authorizes a kubelet API request (auth.go InstallAuthFilter): undefined when
   * it may go on, else why not. The node's own identities skip the reviews; every other bearer
   * token is reviewed by the API server, and a review that fails refuses the request.
   */
  async #check(req: IncomingMessage, path: string): Promise<Refusal | undefined> {
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (this.#trustedIdentity(req, token)) return undefined;
    const webhook = this.#o.webhook;
    if (token === undefined || !webhook) return { code: 401, reason: 'Unauthorized', message: UNAUTHORIZED_MESSAGE };
    const attrs = kubeletRequestAttributes(req.method ?? 'GET', path, this.#o.backend.node);
    try {
      const user = await webhook.authenticate(token);
      if (!user) return { code: 401, reason: 'Unauthorized', message: UNAUTHORIZED_MESSAGE };
      const decision = await webhook.authorize(user, attrs);
      if (decision.allowed) return undefined;
      const message = forbiddenMessage(user.username, attrs);
      this.#o.log.info({ user: user.username, path, reason: decision.reason }, message);
      return { code: 403, reason: 'Forbidden', message };
    } catch (e) {
      if (!(e instanceof ReviewUnavailableError)) throw e;
      // Fail closed (the kubelet answers 401 when authentication errs and 500 when authorization
      // does); here one status for both that says what to fix.
      this.#o.log.warn({ err: e.message, path }, 'kubelet API request refused: no review from the API server');
      return {
        code: 503,
        reason: 'ServiceUnavailable',
        message: `${e.code}: cannot check the bearer token with the API server (${e.message}); the node's own token and the API server's client certificate still work`,
      };
    }
  }

  #reject(socket: Duplex, code: number, message: string): void {
    const reason =
      code === 401
        ? 'Unauthorized'
        : code === 403
          ? 'Forbidden'
          : code === 503
            ? 'ServiceUnavailable'
            : code === 404
              ? 'NotFound'
              : code === 400
                ? 'BadRequest'
                : undefined;
    const body = JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      ...(reason ? { reason } : {}),
      code,
    });
    socket.end(
      `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    socket.on('error', () => socket.destroy());
    this.#check(req, url.pathname).then(
      (refused) => {
        if (refused) this.#reject(socket, refused.code, refused.message);
        else this.#upgradeAllowed(req, socket, head, url);
      },
      (e) => {
        this.#o.log.error({ err: (e as Error).message, url: url.pathname }, 'kubelet server upgrade failed');
        this.#reject(socket, 500, (e as Error).message);
      },
    );
  }

  #upgradeAllowed(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): undefined {
    const seg = segments(url);
    if (seg[0] !== 'exec' || seg.length !== 4)
      return void this.#reject(socket, 404, `${url.pathname}: no WebSocket endpoint here (use /exec/NS/POD/CONTAINER)`);
    const [, ns, name, container] = seg as [string, string, string, string];
    const rt = this.#o.backend.findPod(ns, name);
    if (!rt) return void this.#reject(socket, 404, `pod "${name}" in namespace "${ns}" is not running on node ${this.#o.backend.node}`);
    if (!rt.containerNames().includes(container))
      return void this.#reject(socket, 400, `container ${container} is not valid for pod ${name}`);
    const argv = url.searchParams.getAll('command');
    if (argv.length === 0) return void this.#reject(socket, 400, 'you must specify at least one command for the container');
    const q = (k: string) => url.searchParams.get(k) === 'true' || url.searchParams.get(k) === '1';
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((s) => s.trim());
    if (!chooseExecProtocol(new Set(offered)))
      return void this.#reject(
        socket,
        400,
        `no supported exec subprotocol in [${offered.join(', ')}]; use v5.channel.k8s.io or v4.channel.k8s.io`,
      );
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const streams = execStreams(ws, argv, {
        stdin: q('stdin'),
        stdout: q('stdout') || !url.searchParams.has('stdout'),
        stderr: q('stderr') || !url.searchParams.has('stderr'),
      });
      this.#o.log.info({ pod: `${ns}/${name}`, container, argv }, 'exec');
      void rt.exec(container, argv, streams.io).then(
        (r) => {
          if (r.status === 126 && r.output) streams.io.stderr(`${r.output}\n`);
          streams.finish(r.status);
        },
        (e) => {
          streams.io.stderr(`${(e as Error).message}\n`);
          streams.finish(1);
        },
      );
    });
  }

  async close(): Promise<void> {
    for (const c of this.#wss.clients) c.terminate();
    const closing = Promise.all([
      new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r())),
      new Promise<void>((r) => (this.#control ? this.#control.close(() => r()) : r())),
    ]);
    this.#server?.closeAllConnections();
    await closing;
  }
}
