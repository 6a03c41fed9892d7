// Child process of the apiserver bench: opens N WebSocket watchers on EndpointSlices and, once
// `expected` updates carrying a `bench/t` send time have arrived on every watcher, prints one
// JSON line {delays summary, first/last delivery}. The watchers run in their own process, as
// podnet's components do, so their decoding does not queue behind the bench's writer.
// argv: url caFile token watchers expectedPerWatcher binary(0|1)
import { readFileSync } from 'node:fs';
import { decodeWatchEvent, WATCH_PROTOBUF_SUBPROTOCOL } from '@podnet/api';
import WebSocket from 'ws';

const [url, caFile, token, n, expectedPer, bin] = process.argv.slice(2);
const ca = readFileSync(caFile, 'utf8');
const watchers = Number(n);
const expected = watchers * Number(expectedPer);
const binary = bin === '1';
const now = () => performance.timeOrigin + performance.now();
const delays = new Float64Array(expected);
let received = 0;
let lastAt = 0;
const sockets = [];
const finish = () => {
  for (const ws of sockets) ws.terminate();
  const sorted = Array.from(delays.subarray(0, received)).sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({ received, expected, lastAt, p50: sorted[Math.floor(sorted.length * 0.5)] ?? 0, p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0 })}\n`,
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
      const ev = isBinary ? decodeWatchEvent(new Uint8Array(data)) : JSON.parse(String(data));
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
process.stdout.write('ready\n');
setTimeout(finish, 180_000);
