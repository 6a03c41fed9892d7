// API server: watch fan-out and durable write throughput, against a real API server process
// (packages/apiserver/dist/main.js) over HTTPS/WebSocket on 127.0.0.1.
//   fan-out: W WebSocket watchers (protobuf subprotocol, as podnet's components watch) on
//     EndpointSlices while U merge-patches update them (16 in flight); each update carries its
//     send time, so each delivery yields a write-to-delivery delay. Reference: the same run
//     with JSON text frames (the transport kubectl-like clients use).
//   writes: creates/s with the WAL fdatasync on (every reply after its record is on disk),
//     reference the same server with --fsync false (what durability costs).
// Goal: p99 write-to-delivery delay < 50 ms with 100 watchers.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeWatchEvent, WATCH_PROTOBUF_SUBPROTOCOL } from '@podnet/api';
import WebSocket from 'ws';
import { summarize } from '../lib/measure.js';

const mainJs = fileURLToPath(new URL('../../packages/apiserver/dist/main.js', import.meta.url));
const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
const now = () => performance.timeOrigin + performance.now();

async function startServer(extra = []) {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-bench-apiserver-'));
  const proc = spawn(
    process.execPath,
    [mainJs, '--data-dir', dir, '--port', '0', '--log-level', 'error', '--rate-limit', '1000000', ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (https:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    proc.on('exit', (c) => reject(new Error(`apiserver exited (${c})`)));
  });
  const tokens = JSON.parse(readFileSync(join(dir, 'pki', 'tokens.json'), 'utf8'));
  const ca = readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8');
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ca });
  const call = (method, path, body, ct = 'application/json') =>
    new Promise((resolve, reject) => {
      const u = new URL(path, url);
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname + u.search,
          method,
          agent,
          headers: {
            authorization: `Bearer ${tokens.admin}`,
            ...(data ? { 'content-type': ct, 'content-length': Buffer.byteLength(data) } : {}),
          },
        },
        (res) => {
          let t = '';
          res.on('data', (d) => {
            t += d;
          });
          res.on('end', () => (res.statusCode < 300 ? resolve(t) : reject(new Error(`${method} ${path}: ${res.statusCode} ${t}`))));
        },
      );
      req.on('error', reject);
      if (data) req.write(data);
      req.end();
    });
  return {
    url,
    ca,
    token: tokens.admin,
    call,
    async stop() {
      agent.destroy();
      proc.kill('SIGTERM');
      await new Promise((r) => proc.on('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `total` calls of fn(i) with `inFlight` concurrent. */
async function pool(total, inFlight, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) await fn(next++);
    }),
  );
}

async function fanOut(server, { watchers, updates, binary }) {
  const slices = Math.min(100, updates);
  for (let i = 0; i < slices; i++) {
    await server.call('POST', SLICES, {
      metadata: { name: `s-${i}`, labels: { 'kubernetes.io/service-name': `svc-${i}` } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.1.1'], conditions: { ready: true } }],
      ports: [{ port: 8080, protocol: 'TCP' }],
    });
  }
  const delays = [];
  let received = 0;
  let lastAt = 0;
  let done;
  const allDone = new Promise((r) => {
    done = r;
  });
  const expected = watchers * updates;
  const sockets = await Promise.all(
    Array.from({ length: watchers }, () => {
      const ws = new WebSocket(
        `${server.url.replace('https', 'wss')}${SLICES}?watch=true&resourceVersion=${'0'}`,
        binary ? [WATCH_PROTOBUF_SUBPROTOCOL] : [],
        { ca: server.ca, headers: { authorization: `Bearer ${server.token}` } },
      );
      ws.on('message', (data, isBinary) => {
        const ev = isBinary ? decodeWatchEvent(new Uint8Array(data)) : JSON.parse(String(data));
        const t = ev.object.metadata?.annotations?.['bench/t'];
        if (ev.type !== 'MODIFIED' || t === undefined) return;
        const at = now();
        delays.push(at - Number(t));
        received++;
        lastAt = at;
        if (received === expected) done();
      });
      return new Promise((resolve, reject) => {
        ws.on('open', () => resolve(ws));
        ws.on('error', reject);
      });
    }),
  );
  // Let the initial ADDED events drain before timing.
  await new Promise((r) => setTimeout(r, 300));
  const start = now();
  await pool(updates, 16, (i) =>
    server.call(
      'PATCH',
      `${SLICES}/s-${i % slices}`,
      {
        metadata: { annotations: { 'bench/t': String(now()) } },
        endpoints: [{ addresses: [`10.244.${1 + (i % 200)}.${1 + (i % 250)}`], conditions: { ready: true } }],
      },
      'application/merge-patch+json',
    ),
  );
  const timeout = setTimeout(() => done(), 120_000);
  await allDone;
  clearTimeout(timeout);
  for (const ws of sockets) ws.terminate();
  if (received < expected) throw new Error(`fan-out: ${received} of ${expected} events delivered within 120 s`);
  const sorted = delays.sort((a, b) => a - b);
  return {
    eventsPerSecond: received / ((lastAt - start) / 1000),
    p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
    p50: sorted[Math.floor(sorted.length * 0.5)] ?? 0,
  };
}

async function writes(server, n, prefix) {
  const start = now();
  await pool(n, 16, (i) =>
    server.call('POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', {
      metadata: { name: `${prefix}-${i}` },
      spec: { holderIdentity: 'bench' },
    }),
  );
  return n / ((now() - start) / 1000);
}

export async function run({ smoke }) {
  const watchers = smoke ? 5 : 100;
  const updates = smoke ? 50 : 10_000;
  const repetitions = smoke ? 1 : 3;
  const pb = [];
  const js = [];
  for (let r = 0; r < repetitions; r++) {
    for (const [binary, out] of [
      [true, pb],
      [false, js],
    ]) {
      const server = await startServer();
      try {
        out.push(await fanOut(server, { watchers, updates, binary }));
      } finally {
        await server.stop();
      }
    }
  }
  const nWrites = smoke ? 50 : 5000;
  const synced = [];
  const unsynced = [];
  for (let r = 0; r < repetitions; r++) {
    for (const [extra, out] of [
      [[], synced],
      [['--fsync', 'false'], unsynced],
    ]) {
      const server = await startServer(extra);
      try {
        out.push(await writes(server, nWrites, `w${r}`));
      } finally {
        await server.stop();
      }
    }
  }
  const fig = (name, unit, subject, reference, refName, extra = {}) => {
    const a = summarize(subject);
    const b = summarize(reference);
    return {
      name,
      unit,
      value: a.median,
      min: a.min,
      max: a.max,
      reference: { name: refName, value: b.median, min: b.min, max: b.max },
      ratio: a.median / b.median,
      ...extra,
    };
  };
  const p99 = pb.map((x) => x.p99);
  return {
    title: 'API server',
    description: `${watchers} WebSocket watchers of EndpointSlices receive ${updates.toLocaleString('en-US')} updates (merge patches, 16 in flight, WAL fsync on); a real apiserver process on 127.0.0.1, watchers and writers in the bench process.`,
    figures: [
      fig(
        'watch fan-out, events delivered/s (protobuf frames)',
        'events/s',
        pb.map((x) => x.eventsPerSecond),
        js.map((x) => x.eventsPerSecond),
        'JSON text frames',
        { decimals: 0 },
      ),
      fig(
        'write→delivery delay p99 (protobuf frames)',
        'ms',
        p99,
        js.map((x) => x.p99),
        'JSON text frames',
        { decimals: 1, goal: '< 50 ms', met: summarize(p99).median < 50 },
      ),
      fig(
        'write→delivery delay p50 (protobuf frames)',
        'ms',
        pb.map((x) => x.p50),
        js.map((x) => x.p50),
        'JSON text frames',
        { decimals: 1 },
      ),
      fig('durable creates/s (WAL fdatasync, group commit)', 'writes/s', synced, unsynced, 'same server, --fsync false', { decimals: 0 }),
    ],
    notes: [
      'Each figure is the median of the repetitions (3; 1 in smoke). Delays are from the moment the writer sends the PATCH to the moment a watcher decodes the event, so they include the HTTPS request, validation, the WAL fdatasync and the fan-out.',
    ],
  };
}
