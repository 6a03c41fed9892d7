// `podnet exec POD -- CMD ...`: pods/exec through the API server (which proxies it to the pod's
// node-agent on 10250), over WebSocket with the channel protocol kubectl 1.32 speaks
// (v5.channel.k8s.io, then v4; KEP-4006): each binary message starts with a channel byte, 1 stdout,
// 2 stderr, 3 the final metav1.Status (exit code in details.causes[reason=ExitCode]).
import { loadKubeconfig } from '@podnet/client';
import WebSocket from 'ws';
import { ClusterError, ClusterErrorCodes } from './errors.js';

export interface ExecRequest {
  kubeconfig: string;
  namespace: string;
  pod: string;
  container?: string;
  command: string[];
  /** Written to the command's stdin, then closed (v5 close channel). */
  stdin?: string;
  timeoutMs?: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

interface ExecStatus {
  status?: string;
  message?: string;
  reason?: string;
  details?: { causes?: Array<{ reason?: string; message?: string }> };
}

export function exitCodeOf(status: ExecStatus): number {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const n = Number(cause?.message);
  return Number.isInteger(n) ? n : 1;
}

export function podExec(request: ExecRequest, onOutput?: (channel: 1 | 2, chunk: Buffer) => void): Promise<ExecResult> {
  const creds = loadKubeconfig(request.kubeconfig);
  const query = new URLSearchParams();
  for (const word of request.command) query.append('command', word);
  if (request.container) query.set('container', request.container);
  query.set('stdout', 'true');
  query.set('stderr', 'true');
  if (request.stdin !== undefined) query.set('stdin', 'true');
  const url = `${creds.server.replace(/^http/, 'ws')}/api/v1/namespaces/${encodeURIComponent(request.namespace)}/pods/${encodeURIComponent(request.pod)}/exec?${query}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io'], {
      ...(creds.caPem ? { ca: creds.caPem } : {}),
      headers: creds.token ? { Authorization: `Bearer ${creds.token}` } : {},
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let status: ExecStatus | undefined;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(
        new ClusterError(ClusterErrorCodes.REMOTE, `podnet exec: ${request.pod} did not finish within ${request.timeoutMs ?? 60_000} ms`),
      );
    }, request.timeoutMs ?? 60_000);
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        let message = Buffer.concat(chunks).toString('utf8');
        try {
          message = (JSON.parse(message) as { message?: string }).message ?? message;
        } catch {}
        reject(
          new ClusterError(
            res.statusCode === 404 ? ClusterErrorCodes.TARGET : ClusterErrorCodes.REMOTE,
            `podnet exec: ${request.namespace}/${request.pod}: ${message.trim() || `HTTP ${res.statusCode}`}`,
          ),
        );
      });
    });
    ws.on('open', () => {
      if (request.stdin !== undefined) {
        if (request.stdin.length > 0) ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(request.stdin)]));
        if (ws.protocol === 'v5.channel.k8s.io') ws.send(Buffer.from([255, 0]));
      }
    });
    ws.on('message', (data: Buffer) => {
      const channel = data[0];
      const body = data.subarray(1);
      if (channel === 1) {
        out.push(body);
        onOutput?.(1, body);
      } else if (channel === 2) {
        err.push(body);
        onOutput?.(2, body);
      } else if (channel === 3) {
        try {
          status = JSON.parse(body.toString('utf8')) as ExecStatus;
        } catch {
          status = { status: 'Failure', message: body.toString('utf8') };
        }
      }
    });
    ws.on('error', (error) => {
      clearTimeout(timer);
      reject(new ClusterError(ClusterErrorCodes.REMOTE, `podnet exec: cannot reach the API server at ${creds.server}: ${error.message}`));
    });
    ws.on('close', () => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      // A Failure that is not an exit code (the container is not running, ...) is the message kubectl prints.
      const extra =
        status && status.status !== 'Success' && status.reason !== 'NonZeroExitCode' && status.message ? `${status.message}\n` : '';
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: stderr + extra, exitCode: status ? exitCodeOf(status) : 1 });
    });
  });
}
