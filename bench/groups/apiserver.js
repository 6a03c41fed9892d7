// API server: watch fan-out and durable write throughput, against a real API server process
// (packages/apiserver/dist/main.js) over HTTPS/WebSocket on 127.0.0.1.
//   fan-out: W WebSocket watchers (protobuf subprotocol, as podnet's components watch) in a
//     process of their own, on EndpointSlices, while a writer merge-patches them (16 in flight);
//     each update carries its send time, so each delivery yields a write-to-delivery delay.
//     Saturated (as fast as acknowledged) for events/s; paced (an open-loop 250 updates/s) for
//     the delay goal. Reference: the same runs with JSON text frames.
//   writes: creates/s with the WAL fdatasync on (every reply after its record is on disk),
//     reference the same server with --fsync false (what durability costs).
// Goal: p99 write-to-delivery delay < 50 ms with 100 watchers.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize } from '../lib/measure.js';

const mainJs = fileURLToPath(new URL('../../packages/apiserver/dist/main.js', import.meta.url));
const watchersJs = fileURLToPath(new URL('../lib/apiserver-watchers.js', import.meta.url));
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
    caFile: join(dir, 'pki', 'ca.crt'),
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

async function fanOut(server, { watchers, updates, binary, ratePerSecond }) {
  const slices = Math.min(100, updates);
  for (let i = 0; i < slices; i++) {
    await server.call('POST', SLICES, {
      metadata: { name: `s-${i}`, labels: { 'kubernetes.io/service-name': `svc-${i}` } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.1.1'], conditions: { ready: true } }],
      ports: [{ port: 8080, protocol: 'TCP' }],
    });
  }
  const child = spawn(
    process.execPath,
    [watchersJs, server.url, server.caFile, server.token, String(watchers), String(updates), binary ? '1' : '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = [];
  let buf = '';
  let onLine = () => {};
  child.stdout.on('data', (d) => {
    buf += d;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
      onLine();
    }
  });
  const nextLine = () =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (lines.length > 0) resolve(lines.shift());
      };
      onLine = check;
      child.once('exit', (c) => reject(new Error(`watchers exited (${c})`)));
      check();
    });
  if ((await nextLine()) !== 'ready') throw new Error('watchers did not start');
  // Let the initial ADDED events drain before timing.
  await new Promise((r) => setTimeout(r, 300));
  const start = now();
  await pool(updates, 16, async (i) => {
    // Paced runs send update i at start + i/rate (an open-loop load); unpaced ones saturate.
    if (ratePerSecond) {
      const wait = start + (i * 1000) / ratePerSecond - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await server.call(
      'PATCH',
      `${SLICES}/s-${i % slices}`,
      {
        metadata: { annotations: { 'bench/t': String(now()) } },
        endpoints: [{ addresses: [`10.244.${1 + (i % 200)}.${1 + (i % 250)}`], conditions: { ready: true } }],
      },
      'application/merge-patch+json',
    );
  });
  const r = JSON.parse(await nextLine());
  if (r.received < r.expected) throw new Error(`fan-out: ${r.received} of ${r.expected} events delivered within 180 s`);
  return { eventsPerSecond: r.received / ((r.lastAt - start) / 1000), p99: r.p99, p50: r.p50 };
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

export async function run({ smoke, budgetMs = 120_000 }) {
  const watchers = smoke ? 5 : 100;
  const updates = smoke ? 50 : 10_000;
  const pacedUpdates = smoke ? 50 : 2_500;
  const rate = 250;
  const started = now();
  const runs = { pb: [], js: [], pbPaced: [], jsPaced: [] };
  // Up to 3 repetitions, as many as fit in 70% of the group's budget (the writes take the rest):
  // one repetition is about 50 s on a quiet 2-core machine.
  for (let r = 0; r < (smoke ? 1 : 3); r++) {
    const repStarted = now();
    for (const [key, binary, n, ratePerSecond] of [
      ['pb', true, updates, undefined],
      ['js', false, updates, undefined],
      ['pbPaced', true, pacedUpdates, rate],
      ['jsPaced', false, pacedUpdates, rate],
    ]) {
      const server = await startServer();
      try {
        runs[key].push(await fanOut(server, { watchers, updates: n, binary, ratePerSecond }));
      } finally {
        await server.stop();
      }
    }
    const repMs = now() - repStarted;
    if (now() - started + repMs > budgetMs * 0.7) break;
  }
  const repetitions = runs.pb.length;
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
  const pacedP99 = runs.pbPaced.map((x) => x.p99);
  return {
    title: 'API server',
    description: `${watchers} WebSocket watchers of EndpointSlices (in a process of their own) and a writer sending merge-patch updates (16 in flight, WAL fsync on) to a real apiserver process on 127.0.0.1. Saturated: ${updates.toLocaleString('en-US')} updates as fast as they are acknowledged. Paced: ${pacedUpdates.toLocaleString('en-US')} updates at ${rate}/s (${(rate * watchers).toLocaleString('en-US')} deliveries/s), where the write-to-delivery delay is measured against the goal.`,
    figures: [
      fig(
        'saturated fan-out, events delivered/s (protobuf frames)',
        'events/s',
        runs.pb.map((x) => x.eventsPerSecond),
        runs.js.map((x) => x.eventsPerSecond),
        'JSON text frames',
        { decimals: 0 },
      ),
      fig(
        'saturated write→delivery delay p99 (protobuf)',
        'ms',
        runs.pb.map((x) => x.p99),
        runs.js.map((x) => x.p99),
        'JSON text frames',
        { decimals: 1 },
      ),
      fig(
        `paced (${rate} updates/s) write→delivery delay p99 (protobuf)`,
        'ms',
        pacedP99,
        runs.jsPaced.map((x) => x.p99),
        'JSON text frames',
        { decimals: 1, goal: '< 50 ms', met: summarize(pacedP99).median < 50 },
      ),
      fig(
        `paced (${rate} updates/s) write→delivery delay p50 (protobuf)`,
        'ms',
        runs.pbPaced.map((x) => x.p50),
        runs.jsPaced.map((x) => x.p50),
        'JSON text frames',
        { decimals: 1 },
      ),
      fig('durable creates/s (WAL fdatasync, group commit)', 'writes/s', synced, unsynced, 'same server, --fsync false', { decimals: 0 }),
    ],
    notes: [
      `Each figure is the median of ${repetitions} repetition(s) (up to 3, as many as the time budget allows; 1 in smoke), [min–max] their spread. Delays run from the moment the writer sends the PATCH to the moment a watcher has decoded the event: the HTTPS request, validation, the WAL fdatasync and the fan-out.`,
      'Saturated delays grow with the backlog of the single watcher process (100 watchers share one event loop there, while in a cluster each component has its own): they show throughput limits, not the latency a component sees.',
    ],
  };
}
