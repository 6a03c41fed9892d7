// Two TcpLayers over a FakeIpPair: the fixture of the TCP component tests.
import type { FakeClock } from '../../../wire/src/testing/fake-clock.js';
import type { TcpOptions } from '../tcp/config.js';
import { TcpLayer } from '../tcp/layer.js';
import type { TcpSocket } from '../tcp/socket.js';
import { type FakeIpPair, type FakeIpPairOptions, fakeIpPair } from './fake-ip-pair.js';

export interface TcpPair {
  pair: FakeIpPair;
  clock: FakeClock;
  /** The TCP of side a (10.244.1.2 by default) and of side b (10.244.2.3). */
  a: TcpLayer;
  b: TcpLayer;
}

export function tcpPair(options: FakeIpPairOptions & { tcp?: TcpOptions; tcpA?: TcpOptions; tcpB?: TcpOptions } = {}): TcpPair {
  const pair = fakeIpPair(options);
  const a = new TcpLayer(pair.a, { ...options.tcp, ...options.tcpA });
  const b = new TcpLayer(pair.b, { ...options.tcp, ...options.tcpB });
  pair.a.register(a);
  pair.b.register(b);
  return { pair, clock: pair.clock as FakeClock, a, b };
}

/** Collects everything a socket emits as data. */
export function collect(socket: TcpSocket): { chunks: Buffer[]; bytes: () => number; buffer: () => Buffer; ended: () => boolean } {
  const chunks: Buffer[] = [];
  let ended = false;
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('end', () => {
    ended = true;
  });
  return {
    chunks,
    bytes: () => chunks.reduce((n, c) => n + c.length, 0),
    buffer: () => Buffer.concat(chunks),
    ended: () => ended,
  };
}

/** Deterministic test data: byte i is a function of i and the seed. */
export function pattern(length: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
