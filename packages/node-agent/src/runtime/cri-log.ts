// Container logs in the kubelet's CRI format (kubernetes/cri-api, pkg/kubelet/kuberuntime/logs):
// one line per output line, `<RFC3339Nano timestamp> <stdout|stderr> <P|F> <content>`; P marks a
// partial line (a line longer than 16 KiB is split, as containerd does), F a full one. Files live
// at <data-dir>/pods/<namespace>_<pod>_<uid>/<container>/<restartCount>.log (as /var/log/pods).
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const MAX_LINE = 16 * 1024;

/** RFC 3339 with nanoseconds, as Go's time.RFC3339Nano with 9 digits (containerd's timestampFormat). */
export function rfc3339Nano(d: Date, extraMicros = 0): string {
  const micros = String(d.getUTCMilliseconds() * 1000 + extraMicros).padStart(6, '0');
  return `${d.toISOString().slice(0, 19)}.${micros}000Z`;
}

export function containerLogPath(
  dataDir: string,
  namespace: string,
  pod: string,
  uid: string,
  container: string,
  restartCount: number,
): string {
  return join(dataDir, 'pods', `${namespace}_${pod}_${uid}`, container, `${restartCount}.log`);
}

export class CriLogWriter {
  readonly path: string;
  readonly #partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  /** The last lines written, for terminated.message (terminationMessagePolicy FallbackToLogsOnError). */
  readonly tail: string[] = [];
  #seq = 0;

  constructor(path: string) {
    this.path = path;
    mkdirSync(dirname(path), { recursive: true });
    if (!existsSync(path)) appendFileSync(path, '');
  }

  write(stream: 'stdout' | 'stderr', data: string | Buffer): void {
    const text = this.#partial[stream] + (typeof data === 'string' ? data : data.toString('utf8'));
    const lines = text.split('\n');
    this.#partial[stream] = lines.pop() ?? '';
    let out = '';
    for (const line of lines) out += this.#format(stream, line, 'F');
    while (this.#partial[stream].length > MAX_LINE) {
      out += this.#format(stream, this.#partial[stream].slice(0, MAX_LINE), 'P');
      this.#partial[stream] = this.#partial[stream].slice(MAX_LINE);
    }
    if (out) appendFileSync(this.path, out);
  }

  #format(stream: string, line: string, tag: 'P' | 'F'): string {
    if (tag === 'F') {
      this.tail.push(line);
      if (this.tail.length > 20) this.tail.shift();
    }
    // Distinct timestamps keep lines in order for `--timestamps` readers even within one ms.
    return `${rfc3339Nano(new Date(), this.#seq++ % 1000)} ${stream} ${tag} ${line}\n`;
  }

  /** The process exited: whatever it wrote without a final newline becomes a full line. */
  flush(): void {
    let out = '';
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.#partial[s] !== '') out += this.#format(s, this.#partial[s], 'F');
      this.#partial[s] = '';
    }
    if (out) appendFileSync(this.path, out);
  }
}

export interface CriLogLine {
  timestamp: string;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  content: string;
}

export function parseCriLine(line: string): CriLogLine | undefined {
  const m = /^(\S+) (stdout|stderr) ([PF]) (.*)$/s.exec(line);
  if (!m) return undefined;
  return { timestamp: m[1] as string, stream: m[2] as 'stdout' | 'stderr', partial: m[3] === 'P', content: m[4] as string };
}

export function readCriLog(path: string): CriLogLine[] {
  if (!existsSync(path)) return [];
  const out: CriLogLine[] = [];
  for (const l of readFileSync(path, 'utf8').split('\n')) {
    const p = parseCriLine(l);
    if (p) out.push(p);
  }
  return out;
}
