// The dgram-like UDP API: binding rules (EADDRINUSE, EADDRNOTAVAIL, specific vs wildcard),
// connected sockets' filtering, sizes, errors with codes, and datagrams with bad checksums dropped.
import { parseIpv4 } from '@podnet/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { twoPodsOnBridge } from './testing/topology.js';
import { settle, waitFor } from './testing/wait.js';
import type { RemoteInfo } from './udp.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

const errorOf = (s: { on(e: 'error', f: (e: Error) => void): unknown }) => new Promise<Error>((resolve) => s.on('error', resolve));

describe('UDP sockets', () => {
  it('binding: ephemeral ports, EADDRINUSE against the wildcard, EADDRNOTAVAIL for a foreign address', async () => {
    const t = twoPodsOnBridge();
    cleanup = t.close;
    const ns = t.a.ns;
    const wildcard = ns.udp.createSocket();
    wildcard.bind(8000);
    const specific = ns.udp.createSocket();
    const inUse = errorOf(specific);
    specific.bind(8000, t.a.ip);
    expect(await inUse).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
    const foreign = ns.udp.createSocket();
    const notOurs = errorOf(foreign);
    foreign.bind(8001, '10.244.1.3');
    expect(await notOurs).toMatchObject({ code: 'EADDRNOTAVAIL' });
    const ephemeral = ns.udp.createSocket();
    await new Promise<void>((resolve) => ephemeral.bind(resolve));
    expect(ephemeral.address().port).toBeGreaterThanOrEqual(32768);
    expect(ephemeral.address().port).toBeLessThanOrEqual(60999);
    expect(() => ephemeral.bind(9)).toThrow(/already bound/);
    wildcard.close();
    await settle();
    const again = ns.udp.createSocket();
    await new Promise<void>((resolve) => again.bind(8000, resolve));
  });

  it('a connected socket takes datagrams only from its peer', async () => {
    const t = twoPodsOnBridge();
    cleanup = t.close;
    const server = t.b.ns.udp.createSocket();
    await new Promise<void>((resolve) => server.bind(9000, resolve));
    const got: string[] = [];
    const client = t.a.ns.udp.createSocket();
    client.on('message', (m: Buffer) => got.push(m.toString()));
    await new Promise<void>((resolve) => client.connect(9000, t.b.ip, resolve));
    const stranger = t.b.ns.udp.createSocket();
    stranger.send('from a stranger', client.address().port, t.a.ip);
    server.send('from the peer', client.address().port, t.a.ip);
    await waitFor('the peer datagram', () => got.length === 1);
    await settle();
    expect(got).toEqual(['from the peer']);
    expect(() => client.send('x', 9000, t.b.ip)).toThrow(/connected/);
    expect(client.remoteAddress()).toEqual({ address: t.b.ip, family: 'IPv4', port: 9000 });
  });

  it('sizes: 65507 bytes is the largest datagram; an empty one works', async () => {
    const t = twoPodsOnBridge();
    cleanup = t.close;
    const server = t.b.ns.udp.createSocket();
    const sizes: number[] = [];
    server.on('message', (_m: Buffer, r: RemoteInfo) => sizes.push(r.size));
    await new Promise<void>((resolve) => server.bind(9001, resolve));
    const c = t.a.ns.udp.createSocket();
    const tooBig = await new Promise<Error | null>((resolve) => c.send(Buffer.alloc(65508), 9001, t.b.ip, resolve));
    expect(tooBig).toMatchObject({ code: 'EMSGSIZE' });
    c.send(Buffer.alloc(65507), 9001, t.b.ip);
    c.send(Buffer.alloc(0), 9001, t.b.ip);
    await waitFor('both datagrams', () => sizes.length === 2);
    expect(sizes.sort((x, y) => x - y)).toEqual([0, 65507]);
  });

  it('a datagram with a bad checksum is dropped without an ICMP error', async () => {
    const t = twoPodsOnBridge();
    cleanup = t.close;
    const server = t.b.ns.udp.createSocket();
    const got: Buffer[] = [];
    server.on('message', (m: Buffer) => got.push(m));
    await new Promise<void>((resolve) => server.bind(9002, resolve));
    const seg = Buffer.from([0x9c, 0x40, 0x23, 0x32, 0, 12, 0x12, 0x34, 1, 2, 3, 4]);
    t.a.ns.ip.send({ src: 0, dst: parseIpv4(t.b.ip), protocol: 17, payload: seg });
    await settle();
    await waitFor('the drop', () => t.b.ns.udp.drops.get('udp-checksum') === 1);
    expect(got).toHaveLength(0);
  });

  it('API misuse gets clear errors', () => {
    const t = twoPodsOnBridge();
    cleanup = t.close;
    const s = t.a.ns.udp.createSocket();
    expect(() => s.send('x')).toThrow(/not connected/);
    expect(() => s.bind(70000)).toThrow(/0-65535/);
    expect(() => s.send('x', 53, 'not-an-ip')).toThrow(/not an IPv4 address/);
    expect(() => s.address()).toThrow(/not bound/);
    s.close();
    expect(() => s.send('x', 53, '10.244.1.3')).toThrow(/closed/);
  });
});
