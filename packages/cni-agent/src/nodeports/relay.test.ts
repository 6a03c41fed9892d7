import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../wire/src/testing/fake-clock.js';
import { HostNetwork } from '../host/host-network.js';
import { emulatedClientAddress, NodePortRelay, UDP_FLOW_IDLE_MS } from './relay.js';

describe('emulatedClientAddress', () => {
  it('maps loopback clients to 203.0.113.1 and keeps routable IPv4 clients', () => {
    expect(emulatedClientAddress('127.0.0.1')).toBe('203.0.113.1');
    expect(emulatedClientAddress('127.0.1.7')).toBe('203.0.113.1');
    expect(emulatedClientAddress('::ffff:127.0.0.1')).toBe('203.0.113.1');
    expect(emulatedClientAddress('::1')).toBe('203.0.113.1');
    expect(emulatedClientAddress('::ffff:172.30.0.5')).toBe('172.30.0.5');
    expect(emulatedClientAddress('192.0.2.10')).toBe('192.0.2.10');
  });
});

describe('NodePortRelay UDP flows', () => {
  const clock = new FakeClock();
  let host: HostNetwork;
  let relay: NodePortRelay;
  let port = 0;

  beforeAll(async () => {
    host = await HostNetwork.create({
      node: `relay-${process.pid}`,
      nodeIp: '172.18.0.2',
      transportAddress: '127.0.0.1',
      uplinkPort: 0,
      clock,
    });
    relay = new NodePortRelay({ host, transportAddress: '127.0.0.1' });
    // A free real port to stand in for a nodePort.
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
    port = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    await relay.sync([{ protocol: 'UDP', port }]);
  });
  afterAll(async () => {
    await relay.close();
    await host.close();
  });

  async function send(s: dgram.Socket): Promise<void> {
    const before = relay.stats.udpDatagrams;
    await new Promise<void>((r) => s.send('x', port, '127.0.0.1', () => r()));
    for (let i = 0; i < 100 && relay.stats.udpDatagrams === before; i++) await new Promise((r) => setTimeout(r, 10));
  }

  it('keeps one flow per real client and expires it after 30 s idle on the injected clock', async () => {
    expect(relay.ports).toEqual([{ protocol: 'UDP', port }]);
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    await send(client);
    await send(client);
    expect(relay.stats.udpFlows).toBe(1);
    clock.advance(UDP_FLOW_IDLE_MS - 1);
    await send(client);
    expect(relay.stats.udpFlows).toBe(1);
    clock.advance(UDP_FLOW_IDLE_MS + 1);
    await send(client);
    expect(relay.stats.udpFlows).toBe(2);
    // The emulated socket took the client's real port (free in the outside namespace).
    expect(host.external.sockets.inUse(17, 0xcb007101, client.address().port)).toBe(true);
    client.close();
  });

  it('closes listeners no Service asks for any more', async () => {
    await relay.sync([]);
    expect(relay.ports).toEqual([]);
    const again = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(port, '127.0.0.1', () => resolve());
    });
    again.close();
  });
});
