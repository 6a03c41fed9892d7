// Shared by the observability tests: Prometheus text parsing, scraping, and a tshark capture of
// the real underlay datagrams on lo (not podnet's own tap), read back field by field (the first,
// outer, occurrence of each field: on port 4789 tshark also dissects the inner VXLAN frame's IP and UDP).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { type PromSample, parsePromText, sumOf } from '../../packages/controllers/src/live-page/prom-text.ts';

const run = promisify(execFile);

export async function scrape(url: string, init?: RequestInit): Promise<PromSample[]> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return parsePromText(await res.text());
}

export { sumOf };

export interface CapturedDatagram {
  frameLen: number;
  src: string;
  dst: string;
  udpLength: number;
  /** The UDP payload (udp.payload). */
  payload: Buffer;
}

export interface Capture {
  stop(): Promise<CapturedDatagram[]>;
}

/** `tshark -i lo -f FILTER -w FILE`, started and ready (it printed "Capturing on"). */
export async function captureLo(filter: string, file: string, probe?: { from: string; to: string; port?: number }): Promise<Capture> {
  // -B 32: a 32 MiB kernel buffer, so a loaded machine does not drop packets before dumpcap reads them.
  const child: ChildProcess = spawn('tshark', ['-i', 'lo', '-B', '32', '-f', filter, '-w', file, '-q'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tshark did not start in 20 s: ${err}`)), 20_000);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('Capturing on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tshark exited with ${code}: ${err}`));
    });
  });
  // "Capturing on" can come before packets are really being written: send probe datagrams between
  // two addresses of the filtered range (never compared) until the file grows.
  if (probe) {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, probe.from, () => r()));
    const initial = existsSync(file) ? statSync(file).size : 0;
    try {
      for (const end = Date.now() + 10_000; ; ) {
        sock.send('podnet-capture-probe', probe.port ?? 9, probe.to);
        await new Promise((r) => setTimeout(r, 100));
        if ((existsSync(file) ? statSync(file).size : 0) > initial) break;
        if (Date.now() > end) throw new Error(`tshark wrote no probe datagram ${probe.from} → ${probe.to} in 10 s: ${err}`);
      }
    } finally {
      sock.close();
    }
  }
  return {
    async stop() {
      // Let dumpcap drain the kernel buffer before it stops: wait until the file has not grown for
      // a second (at most 15 s), then SIGINT (packets still queued at SIGINT would be lost).
      let size = -1;
      let stableSince = Date.now();
      for (const end = Date.now() + 15_000; Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 200));
        const now = existsSync(file) ? statSync(file).size : 0;
        if (now !== size) {
          size = now;
          stableSince = Date.now();
        } else if (Date.now() - stableSince >= 1000) break;
      }
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGINT');
      await exited;
      // tshark reports kernel drops on exit ("N packets dropped"): a capture that lost packets cannot be compared.
      const dropped = /(\d+) packets? dropped/.exec(err);
      if (dropped && Number(dropped[1]) > 0)
        throw new Error(`tshark dropped ${dropped[1]} packets: the capture is incomplete (${err.trim()})`);
      const { stdout } = await run(
        'tshark',
        [
          '-r',
          file,
          '-T',
          'fields',
          '-E',
          'separator=,',
          '-E',
          'occurrence=f',
          '-e',
          'frame.len',
          '-e',
          'ip.src',
          '-e',
          'ip.dst',
          '-e',
          'udp.length',
          '-e',
          'udp.payload',
        ],
        {
          maxBuffer: 64 * 1024 * 1024,
        },
      );
      return stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => {
          const [frameLen, src, dst, udpLength, payload] = l.split(',');
          return {
            frameLen: Number(frameLen),
            src: src as string,
            dst: dst as string,
            udpLength: Number(udpLength),
            payload: Buffer.from(payload ?? '', 'hex'),
          };
        });
    },
  };
}

/**
 * The datagrams a captured UDP packet stands for. A tunnel socket sending with UDP GSO puts a run
 * of datagrams in one packet, and loopback is captured before the kernel cuts it (lo takes GSO
 * packets whole): each piece is `header` bytes (VXLAN 8, host-gw none) + an Ethernet frame whose
 * IPv4 total length says where it ends. Parsed here independently of podnet's own cutter.
 */
export function datagramsOf(captured: CapturedDatagram[], header: number): CapturedDatagram[] {
  const out: CapturedDatagram[] = [];
  for (const c of captured) {
    let at = 0;
    const pieces: Buffer[] = [];
    while (at + header + 18 <= c.payload.length && c.payload.readUInt16BE(at + header + 12) === 0x0800) {
      const length = Math.min(header + 14 + c.payload.readUInt16BE(at + header + 16), c.payload.length - at);
      pieces.push(c.payload.subarray(at, at + length));
      at += length;
    }
    if (pieces.length < 2 || at !== c.payload.length) {
      out.push(c);
      continue;
    }
    // Each piece as if captured alone: Ethernet 14 + IPv4 20 + UDP 8 in front of it.
    for (const p of pieces) out.push({ frameLen: 42 + p.length, src: c.src, dst: c.dst, udpLength: 8 + p.length, payload: p });
  }
  return out;
}

/** Polls until fn returns a value that is not undefined. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Every metric name a PromQL expression reads (label matchers, strings, durations and by-clauses removed). */
export function metricNamesOf(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)) {
    const [, name, call] = m;
    if (call || !name || /^[0-9]/.test(name)) continue;
    if (['by', 'without', 'on', 'ignoring', 'bool', 'and', 'or', 'unless', 'offset', 'le', 'inf', 'nan'].includes(name.toLowerCase()))
      continue;
    names.add(name);
  }
  return [...names];
}
