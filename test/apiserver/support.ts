// Running the real API server process (packages/apiserver/dist/main.js, built by `npm test`'s
// tsc -b) and talking to it over HTTPS with the cluster CA and a token.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '..', '..');
export const mainJs = join(root, 'packages', 'apiserver', 'dist', 'main.js');

export interface ServerProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  stderr: () => string;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
}

/** Stops a server started by startServer (its stderr shown if it wrote any) and removes the directories. */
export async function stopServer(server: ServerProcess | undefined, ...dirs: string[]): Promise<void> {
  if (server?.stderr()) process.stderr.write(`apiserver stderr:\n${server.stderr()}\n`);
  server?.proc.kill('SIGTERM');
  await server?.exited;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** Starts the server; resolves once it printed its URL. Retries a few times if the port is still held. */
export async function startServer(dataDir: string, port = 0, extra: string[] = []): Promise<ServerProcess> {
  for (let attempt = 0; ; attempt++) {
    const proc = spawn(process.execPath, [mainJs, '--data-dir', dataDir, '--port', String(port), '--log-level', 'warn', ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const url = await new Promise<string | undefined>((resolve) => {
      let out = '';
      proc.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (https:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      void exited.then(() => resolve(undefined));
      setTimeout(() => resolve(undefined), 30_000);
    });
    if (url) return { url, port: Number(new URL(url).port), proc, stderr: () => err, exited };
    proc.kill('SIGKILL');
    if (attempt >= 20 || !/EADDRINUSE/.test(err)) throw new Error(`apiserver did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function credentials(dataDir: string): { ca: string; token: string; tokens: Record<string, string> } {
  const tokens = JSON.parse(readFileSync(join(dataDir, 'pki', 'tokens.json'), 'utf8')) as Record<string, string>;
  return { ca: readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8'), token: tokens.admin as string, tokens };
}

export interface ApiResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are open-ended JSON
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTPS request to the server (JSON in, JSON out). */
export function api(
  base: string,
  ca: string,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<ApiResponse> {
  const u = new URL(path, base);
  const data = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        ca,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(data !== undefined ? { 'content-type': contentType, 'content-length': String(Buffer.byteLength(data)) } : {}),
          accept: 'application/json',
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON (metrics text, healthz)
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    if (data !== undefined) req.write(data);
    req.end();
  });
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A stand-in kubelet's TLS material, as a node-agent gets it: an openssl key and CSR, signed by
 * the API server's POST /podnet/v1/kubelet-serving-certificate for `node` at `address`. With
 * `ca`, such a server can also check the API server's apiserver-kubelet-client certificate.
 */
export async function kubeletServingTls(
  base: string,
  ca: string,
  token: string,
  node: string,
  address: string,
): Promise<{ key: string; cert: string; ca: string }> {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const d = mkdtempSync(join(tmpdir(), `podnet-kubelet-tls-${process.pid}-`));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        `/CN=system:node:${node}`,
        '-keyout',
        'k.pem',
        '-out',
        'r.csr',
      ],
      { cwd: d, stdio: 'ignore' },
    );
    const csr = readFileSync(join(d, 'r.csr'), 'utf8');
    const r = await api(base, ca, token, 'POST', '/podnet/v1/kubelet-serving-certificate', { nodeName: node, address, csr });
    if (r.status !== 201) throw new Error(`signing the stand-in kubelet's certificate failed: ${r.status} ${JSON.stringify(r.body)}`);
    return { key: readFileSync(join(d, 'k.pem'), 'utf8'), cert: r.body.certificate as string, ca: r.body.ca as string };
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}
