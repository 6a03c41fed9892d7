// GET /containerLogs/{namespace}/{pod}/{container} (pkg/kubelet/server/server.go getContainerLogs,
// kuberuntime_logs.go ReadLogs): the CRI log file's content, with `timestamps`, `tailLines`,
// `limitBytes`, `sinceSeconds`, `previous`, and `follow` (new lines as they are written, until
// that container instance has exited and everything was sent, or the client leaves).
import { existsSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { parseCriLine } from '../runtime/cri-log.js';
import type { PodRuntime } from '../runtime/pod-runtime.js';

export class LogRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface LogOptions {
  follow: boolean;
  timestamps: boolean;
  previous: boolean;
  tailLines?: number;
  limitBytes?: number;
  sinceSeconds?: number;
}

export function parseLogQuery(q: URLSearchParams): LogOptions {
  const bool = (k: string) => q.get(k) === 'true' || q.get(k) === '1';
  const int = (k: string): number | undefined => {
    const v = q.get(k);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new LogRequestError(400, `${k}=${v}: must be a non-negative integer`);
    return n;
  };
  const o: LogOptions = { follow: bool('follow'), timestamps: bool('timestamps'), previous: bool('previous') };
  const tail = int('tailLines');
  if (tail !== undefined) o.tailLines = tail;
  const limit = int('limitBytes');
  if (limit !== undefined) o.limitBytes = limit;
  const since = int('sinceSeconds');
  if (since !== undefined) o.sinceSeconds = since;
  return o;
}

function render(line: string, o: LogOptions, sinceIso: string | undefined): string | undefined {
  const p = parseCriLine(line);
  if (!p) return undefined;
  if (sinceIso !== undefined && p.timestamp < sinceIso) return undefined;
  return `${o.timestamps ? `${p.timestamp} ` : ''}${p.content}${p.partial ? '' : '\n'}`;
}

export async function serveContainerLogs(rt: PodRuntime, container: string, o: LogOptions, res: ServerResponse): Promise<void> {
  const info = rt.logInfo(container);
  if (!info) throw new LogRequestError(400, `container ${container} is not valid for pod ${rt.name}`);
  let restart = info.restartCount;
  if (o.previous) {
    if (restart === 0) throw new LogRequestError(400, `previous terminated container "${container}" in pod "${rt.name}" not found`);
    restart -= 1;
  }
  const path = rt.logPath(container, restart);
  if (!existsSync(path)) {
    const status = rt.status().containerStatuses?.find((c) => c.name === container);
    const reason = status?.state.waiting?.reason ?? 'ContainerCreating';
    const pull = reason === 'ErrImagePull' || reason === 'ImagePullBackOff' ? ': trying and failing to pull image' : `: ${reason}`;
    throw new LogRequestError(400, `container "${container}" in pod "${rt.name}" is waiting to start${pull}`);
  }
  const sinceIso = o.sinceSeconds !== undefined ? new Date(Date.now() - o.sinceSeconds * 1000).toISOString() : undefined;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
  let sent = 0;
  const emit = (text: string): boolean => {
    if (o.limitBytes !== undefined) {
      if (sent >= o.limitBytes) return false;
      text = text.slice(0, o.limitBytes - sent);
    }
    sent += Buffer.byteLength(text);
    res.write(text);
    return o.limitBytes === undefined || sent < o.limitBytes;
  };
  const fh = await open(path, 'r');
  try {
    let offset = 0;
    let carry = '';
    const readMore = async (): Promise<string[]> => {
      const size = statSync(path).size;
      if (size <= offset) return [];
      const buf = Buffer.alloc(size - offset);
      await fh.read(buf, 0, buf.length, offset);
      offset = size;
      const text = carry + buf.toString('utf8');
      const lines = text.split('\n');
      carry = lines.pop() ?? '';
      return lines;
    };
    let lines = await readMore();
    if (o.tailLines !== undefined) lines = o.tailLines === 0 ? [] : lines.slice(-o.tailLines);
    for (const l of lines) {
      const r = render(l, o, sinceIso);
      if (r !== undefined && !emit(r)) return;
    }
    if (!o.follow) return;
    const instance = o.previous ? undefined : info.process;
    let clientGone = false;
    res.once('close', () => {
      clientGone = true;
    });
    // Follow: poll for appended lines while the instance runs; drain once after it exits.
    while (!clientGone) {
      const stillRunning = instance?.running ?? false;
      for (const l of await readMore()) {
        const r = render(l, o, sinceIso);
        if (r !== undefined && !emit(r)) return;
      }
      if (!stillRunning) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await fh.close();
    res.end();
  }
}
