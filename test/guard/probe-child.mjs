// Run by network-guard.test.ts inside an isolated network namespace (unshare --net) with the
// guard preloaded through NODE_OPTIONS, exactly as any child process of a test gets it. Each
// probe tries one real socket operation and reports whether the guard refused it; the empty
// namespace guarantees nothing could leave the machine even if the guard were broken.
import dgram from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import net from 'node:net';

const results = {};

function outcome(fn) {
  try {
    fn();
    return 'allowed';
  } catch (error) {
    return error && error.code === 'PODNET_ERR_NETWORK_GUARD' ? 'refused' : `error:${error?.code}`;
  }
}

async function asyncOutcome(promiseFactory) {
  try {
    await promiseFactory();
    return 'allowed';
  } catch (error) {
    const e = error?.cause ? error.cause : error;
    return e && e.code === 'PODNET_ERR_NETWORK_GUARD' ? 'refused' : `error:${e?.code}`;
  }
}

function quietSocket(socket) {
  socket.on('error', () => {});
  return socket;
}

// TCP to an emulated Service IP: must be refused before the SYN.
results.tcpServiceIp = outcome(() => quietSocket(net.connect(443, '10.96.0.1')).destroy());
results.tcpOptionsForm = outcome(() => quietSocket(net.connect({ host: '10.244.1.2', port: 8080 })).destroy());
// The http.request case DESIGN §7 names: a request whose createConnection was ignored.
results.httpRequest = await asyncOutcome(
  () =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '10.96.0.10', port: 80, path: '/' }, resolve);
      req.on('error', reject);
      req.end();
    }),
);
results.httpsRequest = await asyncOutcome(
  () =>
    new Promise((resolve, reject) => {
      const req = https.request({ host: '10.96.0.1', port: 443, path: '/version' }, resolve);
      req.on('error', reject);
      req.end();
    }),
);
// UDP datagrams to a pod IP and a node IP.
const udp = dgram.createSocket('udp4');
udp.on('error', () => {});
results.udpSend = outcome(() => udp.send(Buffer.from('x'), 4789, '172.18.0.3'));
results.udpSendOffsetForm = outcome(() => udp.send(Buffer.from('xy'), 0, 2, 4789, '10.244.2.3'));
results.udpConnect = outcome(() => udp.connect(53, '10.96.0.10'));
// The UDP segmentation addon's sendmsg(2), which bypasses dgram (built by the test run's build step).
const udpSegment = createRequire(import.meta.url)('../../packages/netstack/dist/native/udp_segment.node');
results.udpSegmentSend = outcome(() => udpSegment.sendSegmented(-1, Buffer.alloc(64), 64, 0, '10.244.2.4', 4789));
// A host name that resolves outside the allowed set (resolved by a custom lookup).
results.tcpHostName = await asyncOutcome(
  () =>
    new Promise((resolve, reject) => {
      const s = net.connect({ host: 'kubernetes.default', port: 443, lookup: (_h, _o, cb) => cb(null, '10.96.0.1', 4) });
      s.on('connect', () => {
        s.destroy();
        resolve();
      });
      s.on('error', reject);
    }),
);
// fetch (undici) goes through net.Socket too.
results.fetch = await asyncOutcome(() => fetch('http://10.96.0.1:80/version', { signal: AbortSignal.timeout(2000) }));

// Loopback is allowed: a real round trip over 127.0.0.1 inside this namespace.
const server = net.createServer((s) => s.end('ok'));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
results.loopback = await asyncOutcome(
  () =>
    new Promise((resolve, reject) => {
      const s = net.connect(server.address().port, '127.0.0.1');
      s.on('data', () => {
        s.destroy();
        resolve();
      });
      s.on('error', reject);
    }),
);
server.close();
// An address the test allowed (PODNET_GUARD_ALLOW=192.0.2.0/24): not refused by the guard;
// the empty namespace has no route, so the kernel answers ENETUNREACH.
results.allowedTestNetwork = await asyncOutcome(
  () =>
    new Promise((resolve, reject) => {
      const s = net.connect(9, '192.0.2.7');
      s.on('connect', resolve);
      s.on('error', reject);
    }),
);
udp.close();
process.stdout.write(`${JSON.stringify(results)}\n`);
