// Child process of the apiserver bench: opens N WebSocket watchers on EndpointSlices and, once
// `expected` updates carrying a `bench/t` send time have arrived on every watcher, prints one
// JSON line: the delay summary, first/last delivery, this process's CPU time and event-loop
// delay while the events arrived. The watchers run in their own process, as podnet's components
// do, so their decoding does not queue behind the bench's writer.
// argv: url caFile token watchers expectedPerWatcher binary(0|1)
// stdin: a line "go" marks the start of the timed run (CPU and loop delay are counted from it).
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { decodeWatchEvent, WATCH_PROTOBUF_SUBPROTOCOL } from '@podnet/api';
import WebSocket from 'ws';

const [url, caFile, token, n, expectedPer, bin] = process.argv.slice(2);
const ca = readFileSync(caFile, 'utf8');
const watchers = Number(n);
const expected = watchers * Number(expectedPer);
const binary = bin === '1';
const now = () => performance.timeOrigin + performance.now();
const delays = new Float64Array(expected);
const loop = monitorEventLoopDelay({ resolution: 10 });
let received = 0;
let lastAt = 0;
let cpuAtGo = process.cpuUsage();
let goAt = now();
const sockets = [];
const finish = () => {
  const cpu = process.cpuUsage(cpuAtGo);
  loop.disable();
  for (const ws of sockets) ws.terminate();
  const sorted = Array.from(delays.subarray(0, received)).sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
  process.stdout.write(
    `${JSON.stringify({
      received,
      expected,
      lastAt,
      p50: at(0.5),
      p99: at(0.99),
      max: sorted[sorted.length - 1] ?? 0,
      cpuMs: (cpu.user + cpu.system) / 1000,
      wallMs: now() - goAt,
      loopP99Ms: loop.percentile(99) / 1e6,
      loopMaxMs: loop.max / 1e6,
    })}\n`,
  );
  process.exit(0);
};
await Promise.all(
  Array.from({ length: watchers }, () => {
    const ws = new WebSocket(
      `${url.replace('https', 'wss')}/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?watch=true`,
      binary ? [WATCH_PROTOBUF_SUBPROTOCOL] : [],
      { ca, headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false },
    );
    sockets.push(ws);
    ws.on('message', (data, isBinary) => {
      const ev = isBinary ? decodeWatchEvent(data) : JSON.parse(data.toString('utf8'));
      const t = ev.object.metadata?.annotations?.['bench/t'];
      if (ev.type !== 'MODIFIED' || t === undefined) return;
      const at = now();
      delays[received++] = at - Number(t);
      lastAt = at;
      if (received === expected) finish();
    });
    return new Promise((resolve, reject) => {
      ws.on('open', resolve);
      ws.on('error', reject);
    });
  }),
);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  if (!d.includes('go')) return;
  cpuAtGo = process.cpuUsage();
  goAt = now();
  loop.reset();
  loop.enable();
});
process.stdout.write('ready\n');
setTimeout(finish, 300_000);
