// Component tests of the TCP state machine and its algorithms over a fake IP pair (real TCP
// headers and checksums, seeded faults, a FakeClock).
import { parseIpv4, tcp } from '@podnet/wire';
import { describe, expect, it } from 'vitest';
import { collect, pattern, tcpPair } from '../testing/tcp-pair.js';
import type { TcpLayer } from './layer.js';
import type { TcpSocket } from './socket.js';

const A = '10.244.1.2';
const B = '10.244.2.3';

function errorOf(socket: TcpSocket): () => (Error & { code?: string }) | undefined {
  let error: (Error & { code?: string }) | undefined;
  socket.on('error', (e) => {
    error = e;
  });
  return () => error;
}

/** Hands a crafted segment to a layer as if it arrived from `from`. */
function inject(layer: TcpLayer, from: string, to: string, repr: Partial<tcp.TcpRepr> & { srcPort: number; dstPort: number }): void {
  const src = parseIpv4(from);
  const dst = parseIpv4(to);
  const buf = tcp.encode(
    { seq: 0, ack: 0, reserved: 0, flags: 0, window: 65535, urgentPointer: 0, options: [], payload: Buffer.alloc(0), ...repr },
    undefined,
    0,
    { src, dst },
  );
  layer.receive({ src, dst, ttl: 64, tos: 0, inInterface: 'eth0' }, buf);
}

/** An ICMP error as the IPv4 layer reports it, quoting the first bytes of one of our segments. */
function quote(srcPort: number, dstPort: number, seq: number): Buffer {
  const q = Buffer.alloc(8);
  q.writeUInt16BE(srcPort, 0);
  q.writeUInt16BE(dstPort, 2);
  q.writeUInt32BE(seq, 4);
  return q;
}

async function connected(t: ReturnType<typeof tcpPair>, port = 80): Promise<{ client: TcpSocket; server: TcpSocket }> {
  let server: TcpSocket | undefined;
  t.b
    .createServer((s) => {
      server = s;
    })
    .listen(port);
  const client = t.a.connect({ host: B, port });
  await t.pair.run(5000, { until: () => server !== undefined && !client.connecting });
  if (!server) throw new Error(`no connection:\n${t.pair.describe()}`);
  return { client, server };
}

describe('connection establishment', () => {
  it('answers a SYN to a closed port with RST, and connect() fails with ECONNREFUSED', async () => {
    const t = tcpPair({ capture: true });
    const client = t.a.connect({ host: B, port: 81 });
    const error = errorOf(client);
    let hadError: boolean | undefined;
    client.on('close', (h: boolean) => {
      hadError = h;
    });
    await t.pair.run(1000, { until: () => hadError !== undefined });
    expect(error()?.code).toBe('ECONNREFUSED');
    expect(error()?.message).toBe(`connect ECONNREFUSED ${B}:81`);
    expect(hadError).toBe(true);
    expect(t.b.counters.resetsSent).toBe(1);
    const rst = t.pair.captured.find((c) => c.from === 'b');
    // RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
    expect(rst?.segment.flags).toBe(tcp.TcpFlags.RST | tcp.TcpFlags.ACK);
    expect(rst?.segment.seq).toBe(0);
    expect(rst?.segment.ack).toBe(((t.pair.captured[0]?.segment.seq ?? 0) + 1) >>> 0);
    expect(t.a.connections()).toEqual([]);
  });

  it('answers a stray ACK to a closed port with <SEQ=SEG.ACK><CTL=RST>', async () => {
    const t = tcpPair({ capture: true });
    inject(t.b, A, B, { srcPort: 40000, dstPort: 9, seq: 5, ack: 123456, flags: tcp.TcpFlags.ACK });
    await t.pair.run(10);
    const rst = t.pair.captured[0]?.segment;
    expect(rst?.flags).toBe(tcp.TcpFlags.RST);
    expect(rst?.seq).toBe(123456);
  });

  it('fails connect() with ETIMEDOUT after the SYN retries (Linux tcp_syn_retries) when nothing answers', async () => {
    const t = tcpPair({ capture: true, tcp: { synRetries: 3 } });
    t.pair.dropIf = () => true;
    const client = t.a.connect({ host: B, port: 80 });
    const error = errorOf(client);
    await t.pair.run(60_000, { stepMs: 100, until: () => error() !== undefined });
    expect(error()?.code).toBe('ETIMEDOUT');
    // 1 SYN + 3 retransmissions at 1 s, 2 s, 4 s (exponential backoff), then 8 s later the failure.
    const syns = t.pair.captured.filter((c) => c.segment.flags === tcp.TcpFlags.SYN);
    expect(syns.map((c) => Math.round(c.at / 100) * 100)).toEqual([0, 1000, 3000, 7000]);
    expect(t.pair.clock.now()).toBeGreaterThanOrEqual(15_000);
    expect(t.a.counters.attemptFails).toBe(1);
  });

  it('advertises MSS = path MTU - 40 and sends no segment above min(peer MSS, own MTU - 40)', async () => {
    const t = tcpPair({ capture: true, mtu: 1450 });
    // Side a learned a smaller path MTU before connecting (e.g. from an earlier ICMP).
    t.pair.a.learnedMtu = 1300;
    const { client, server } = await connected(t);
    const syn = t.pair.captured[0]?.segment;
    expect(syn?.options).toContainEqual({ kind: 'mss', value: 1260 });
    const synAck = t.pair.captured[1]?.segment;
    expect(synAck?.options).toContainEqual({ kind: 'mss', value: 1410 });
    expect(client.tcpInfo()?.mss).toBe(1260);
    expect(server.tcpInfo()?.mss).toBe(1260);
    expect(server.tcpInfo()?.peerMss).toBe(1260);
    const got = collect(client);
    server.end(pattern(50_000));
    const sent = collect(server);
    void sent;
    await t.pair.run(5000, { until: () => got.ended() });
    expect(got.buffer().equals(pattern(50_000))).toBe(true);
    const biggest = Math.max(...t.pair.captured.filter((c) => c.from === 'b').map((c) => c.segment.payload.length));
    expect(biggest).toBe(1260);
  });

  it('negotiates window scaling only when both SYNs carry the option (RFC 7323 §2)', async () => {
    const t = tcpPair({ capture: true });
    const { client } = await connected(t);
    // The smallest shift that advertises the default 1 MiB receive buffer: 2^20 >> 5 ≤ 0xffff < 2^20 >> 4.
    expect(t.pair.captured[0]?.segment.options).toContainEqual({ kind: 'window-scale', shift: 5 });
    expect(t.pair.captured[1]?.segment.options).toContainEqual({ kind: 'window-scale', shift: 5 });
    expect(client.tcpInfo()?.sendWindowShift).toBe(5);
    // A SYN without the option gets a SYN-ACK without it.
    const t2 = tcpPair({ capture: true });
    t2.b.createServer(() => {}).listen(80);
    inject(t2.b, A, B, { srcPort: 40001, dstPort: 80, seq: 1000, flags: tcp.TcpFlags.SYN, options: [{ kind: 'mss', value: 1460 }] });
    await t2.pair.run(10);
    const synAck = t2.pair.captured[0]?.segment;
    expect(synAck?.flags).toBe(tcp.TcpFlags.SYN | tcp.TcpFlags.ACK);
    expect(synAck?.options.some((o) => o.kind === 'window-scale')).toBe(false);
  });

  it('drops SYNs beyond the listen backlog (ListenDrops), and the client gets in once a slot frees', async () => {
    const t = tcpPair({ capture: true });
    let accepted = 0;
    t.b
      .createServer(() => {
        accepted++;
      })
      .listen({ port: 80, backlog: 2 });
    // Hold the handshakes half-open: the clients' final ACKs are lost.
    t.pair.dropIf = (seg, from) => from === 'a' && seg.flags === tcp.TcpFlags.ACK;
    const clients = [t.a.connect({ host: B, port: 80 }), t.a.connect({ host: B, port: 80 }), t.a.connect({ host: B, port: 80 })];
    await t.pair.run(50);
    expect(t.b.counters.listenDrops).toBe(1);
    expect(t.pair.captured.filter((c) => c.from === 'b' && c.segment.flags === (tcp.TcpFlags.SYN | tcp.TcpFlags.ACK)).length).toBe(2);
    expect(t.b.connections().map((c) => c.state)).toEqual(['SYN-RECEIVED', 'SYN-RECEIVED']);
    t.pair.dropIf = undefined;
    await t.pair.run(10_000, { stepMs: 10, until: () => accepted === 3 });
    expect(accepted).toBe(3);
    expect(clients.every((c) => !c.connecting)).toBe(true);
  });

  it('completes a simultaneous open (RFC 9293 Figure 8)', async () => {
    const t = tcpPair({ capture: true });
    const x = t.a.connect({ host: B, port: 6000, localPort: 5000 });
    const y = t.b.connect({ host: A, port: 5000, localPort: 6000 });
    const gotX = collect(x);
    const gotY = collect(y);
    x.write('from x');
    y.write('from y');
    await t.pair.run(5000, { until: () => gotX.bytes() === 6 && gotY.bytes() === 6 });
    expect(gotX.buffer().toString()).toBe('from y');
    expect(gotY.buffer().toString()).toBe('from x');
    const synAcks = t.pair.captured.filter((c) => c.segment.flags === (tcp.TcpFlags.SYN | tcp.TcpFlags.ACK));
    expect(synAcks.map((c) => c.from).sort()).toEqual(['a', 'b']);
  });

  it('fails the connect on ICMP port / host unreachable quoting the SYN', async () => {
    for (const [code, errno] of [
      [3, 'ECONNREFUSED'],
      [1, 'EHOSTUNREACH'],
    ] as const) {
      const t = tcpPair({ capture: true });
      t.pair.dropIf = () => true;
      const client = t.a.connect({ host: B, port: 80 });
      const error = errorOf(client);
      await t.pair.run(5);
      const syn = t.pair.captured[0]?.segment as tcp.TcpRepr;
      // A quote with a sequence number we never sent is ignored (RFC 5927 §4.1).
      t.a.icmpError({
        type: 3,
        code,
        reporter: parseIpv4(B),
        quotedSrc: parseIpv4(A),
        quotedDst: parseIpv4(B),
        quotedTransport: quote(syn.srcPort, 80, syn.seq + 99),
      });
      await t.pair.run(5);
      expect(error()).toBeUndefined();
      t.a.icmpError({
        type: 3,
        code,
        reporter: parseIpv4(B),
        quotedSrc: parseIpv4(A),
        quotedDst: parseIpv4(B),
        quotedTransport: quote(syn.srcPort, 80, syn.seq),
      });
      await t.pair.run(5, { until: () => error() !== undefined });
      expect(error()?.code).toBe(errno);
    }
  });

  it('refuses bad arguments with a clear error and no half-made socket', () => {
    const t = tcpPair();
    expect(() => t.a.connect({ host: 'example.com', port: 80 })).toThrow(/not an IPv4 address.*resolves no names/);
    expect(() => t.a.connect({ host: B, port: 70000 })).toThrow(expect.objectContaining({ code: 'PODNET_ERR_TCP_INVALID_ARGUMENT' }));
    expect(() => t.b.createServer().listen(-1)).toThrow(/port must be an integer from 0 to 65535/);
    expect(t.a.connections()).toEqual([]);
  });

  it('shares ephemeral ports across destinations, keeping each 4-tuple unique (Linux __inet_hash_connect)', async () => {
    // A range of two ports: three connections to two servers still fit, a third to one server does not.
    const t = tcpPair({ tcpA: { ephemeralPortRange: [50000, 50001] } });
    t.b.createServer(() => {}).listen(80);
    t.b.createServer(() => {}).listen(81);
    const to80 = [t.a.connect({ host: B, port: 80 }), t.a.connect({ host: B, port: 80 })];
    const to81 = t.a.connect({ host: B, port: 81 });
    await t.pair.run(100, { until: () => [...to80, to81].every((s) => !s.connecting) });
    expect(new Set(to80.map((s) => s.localPort)).size).toBe(2);
    expect([50000, 50001]).toContain(to81.localPort);
    const third = t.a.connect({ host: B, port: 80 });
    const error = errorOf(third);
    await t.pair.run(10, { until: () => error() !== undefined });
    expect(error()?.code).toBe('EADDRNOTAVAIL');
    // An explicit bind of a port in use is refused.
    const bound = t.a.connect({ host: B, port: 81, localPort: 50000 });
    const bindError = errorOf(bound);
    await t.pair.run(10, { until: () => bindError() !== undefined });
    expect(bindError()?.code).toBe('EADDRINUSE');
  });

  it('reports EADDRINUSE for a second listener on the same port', async () => {
    const t = tcpPair();
    t.b.createServer().listen(80);
    const second = t.b.createServer();
    let code: string | undefined;
    second.on('error', (e: Error & { code?: string }) => {
      code = e.code;
    });
    second.listen(80);
    await t.pair.run(5, { until: () => code !== undefined });
    expect(code).toBe('EADDRINUSE');
    expect(second.listening).toBe(false);
  });
});

describe('data transfer', () => {
  it('recovers from seeded loss and reordering byte-exact, by timeouts and fast retransmits', async () => {
    const t = tcpPair({ loss: 0.03, reorder: 0.03, seed: 7, delayMs: 2 });
    const { client, server } = await connected(t);
    const data = pattern(600_000, 9);
    const got = collect(server);
    client.end(data);
    await t.pair.run(120_000, { until: () => got.ended() });
    expect(got.buffer().equals(data)).toBe(true);
    expect(t.a.counters.retransmissions).toBeGreaterThan(0);
    expect(t.a.counters.fastRetransmits).toBeGreaterThan(0);
    expect(t.pair.stats.lost).toBeGreaterThan(0);
    expect(t.pair.stats.reordered).toBeGreaterThan(0);
  });

  it('repairs one lost segment by fast retransmit (three duplicate ACKs), without a timeout', async () => {
    const t = tcpPair({ capture: true, delayMs: 5 });
    const { client, server } = await connected(t);
    let dataSegments = 0;
    t.pair.dropIf = (seg, from) => from === 'a' && seg.payload.length > 0 && ++dataSegments === 5;
    const got = collect(server);
    const data = pattern(100_000, 2);
    client.end(data);
    await t.pair.run(10_000, { until: () => got.ended() });
    expect(got.buffer().equals(data)).toBe(true);
    expect(t.a.counters.fastRetransmits).toBe(1);
    expect(t.a.counters.timeouts).toBe(0);
    expect(t.a.counters.retransmissions).toBe(1);
  });

  it('repairs several holes in one window within about one RTT with SACK (RFC 2018, RFC 6675), where NewReno needs one RTT per hole', async () => {
    const durations: Record<string, number> = {};
    for (const sack of [true, false]) {
      const t = tcpPair({ capture: true, delayMs: 10, tcp: { sack } });
      const { client, server } = await connected(t);
      expect(client.tcpInfo()?.sack).toBe(sack);
      let dataSegments = 0;
      const lost = new Set([5, 7, 9, 11]);
      t.pair.dropIf = (seg, from) => from === 'a' && seg.payload.length > 0 && lost.has(++dataSegments);
      const got = collect(server);
      const data = pattern(14 * 1460, 3);
      const start = t.pair.clock.now();
      client.write(data);
      await t.pair.run(10_000, { until: () => got.bytes() === data.length });
      durations[sack ? 'sack' : 'newreno'] = t.pair.clock.now() - start;
      expect(got.buffer().equals(data)).toBe(true);
      expect(t.a.counters.timeouts).toBe(0);
      expect(t.a.counters.fastRetransmits).toBe(1);
      expect(t.a.counters.retransmissions).toBe(4);
      if (sack) {
        // The receiver's duplicate ACKs named what it holds.
        expect(t.pair.captured.some((c) => c.from === 'b' && c.segment.options.some((o) => o.kind === 'sack'))).toBe(true);
      }
    }
    // RTT 20 ms: SACK repairs all four holes in one round after detection, NewReno one per round.
    expect(durations.sack).toBeLessThan(70);
    expect(durations.newreno).toBeGreaterThan(90);
  });

  it('recovers a lost last segment with a tail loss probe after 2·SRTT, not the RTO (RFC 8985 §7)', async () => {
    const t = tcpPair({ capture: true, delayMs: 1 });
    const { client, server } = await connected(t);
    const got = collect(server);
    // Warm the RTT estimate, then lose the tail of a flight.
    client.write(pattern(20_000, 1));
    await t.pair.run(100, { until: () => got.bytes() === 20_000 });
    let dataSegments = 0;
    t.pair.dropIf = (seg, from) => from === 'a' && seg.payload.length > 0 && ++dataSegments === 3;
    const start = t.pair.clock.now();
    client.write(pattern(3 * 1460, 2));
    await t.pair.run(1000, { until: () => got.bytes() === 20_000 + 3 * 1460 });
    expect(got.bytes()).toBe(20_000 + 3 * 1460);
    expect(t.a.counters.lossProbes).toBe(1);
    expect(t.a.counters.timeouts).toBe(0);
    // SRTT is about 2 ms here: the probe went out long before the 200 ms minimum RTO.
    expect(t.pair.clock.now() - start).toBeLessThan(50);
  });

  it('retransmits on timeout when the last segment is lost (no duplicate ACKs), with RTO backoff', async () => {
    const t = tcpPair({ capture: true, delayMs: 1, tcp: { tailLossProbe: false } });
    const { client, server } = await connected(t);
    let drops = 0;
    t.pair.dropIf = (seg, from) => from === 'a' && seg.payload.length > 0 && drops++ < 2;
    const got = collect(server);
    client.write('only segment');
    await t.pair.run(10_000, { until: () => got.bytes() === 12 });
    expect(got.buffer().toString()).toBe('only segment');
    expect(t.a.counters.timeouts).toBe(2);
    const sends = t.pair.captured.filter((c) => c.from === 'a' && c.segment.payload.length > 0).map((c) => c.at);
    // The second timeout waited twice as long as the first (RFC 6298 §5.5).
    expect((sends[2] as number) - (sends[1] as number)).toBeCloseTo(2 * ((sends[1] as number) - (sends[0] as number)), 0);
  });

  it('probes a zero window (persist timer) and resumes when the reader drains', async () => {
    const t = tcpPair({ capture: true, tcpB: { receiveBufferBytes: 16_384 } });
    const { client, server } = await connected(t);
    server.pause();
    const data = pattern(200_000, 5);
    client.write(data);
    await t.pair.run(5000, { stepMs: 10 });
    expect(client.tcpInfo()?.sndWnd).toBe(0);
    expect(t.a.counters.zeroWindowProbes).toBeGreaterThan(0);
    expect(server.readableLength).toBeLessThanOrEqual(16_384 + 1460);
    const got = collect(server);
    server.resume();
    await t.pair.run(20_000, { stepMs: 10, until: () => got.bytes() === data.length });
    expect(got.buffer().equals(data)).toBe(true);
  });

  it('applies backpressure: write() returns false when the send buffer is full, then drains', async () => {
    const t = tcpPair({ tcpA: { sendBufferBytes: 8192 }, tcpB: { receiveBufferBytes: 8192 } });
    const { client, server } = await connected(t);
    server.pause();
    let ok = true;
    let writes = 0;
    while (ok && writes < 100) {
      ok = client.write(Buffer.alloc(4096, writes));
      writes++;
    }
    expect(ok).toBe(false);
    expect(writes).toBeLessThan(100);
    let drained = false;
    client.once('drain', () => {
      drained = true;
    });
    const got = collect(server);
    server.resume();
    await t.pair.run(10_000, { stepMs: 10, until: () => drained && got.bytes() === writes * 4096 });
    expect(drained).toBe(true);
    expect(got.bytes()).toBe(writes * 4096);
  });

  it("coalesces small writes under Nagle's algorithm and not with setNoDelay", async () => {
    for (const noDelay of [false, true]) {
      const t = tcpPair({ capture: true, delayMs: 5 });
      const { client, server } = await connected(t);
      client.setNoDelay(noDelay);
      const got = collect(server);
      for (let i = 0; i < 10; i++) client.write(`w${i}`);
      await t.pair.run(1000, { until: () => got.bytes() === 20 });
      expect(got.buffer().toString()).toBe('w0w1w2w3w4w5w6w7w8w9');
      const segments = t.pair.captured.filter((c) => c.from === 'a' && c.segment.payload.length > 0).length;
      if (noDelay) expect(segments).toBe(10);
      else expect(segments).toBe(2);
    }
  });

  it('delays a lone ACK by 40 ms; two or more full segments are ACKed at once, one ACK per receive batch (as Linux GRO)', async () => {
    const t = tcpPair({ capture: true });
    const { client, server } = await connected(t);
    collect(server);
    await t.pair.run(10);
    const before = t.pair.captured.length;
    const sentAt = t.pair.clock.now();
    const seq = client.tcpInfo()?.sndNxt as number;
    client.write('x');
    await t.pair.run(100, { until: () => t.b.counters.delayedAcks > 0 });
    const ack = t.pair.captured.slice(before).find((c) => c.from === 'b' && c.segment.ack === (seq + 1) >>> 0);
    expect((ack?.at as number) - sentAt).toBe(40);
    const mark = t.pair.captured.length;
    const batchAt = t.pair.clock.now();
    const from = client.tcpInfo()?.sndNxt as number;
    client.write(pattern(1460 * 4));
    await t.pair.run(5);
    const acks = t.pair.captured.slice(mark).filter((c) => c.from === 'b');
    expect(acks.map((c) => [c.at - batchAt, c.segment.ack])).toEqual([[0, (from + 4 * 1460) >>> 0]]);
  });
});

describe('closing', () => {
  it('holds TIME-WAIT for 2*MSL on the injected clock, then forgets the connection', async () => {
    const t = tcpPair({ tcp: { mslMs: 1000 } });
    const { client, server } = await connected(t);
    collect(client);
    server.on('end', () => server.end());
    collect(server);
    client.end();
    await t.pair.run(100, { until: () => t.a.connections()[0]?.state === 'TIME-WAIT' });
    const entered = t.pair.clock.now();
    await t.pair.run(100, { until: () => t.b.connections().length === 0 });
    expect(t.b.connections()).toEqual([]);
    await t.pair.run(5000, { stepMs: 10, until: () => t.a.connections().length === 0 });
    expect(t.pair.clock.now() - entered).toBeGreaterThanOrEqual(2000);
    expect(t.pair.clock.now() - entered).toBeLessThan(2100);
    expect(t.a.counters.timeWaitExpired).toBe(1);
  });

  it('lets a new SYN on the same 4-tuple replace a TIME-WAIT (RFC 6191, RFC 6528 ISNs)', async () => {
    const t = tcpPair({ capture: true, delayMs: 1 });
    let accepted = 0;
    t.b
      .createServer((s) => {
        accepted++;
        collect(s);
        // The server closes first (an HTTP/1.0-style server), so its side holds the TIME-WAIT.
        s.end('bye');
      })
      .listen(80);
    const first = t.a.connect({ host: B, port: 80, localPort: 40000 });
    collect(first);
    await t.pair.run(1000, { until: () => t.b.connections()[0]?.state === 'TIME-WAIT' && t.a.connections().length === 0 });
    expect(t.b.connections().map((c) => c.state)).toEqual(['TIME-WAIT']);
    await t.pair.run(500);
    const again = t.a.connect({ host: B, port: 80, localPort: 40000 });
    const startedAt = t.pair.clock.now();
    await t.pair.run(5000, { until: () => !again.connecting && accepted === 2 });
    expect(accepted).toBe(2);
    // At once: no SYN had to be retransmitted.
    expect(t.pair.clock.now() - startedAt).toBeLessThan(10);
    expect(t.a.counters.retransmissions).toBe(0);
  });

  it('goes through CLOSING on a simultaneous close (RFC 9293 Figure 13)', async () => {
    const t = tcpPair({ capture: true, delayMs: 5 });
    const { client, server } = await connected(t);
    const c = collect(client);
    const s = collect(server);
    client.end();
    server.end();
    await t.pair.run(1000, { until: () => c.ended() && s.ended() });
    const states: string[] = [];
    await t.pair.run(1000, {
      until: () => {
        states.push(`${t.a.connections()[0]?.state}`);
        return t.a.connections()[0]?.state === 'TIME-WAIT' && t.b.connections()[0]?.state === 'TIME-WAIT';
      },
    });
    expect(states).toContain('CLOSING');
    expect(t.a.connections().map((x) => x.state)).toEqual(['TIME-WAIT']);
    expect(t.b.connections().map((x) => x.state)).toEqual(['TIME-WAIT']);
  });

  it('resets: resetAndDestroy gives the peer ECONNRESET', async () => {
    const t = tcpPair();
    const { client, server } = await connected(t);
    const error = errorOf(client);
    server.resetAndDestroy();
    await t.pair.run(100, { until: () => error() !== undefined });
    expect(error()?.code).toBe('ECONNRESET');
    expect(t.a.counters.resetsReceived).toBe(1);
    expect(t.a.connections()).toEqual([]);
  });

  it('answers an in-window RST with the wrong sequence number by a challenge ACK (RFC 5961 §3.2)', async () => {
    const t = tcpPair({ capture: true });
    const { client } = await connected(t);
    const info = client.tcpInfo();
    if (!info) throw new Error('no tcp info');
    const before = t.pair.captured.length;
    inject(t.a, B, A, { srcPort: 80, dstPort: client.localPort as number, seq: (info.rcvNxt + 100) >>> 0, flags: tcp.TcpFlags.RST });
    await t.pair.run(5);
    expect(t.a.counters.challengeAcks).toBe(1);
    expect(t.pair.captured.slice(before)[0]?.segment.flags).toBe(tcp.TcpFlags.ACK);
    expect(client.destroyed).toBe(false);
    // The exact RST does reset.
    const error = errorOf(client);
    inject(t.a, B, A, { srcPort: 80, dstPort: client.localPort as number, seq: info.rcvNxt, flags: tcp.TcpFlags.RST });
    await t.pair.run(5, { until: () => error() !== undefined });
    expect(error()?.code).toBe('ECONNRESET');
  });

  it('resets a connection whose socket is destroyed with unread data (RFC 2525 §2.17, Linux tcp_close)', async () => {
    const t = tcpPair({ capture: true });
    const { client, server } = await connected(t);
    server.pause();
    client.write('unread');
    await t.pair.run(50);
    const error = errorOf(client);
    server.destroy();
    await t.pair.run(50, { until: () => error() !== undefined });
    expect(error()?.code).toBe('ECONNRESET');
  });
});

describe('socket timers', () => {
  it("emits 'timeout' after the idle time of setTimeout, on the namespace clock", async () => {
    const t = tcpPair();
    const { client } = await connected(t);
    let at: number | undefined;
    client.setTimeout(500, () => {
      at = t.pair.clock.now();
    });
    const start = t.pair.clock.now();
    await t.pair.run(300);
    client.write('activity');
    const activity = t.pair.clock.now();
    await t.pair.run(2000, { stepMs: 10, until: () => at !== undefined });
    expect((at as number) - activity).toBeGreaterThanOrEqual(500);
    expect((at as number) - start).toBeGreaterThan(500);
  });

  it('keepalive probes an idle peer and fails with ETIMEDOUT when it never answers', async () => {
    const t = tcpPair({ capture: true, tcp: { keepAliveIntervalMs: 1000, keepAliveProbes: 3 } });
    const { client } = await connected(t);
    client.setKeepAlive(true, 5000);
    const error = errorOf(client);
    // While the peer answers, probes keep the connection up.
    await t.pair.run(8000, { stepMs: 50 });
    expect(error()).toBeUndefined();
    t.pair.dropIf = () => true;
    await t.pair.run(60_000, { stepMs: 50, until: () => error() !== undefined });
    expect(error()?.code).toBe('ETIMEDOUT');
  });
});

describe('ICMP fragmentation needed (RFC 1191)', () => {
  it('lowers the MSS of a connection in flight and resends at once', async () => {
    const t = tcpPair({ capture: true, delayMs: 2 });
    const { client, server } = await connected(t);
    const got = collect(server);
    const data = pattern(200_000, 11);
    client.write(data.subarray(0, 100_000));
    await t.pair.run(1);
    const info = client.tcpInfo();
    if (!info) throw new Error('no info');
    // The path shrank: the router drops what is in flight and says so; the IPv4 layer learns the MTU.
    t.pair.a.learnedMtu = 1200;
    t.pair.dropIf = (seg, from) => from === 'a' && seg.payload.length > 1160;
    const icmpAt = t.pair.clock.now();
    t.a.icmpError({
      type: 3,
      code: 4,
      nextHopMtu: 1200,
      reporter: parseIpv4('10.244.1.1'),
      quotedSrc: parseIpv4(A),
      quotedDst: parseIpv4(B),
      quotedTransport: quote(client.localPort as number, 80, info.sndUna),
    });
    expect(client.tcpInfo()?.mss).toBe(1160);
    client.end(data.subarray(100_000));
    await t.pair.run(20_000, { until: () => got.ended() });
    expect(got.buffer().equals(data)).toBe(true);
    expect(t.a.counters.pmtuRetransmits).toBe(1);
    const afterIcmp = t.pair.captured.filter((c) => c.from === 'a' && c.at >= icmpAt && !c.dropped);
    expect(Math.max(...afterIcmp.map((c) => c.segment.payload.length))).toBe(1160);
  });
});
