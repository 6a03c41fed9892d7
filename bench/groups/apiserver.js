// API server: watch fan-out and durable write throughput, against a real API server process
// (packages/apiserver/dist/main.js) over HTTPS/WebSocket on 127.0.0.1.
//   fan-out: W WebSocket watchers (protobuf subprotocol, as podnet's components watch) in a
//     process of their own, on EndpointSlices, while a writer merge-patches them (16 in flight);
//     each update carries its send time, so each delivery yields a write-to-delivery delay.
//     Saturated (as fast as acknowledged) for events/s, against the same run with JSON text
//     frames; paced (open loop, 250/s and 100/s) for the delay goal, against the write's own
//     PATCH→200 latency. Every run records the CPU time of the server, the watcher process and
//     the writer, their event-loop delays, and the machine's load average (the bench shares
//     2 cores with whatever else runs: a load above 2 means the tails measure that too).
//   writes: creates/s with the WAL fdatasync on (every reply after its record is on disk),
//     reference the same server with --fsync false (what durability costs).
// Goal (issue 5): p99 write-to-delivery delay < 50 ms with 100 watchers and 10,000 updates.
// fanOut and startServer are exported for ad-hoc runs (e.g. with --cpu-prof in nodeArgs).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize } from '../lib/measure.js';

const mainJs = fileURLToPath(new URL('../../packages/apiserver/dist/main.js', import.meta.url));
const watchersJs = fileURLToPath(new URL('../lib/apiserver-watchers.js', import.meta.url));
const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
const now = () => performance.timeOrigin + performance.now();

export async function startServer(extra = [], { nodeArgs = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-bench-apiserver-'));
  const proc = spawn(
    process.execPath,
    [...nodeArgs, mainJs, '--data-dir', dir, '--port', '0', '--log-level', 'error', '--rate-limit', '1000000', ...extra],
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
    pid: proc.pid,
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

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** CPU time (ms) a whole process (every thread: the libuv pool's fdatasync, GC helpers) has used, from /proc/<pid>/stat. */
function cpuMsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th (proc(5)).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/**
 * Time (ms) the process's main thread has spent runnable but waiting for a CPU (the second
 * field of /proc/<pid>/schedstat, sched-stats.rst): CPU starvation by everything else running.
 */
function runWaitMsOf(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return Number.NaN;
  }
}

/** The server's event-loop delay since the previous scrape (prom-client resets its histogram on each collect). */
async function serverLoopDelay(server) {
  const text = await server.call('GET', '/metrics');
  const read = (name) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN) * 1000;
  return { p99Ms: read('nodejs_eventloop_lag_p99_seconds'), maxMs: read('nodejs_eventloop_lag_max_seconds') };
}

/**
 * One fan-out run: `watchers` watchers in a child process, `updates` merge-patches (16 in flight),
 * paced at `ratePerSecond` (open loop: update i leaves at start + i/rate) or saturated. Returns the
 * delivery figures and what the run cost: CPU time of the server, the watcher process and the
 * writer (this process), the event-loop delays, and the machine's load average around it.
 */
export async function fanOut(server, { watchers, updates, binary, ratePerSecond, watcherNodeArgs = [] }) {
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
    [...watcherNodeArgs, watchersJs, server.url, server.caFile, server.token, String(watchers), String(updates), binary ? '1' : '0'],
    { stdio: ['pipe', 'pipe', 'inherit'] },
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
  await serverLoopDelay(server);
  const load = [os.loadavg()[0]];
  const serverCpu0 = cpuMsOf(server.pid);
  const serverWait0 = runWaitMsOf(server.pid);
  const watcherWait0 = runWaitMsOf(child.pid);
  const writerCpu0 = process.cpuUsage();
  child.stdin.write('go\n');
  const start = now();
  let lastAck = start;
  const acks = new Float64Array(updates);
  await pool(updates, 16, async (i) => {
    if (ratePerSecond) {
      const wait = start + (i * 1000) / ratePerSecond - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const sent = now();
    await server.call(
      'PATCH',
      `${SLICES}/s-${i % slices}`,
      {
        metadata: { annotations: { 'bench/t': String(sent) } },
        endpoints: [{ addresses: [`10.244.${1 + (i % 200)}.${1 + (i % 250)}`], conditions: { ready: true } }],
      },
      'application/merge-patch+json',
    );
    lastAck = now();
    acks[i] = lastAck - sent;
  });
  acks.sort();
  const r = JSON.parse(await nextLine());
  const serverCpuMs = cpuMsOf(server.pid) - serverCpu0;
  const serverWaitMs = runWaitMsOf(server.pid) - serverWait0;
  const watcherWaitMs = runWaitMsOf(child.pid) - watcherWait0;
  const writer = process.cpuUsage(writerCpu0);
  const loop = await serverLoopDelay(server);
  load.push(os.loadavg()[0]);
  child.stdin.end();
  if (r.received < r.expected) throw new Error(`fan-out: ${r.received} of ${r.expected} events delivered within 300 s`);
  const wallS = (r.lastAt - start) / 1000;
  return {
    eventsPerSecond: r.received / wallS,
    writesPerSecond: updates / ((lastAck - start) / 1000),
    p50: r.p50,
    p99: r.p99,
    max: r.max,
    // The write's own latency (PATCH sent → 200 received: HTTPS, validation, WAL fdatasync),
    // which every delivery includes.
    ackP50: acks[Math.floor(updates * 0.5)],
    ackP99: acks[Math.floor(updates * 0.99)],
    wallS,
    // CPU shares of one core over the run (2.0 would be both cores of this machine).
    serverCores: serverCpuMs / 1000 / wallS,
    watcherCores: r.cpuMs / 1000 / wallS,
    writerCores: (writer.user + writer.system) / 1e6 / wallS,
    serverCpuUsPerEvent: (serverCpuMs * 1000) / r.received,
    watcherCpuUsPerEvent: (r.cpuMs * 1000) / r.received,
    // Main-thread run-queue wait per second of the run (ms/s): how much the machine starved it.
    serverRunWaitMsPerS: serverWaitMs / wallS,
    watcherRunWaitMsPerS: watcherWaitMs / wallS,
    serverLoopP99Ms: loop.p99Ms,
    serverLoopMaxMs: loop.maxMs,
    watcherLoopP99Ms: r.loopP99Ms,
    watcherLoopMaxMs: r.loopMaxMs,
    load1: Math.max(...load),
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

async function withServer(extra, fn) {
  const server = await startServer(extra);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const describeRun = (label, x) =>
  `${label}: ${fmt(x.eventsPerSecond, 0)} events/s delivered (writes acknowledged at ${fmt(x.writesPerSecond, 0)}/s), p50 ${fmt(x.p50)} ms, p99 ${fmt(x.p99)} ms, max ${fmt(x.max)} ms (the write's own PATCH→200 latency: p50 ${fmt(x.ackP50)} ms, p99 ${fmt(x.ackP99)} ms); CPU in cores: server ${fmt(x.serverCores, 2)}, watcher process ${fmt(x.watcherCores, 2)}, writer ${fmt(x.writerCores, 2)} (server ${fmt(x.serverCpuUsPerEvent, 1)} µs and watchers ${fmt(x.watcherCpuUsPerEvent, 1)} µs per delivered event); event-loop delay p99/max (sampled every 10 ms, so 10 ms is no delay): server ${fmt(x.serverLoopP99Ms)}/${fmt(x.serverLoopMaxMs)} ms, watchers ${fmt(x.watcherLoopP99Ms)}/${fmt(x.watcherLoopMaxMs)} ms; main threads waiting for a CPU: server ${fmt(x.serverRunWaitMsPerS)} ms/s, watchers ${fmt(x.watcherRunWaitMsPerS)} ms/s; load average (1 min, highest seen) ${fmt(x.load1, 2)}.`;

export async function run({ smoke, budgetMs = 150_000 }) {
  const watchers = smoke ? 5 : 100;
  // The issue's load: 10,000 EndpointSlice updates to 100 watchers (1,000,000 deliveries),
  // saturated and paced at 250/s; at 100/s a shorter run (10,000 would take 100 s of the budget).
  const updates = smoke ? 50 : 10_000;
  const paces = [
    { rate: 250, updates },
    { rate: 100, updates: smoke ? 50 : 4_000 },
  ];
  const started = now();
  const runs = { pb: [], js: [] };
  const paced = Object.fromEntries(paces.map((p) => [p.rate, []]));
  const cpus = os.cpus().length;
  // As many repetitions as fit in 80% of the group's budget (the writes take the rest); at least one.
  for (let r = 0; r < (smoke ? 1 : 3); r++) {
    const repStarted = now();
    runs.pb.push(await withServer([], (server) => fanOut(server, { watchers, updates, binary: true })));
    runs.js.push(await withServer([], (server) => fanOut(server, { watchers, updates, binary: false })));
    for (const p of paces)
      paced[p.rate].push(
        await withServer([], (server) => fanOut(server, { watchers, updates: p.updates, binary: true, ratePerSecond: p.rate })),
      );
    const repMs = now() - repStarted;
    if (now() - started + repMs > budgetMs * 0.8) break;
  }
  const repetitions = runs.pb.length;
  const nWrites = smoke ? 50 : 5000;
  const synced = [];
  const unsynced = [];
  for (let r = 0; r < repetitions; r++) {
    synced.push(await withServer([], (server) => writes(server, nWrites, `w${r}`)));
    unsynced.push(await withServer(['--fsync', 'false'], (server) => writes(server, nWrites, `w${r}`)));
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
  const pick = (list, k) => list.map((x) => x[k]);
  const figures = [
    fig(
      'saturated fan-out, events delivered/s (protobuf frames)',
      'events/s',
      pick(runs.pb, 'eventsPerSecond'),
      pick(runs.js, 'eventsPerSecond'),
      'JSON text frames',
      {
        decimals: 0,
      },
    ),
    fig('saturated write→delivery delay p99 (protobuf)', 'ms', pick(runs.pb, 'p99'), pick(runs.js, 'p99'), 'JSON text frames', {
      decimals: 1,
    }),
    fig(
      'saturated: server CPU per delivered event (protobuf)',
      'µs',
      pick(runs.pb, 'serverCpuUsPerEvent'),
      pick(runs.js, 'serverCpuUsPerEvent'),
      'JSON text frames',
      {
        decimals: 2,
      },
    ),
    fig(
      'saturated: watcher-process CPU per delivered event (protobuf decode)',
      'µs',
      pick(runs.pb, 'watcherCpuUsPerEvent'),
      pick(runs.js, 'watcherCpuUsPerEvent'),
      'JSON text frames (JSON.parse)',
      { decimals: 2 },
    ),
  ];
  for (const { rate, updates: n } of paces) {
    const list = paced[rate];
    const p99 = pick(list, 'p99');
    const label = `paced ${rate}/s (${n.toLocaleString('en-US')} updates)`;
    figures.push(
      // The reference is the write's own latency (PATCH sent → 200), which every delivery
      // includes: the difference is what the fan-out adds.
      fig(`${label} write→delivery delay p99 (protobuf)`, 'ms', p99, pick(list, 'ackP99'), "the write's own PATCH→200 p99", {
        decimals: 1,
        goal: '< 50 ms',
        met: summarize(p99).median < 50,
      }),
      fig(`${label} write→delivery delay p50 (protobuf)`, 'ms', pick(list, 'p50'), pick(list, 'ackP50'), "the write's own PATCH→200 p50", {
        decimals: 1,
      }),
      fig(
        `${label} events delivered/s`,
        'events/s',
        pick(list, 'eventsPerSecond'),
        list.map(() => rate * watchers),
        'the offered rate × watchers',
        {
          decimals: 0,
        },
      ),
    );
  }
  const p250 = paced[paces[0].rate];
  figures.push(
    fig(
      `paced ${paces[0].rate}/s: server CPU`,
      'cores',
      pick(p250, 'serverCores'),
      pick(p250, 'watcherCores'),
      `the watcher process (${watchers} watchers)`,
      {
        decimals: 2,
      },
    ),
    fig(
      `machine load average (1 min) during the paced ${paces[0].rate}/s runs`,
      'load',
      pick(p250, 'load1'),
      p250.map(() => cpus),
      'cores of this machine',
      {
        decimals: 2,
      },
    ),
    fig('durable creates/s (WAL fdatasync, group commit)', 'writes/s', synced, unsynced, 'same server, --fsync false', { decimals: 0 }),
  );
  const notes = [
    `Each figure is the median of ${repetitions} repetition(s) (up to 3, as many as the time budget allows; 1 in smoke), [min–max] their spread. Delays run from the moment the writer sends the PATCH to the moment a watcher has decoded the event: the HTTPS request, validation, the WAL fdatasync and the fan-out; the paced figures' reference is the write's own PATCH→200 latency, which every delivery includes.`,
    "Paced runs are open loop (update i leaves at start + i/rate, at most 16 in flight). Three processes share the cores: the server, the watcher process (100 watchers on one event loop, where a cluster gives each component its own) and the writer. CPU is each process's time on CPU over the run, all threads (/proc/<pid>/stat, process.cpuUsage), in cores; run-queue wait is the time a main thread was ready but got no CPU (/proc/<pid>/schedstat); event-loop delay from monitorEventLoopDelay (the server's through its /metrics). A load average above the core count means other work on the machine competed for the CPU: tail delays then measure the scheduler more than podnet.",
    'Saturated delays grow with the backlog of the single watcher process: they show throughput limits, not the latency a component sees.',
  ];
  const last = (list) => list[list.length - 1];
  notes.push(describeRun('Last saturated protobuf run', last(runs.pb)), describeRun('Last saturated JSON run', last(runs.js)));
  for (const { rate } of paces) notes.push(describeRun(`Last paced ${rate}/s run`, last(paced[rate])));
  return {
    title: 'API server',
    description: `${watchers} WebSocket watchers of EndpointSlices (protobuf frames unless noted, in a process of their own) and a writer sending merge-patch updates (16 in flight, WAL fsync on) to a real apiserver process on 127.0.0.1: ${updates.toLocaleString('en-US')} updates (${(updates * watchers).toLocaleString('en-US')} deliveries) saturated (as fast as they are acknowledged; JSON text frames as the reference) and paced at ${paces.map((p) => `${p.rate}/s (${p.updates.toLocaleString('en-US')} updates)`).join(' and ')}, where the write-to-delivery delay is measured against the goal. CPU time of every process and the machine's load average are recorded with each run.`,
    figures,
    notes,
  };
}
