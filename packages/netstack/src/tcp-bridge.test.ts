// Acceptance (1) of issue 3 for TCP: two pods on one node's bridge; Node's own `http` server and
// client run unchanged over the emulated TCP (server.emit('connection'), createConnection), and
// TCP to a closed port is answered with RST (ECONNREFUSED).
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { TcpSocket } from './tcp/socket.js';
import { type BridgeTopology, twoPodsOnBridge } from './testing/topology.js';
import { twoNodesOverVxlan } from './testing/two-nodes.js';
import { waitFor } from './testing/wait.js';

let topo: ReturnType<typeof twoPodsOnBridge> | undefined;
afterEach(async () => {
  await topo?.close();
  topo = undefined;
});

/** An http.Server fed by an emulated TCP server on `port` of the namespace. */
function httpOver(t: BridgeTopology & { b: { ns: import('./namespace.js').Namespace } }, port: number, handler: http.RequestListener) {
  const server = http.createServer(handler);
  const tcpServer = t.b.ns.tcp.createServer((socket) => server.emit('connection', socket));
  tcpServer.listen(port);
  return { server, tcpServer };
}

function get(options: http.RequestOptions): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TCP between two pods on a bridge', () => {
  it('carries an HTTP GET and its response with Node http on both ends', async () => {
    topo = twoPodsOnBridge();
    const { a, b } = topo;
    httpOver(topo, 8080, (req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`hello ${req.socket.remoteAddress} from ${req.socket.localAddress}:${req.socket.localPort}, you asked ${req.url}`);
    });
    const res = await get({
      host: b.ip,
      port: 8080,
      path: '/index.html',
      createConnection: () => a.ns.tcp.connect({ host: b.ip, port: 8080 }) as unknown as import('node:net').Socket,
    });
    expect(res.status).toBe(200);
    expect(res.body).toBe(`hello ${a.ip} from ${b.ip}:8080, you asked /index.html`);
    expect(res.headers['content-type']).toBe('text/plain');
    expect(a.ns.tcp.counters.activeOpens).toBe(1);
    expect(b.ns.tcp.counters.passiveOpens).toBe(1);
  });

  it('answers TCP to a closed port with RST: ECONNREFUSED', async () => {
    topo = twoPodsOnBridge();
    const { a, b } = topo;
    const socket: TcpSocket = a.ns.tcp.connect({ host: b.ip, port: 9 });
    const error = await new Promise<Error & { code?: string }>((resolve) => socket.on('error', resolve));
    expect(error.code).toBe('ECONNREFUSED');
    expect(error.message).toBe(`connect ECONNREFUSED ${b.ip}:9`);
    await waitFor('the reset to be counted', () => b.ns.tcp.counters.resetsSent === 1);
  });

  it('reuses one connection for several requests with a keep-alive agent, and streams a chunked body', async () => {
    topo = twoPodsOnBridge();
    const { a, b } = topo;
    httpOver(topo, 80, (req, res) => {
      if (req.url === '/chunked') {
        // No content-length: http sends Transfer-Encoding: chunked.
        res.write('part one, ');
        setTimeout(() => {
          res.write('part two, ');
          res.end('the end');
        }, 5);
        return;
      }
      res.end(`request ${req.url}`);
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let connections = 0;
    (agent as unknown as { createConnection: () => unknown }).createConnection = () => {
      connections++;
      return a.ns.tcp.connect({ host: b.ip, port: 80 });
    };
    const first = await get({ host: b.ip, port: 80, path: '/1', agent });
    const second = await get({ host: b.ip, port: 80, path: '/2', agent });
    const chunked = await get({ host: b.ip, port: 80, path: '/chunked', agent });
    expect(first.body).toBe('request /1');
    expect(second.body).toBe('request /2');
    expect(chunked.body).toBe('part one, part two, the end');
    expect(chunked.headers['transfer-encoding']).toBe('chunked');
    expect(connections).toBe(1);
    agent.destroy();
  });

  it('reaches a sibling container over localhost and over its own pod IP (one namespace, DESIGN §1)', async () => {
    topo = twoPodsOnBridge();
    const { a } = topo;
    const server = a.ns.tcp.createServer((s) => s.end(`hi ${s.remoteAddress} on ${s.localAddress}`));
    server.listen(9000);
    for (const host of ['127.0.0.1', a.ip]) {
      const socket = a.ns.tcp.connect({ host, port: 9000 });
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString();
      });
      await new Promise<void>((resolve, reject) => {
        socket.on('end', () => resolve());
        socket.on('error', reject);
      });
      expect(text).toBe(`hi ${host} on ${host}`);
    }
    // A second listener on the port fails, as one pod shares one port space.
    const again = a.ns.tcp.createServer();
    const error = await new Promise<Error & { code?: string }>((resolve) => {
      again.on('error', resolve);
      again.listen(9000);
    });
    expect(error.code).toBe('EADDRINUSE');
  });

  it('moves a 2 MB body byte-exact through the bridge', async () => {
    topo = twoPodsOnBridge();
    const { a, b } = topo;
    const body = Buffer.alloc(2 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >>> 11)) & 0xff;
    httpOver(topo, 80, (_req, res) => res.end(body));
    const got = await new Promise<Buffer>((resolve, reject) => {
      const req = http.request(
        {
          host: b.ip,
          port: 80,
          path: '/',
          createConnection: () => a.ns.tcp.connect({ host: b.ip, port: 80 }) as unknown as import('node:net').Socket,
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve(Buffer.concat(parts)));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(got.equals(body)).toBe(true);
  });
});

describe('TCP between pods on two nodes over VXLAN (one process)', () => {
  it('serves HTTP from a pod on node-2 to a pod on node-1 with MSS 1410 (pod MTU 1450)', async () => {
    const t = await twoNodesOverVxlan();
    try {
      const server = http.createServer((req, res) => res.end(`node-2 pod ${req.socket.localAddress} to ${req.socket.remoteAddress}`));
      t.b.ns.tcp.createServer((socket) => server.emit('connection', socket)).listen(8080);
      let socket: TcpSocket | undefined;
      const res = await get({
        host: t.b.ip,
        port: 8080,
        path: '/',
        createConnection: () => {
          socket = t.a.ns.tcp.connect({ host: t.b.ip, port: 8080 });
          return socket as unknown as import('node:net').Socket;
        },
      });
      expect(res.body).toBe(`node-2 pod ${t.b.ip} to ${t.a.ip}`);
      expect(t.a.ns.tcp.counters.activeOpens).toBe(1);
      expect(t.b.ns.tcp.connections().map((c) => c.info.peerMss)).toContain(1410);
      expect(socket?.bytesRead).toBeGreaterThan(0);
    } finally {
      await t.close();
    }
  });
});
