// A plugin for packages/netstack/src/testing/node-process.mjs (the `plugin` op): HTTP with Node's
// own `http` module over the emulated TCP of a namespace in that process, for the kernel interop
// acceptance test (a real Linux namespace on the other side).
import { createHash } from 'node:crypto';
import http from 'node:http';

/** The body GET /big returns: deterministic, so the other side can check its sha256. */
export function bigBody(bytes) {
  const b = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 131 + (i >>> 10)) & 0xff;
  return b;
}

export default function plugin({ namespaces, register }) {
  const ns = (name) => {
    const n = namespaces.get(name);
    if (!n) throw new Error(`no namespace "${name}"`);
    return n;
  };

  register('tcp-http-serve', ({ ns: name, port, bigBytes }) => {
    const n = ns(name);
    const big = bigBody(bigBytes ?? 0);
    const server = http.createServer((req, res) => {
      if (req.url === '/big') {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(big);
        return;
      }
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        res.setHeader('content-type', 'text/plain');
        res.end(
          `emulated ${req.socket.localAddress}:${req.socket.localPort} answers ${req.method} ${req.url} from ${req.socket.remoteAddress}${body ? ` with ${body}` : ''}`,
        );
      });
    });
    return new Promise((resolve, reject) => {
      const listener = n.tcp.createServer((socket) => server.emit('connection', socket));
      listener.on('error', reject);
      listener.listen(port, () => resolve({ port: listener.address().port }));
    });
  });

  register('tcp-http-get', ({ ns: name, host, port, path, timeoutMs }) => {
    const n = ns(name);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        req.destroy(new Error(`no HTTP response from ${host}:${port} within ${timeoutMs ?? 10_000} ms`));
      }, timeoutMs ?? 10_000);
      const req = http.request({ host, port, path, createConnection: () => n.tcp.connect({ host, port }) }, (res) => {
        const hash = createHash('sha256');
        const parts = [];
        let bytes = 0;
        res.on('data', (d) => {
          bytes += d.length;
          hash.update(d);
          if (bytes <= 4096) parts.push(d);
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode,
            bytes,
            sha256: hash.digest('hex'),
            body: bytes <= 4096 ? Buffer.concat(parts).toString('utf8') : undefined,
            mss: req.socket?.tcpInfo?.()?.mss,
          });
        });
      });
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.end();
    });
  });

  // The largest frame each (namespace, link) carried while tapped, both directions: shows whether
  // TCP super-frames (TSO/GRO) crossed a link, or only MTU-sized segments.
  const largest = new Map();
  register('tap-largest', ({ ns: name, dev }) => {
    const link = ns(name).link(dev);
    if (!link) throw new Error(`no link ${dev} in ${name}`);
    const key = `${name}/${dev}`;
    largest.set(key, 0);
    link.tap({ write: (frame) => largest.set(key, Math.max(largest.get(key) ?? 0, frame.length)) });
    return {};
  });
  register('largest-frames', () => ({ largest: Object.fromEntries(largest) }));

  // What UDP GSO/GRO did on a tunnel link's real socket (undefined counters: no offload), and why not.
  register('udp-offload', ({ ns: name, dev }) => {
    const link = ns(name).link(dev);
    if (!link) throw new Error(`no link ${dev} in ${name}`);
    return { counters: link.udpOffloadCounters ?? null, off: link.udpSegmentationOff ?? null };
  });
}
