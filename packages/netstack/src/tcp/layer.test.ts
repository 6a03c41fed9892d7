import { formatIpv4 } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { collect, pattern, tcpPair } from '../testing/tcp-pair.js';
import type { TcpSocket } from './socket.js';

describe('TcpLayer over a fake IP pair', () => {
  it('opens with a three-way handshake and moves data both ways, then closes with FINs', async () => {
    const { pair, a, b } = tcpPair({ capture: true });
    let serverSide: TcpSocket | undefined;
    const server = b.createServer((s) => {
      serverSide = s;
      s.on('data', (d: Buffer) => s.write(Buffer.concat([Buffer.from('echo:'), d])));
      s.on('end', () => s.end());
    });
    server.listen(80);
    const client = a.connect({ host: '10.244.2.3', port: 80 });
    let connected = false;
    client.on('connect', () => {
      connected = true;
    });
    const got = collect(client);
    await pair.run(100, { until: () => connected });
    expect(connected).toBe(true);
    expect(client.remoteAddress).toBe('10.244.2.3');
    expect(client.localAddress).toBe('10.244.1.2');
    expect(client.localPort).toBeGreaterThanOrEqual(32768);
    client.write('hello');
    await pair.run(1000, { until: () => got.bytes() >= 10 });
    expect(got.buffer().toString()).toBe('echo:hello');
    expect(serverSide?.remotePort).toBe(client.localPort);
    const closed = new Promise<boolean>((r) => client.on('close', r));
    client.end();
    await pair.run(1000, { until: () => got.ended() && client.destroyed });
    expect(await closed).toBe(false);
    const flags = pair.captured.map((c) => `${c.from}:${c.segment.flags.toString(16)}`);
    // SYN, SYN-ACK, ACK first.
    expect(flags.slice(0, 3)).toEqual(['a:2', 'b:12', 'a:10']);
    // The client that closed first sits in TIME-WAIT; the server's side is gone.
    await pair.run(100, { until: () => b.connections().length === 0 });
    expect(a.connections().map((c) => c.state)).toEqual(['TIME-WAIT']);
    expect(b.connections()).toEqual([]);
    expect(formatIpv4(pair.a.address)).toBe('10.244.1.2');
  });

  it('demultiplexes interleaved segments of several connections to the right one (the last-connection shortcut)', async () => {
    const { pair, a, b } = tcpPair();
    const got = new Map<number, ReturnType<typeof collect>>();
    b.createServer((s) => {
      got.set(s.remotePort ?? 0, collect(s));
      s.on('end', () => s.end());
    }).listen(9000);
    const clients = [0, 1, 2].map(() => a.connect({ host: '10.244.2.3', port: 9000 }));
    await pair.run(1000, { until: () => got.size === 3 });
    const payloads = clients.map((_, i) => pattern(64 * 1024, 10 + i));
    // Small writes in turn, so consecutive segments on the wire belong to different connections.
    for (let off = 0; off < 64 * 1024; off += 4096) {
      for (const [i, c] of clients.entries()) c.write(payloads[i]?.subarray(off, off + 4096));
    }
    for (const c of clients) c.end();
    await pair.run(60_000, { until: () => [...got.values()].every((g) => g.ended()) });
    for (const [i, c] of clients.entries())
      expect(
        got
          .get(c.localPort ?? -1)
          ?.buffer()
          .equals(payloads[i] as Buffer),
      ).toBe(true);
    // A new connection after the others are gone is found too (the shortcut never outlives its connection).
    await pair.run(1000, { until: () => b.connections().length === 0 });
    const again = a.connect({ host: '10.244.2.3', port: 9000 });
    again.end(Buffer.from('again'));
    await pair.run(5000, { until: () => got.get(again.localPort ?? -1)?.ended() ?? false });
    expect(
      got
        .get(again.localPort ?? -1)
        ?.buffer()
        .toString(),
    ).toBe('again');
  });

  it('transfers 1 MB byte-exact in both directions at once', async () => {
    const { pair, a, b } = tcpPair();
    const up = pattern(1 << 20, 3);
    const down = pattern(1 << 20, 4);
    let serverGot: ReturnType<typeof collect> | undefined;
    b.createServer((s) => {
      serverGot = collect(s);
      s.end(down);
    }).listen(8080);
    const client = a.connect({ host: '10.244.2.3', port: 8080 });
    const clientGot = collect(client);
    client.end(up);
    await pair.run(60_000, { until: () => clientGot.ended() && (serverGot?.ended() ?? false) });
    expect(clientGot.buffer().equals(down)).toBe(true);
    expect(serverGot?.buffer().equals(up)).toBe(true);
    expect(a.counters.retransmissions).toBe(0);
  });
});

describe('Node http over the fake pair', () => {
  it('serves a GET through http.createServer fed with emit("connection") and http.request with createConnection', async () => {
    const http = await import('node:http');
    const { pair, a, b } = tcpPair({ delayMs: 1 });
    const server = http.createServer((req, res) => res.end(`you asked for ${req.url} with ${req.headers['x-test']}`));
    b.createServer((s) => server.emit('connection', s)).listen(80);
    let body: string | undefined;
    const req = http.request(
      {
        host: '10.244.2.3',
        port: 80,
        path: '/x',
        headers: { 'x-test': 'yes' },
        createConnection: () => a.connect({ host: '10.244.2.3', port: 80 }) as never,
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => {
          body = text;
        });
      },
    );
    req.end();
    await pair.run(5000, { until: () => body !== undefined });
    expect(body).toBe('you asked for /x with yes');
  });
});
