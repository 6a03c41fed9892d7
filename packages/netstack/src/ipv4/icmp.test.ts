// ICMP errors as Linux sends them: time exceeded from a router (RFC 1812 §5.3.1), host
// unreachable after ARP fails (arp_error_report), time exceeded code 1 when reassembly times out
// (ip_expire), no route (net unreachable), and the RFC 1812 §4.3.2.8 rate limit.
import { parseIpv4 } from '@podnet/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../wire/src/testing/fake-clock.js';
import { twoPodsOnBridge } from '../testing/topology.js';
import { twoNodesOverVxlan } from '../testing/two-nodes.js';
import { settle, waitFor } from '../testing/wait.js';
import type { IcmpErrorReport } from '../transport.js';
import { writeHeader } from './header.js';
import { IcmpRateLimiter } from './icmp-rate.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('ICMP errors', () => {
  it('TTL 1 through a router: time exceeded from the router', async () => {
    const t = await twoNodesOverVxlan();
    cleanup = t.close;
    await expect(t.a.ns.ping(t.b.ip, { ttl: 1, timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'PODNET_ERR_PING_ERROR',
      icmpType: 11,
      icmpCode: 0,
      reporter: '10.244.1.1',
    });
    // TTL 2 dies at the second router.
    await expect(t.a.ns.ping(t.b.ip, { ttl: 2, timeoutMs: 5000 })).rejects.toMatchObject({ icmpType: 11, reporter: '10.244.2.0' });
    expect((await t.a.ns.ping(t.b.ip, { ttl: 3, timeoutMs: 5000 })).ttl).toBe(62);
  });

  it('no route at a router: net unreachable', async () => {
    const t = twoPodsOnBridge();
    cleanup = t.close;
    await expect(t.a.ns.ping('192.0.2.1', { timeoutMs: 5000 })).rejects.toMatchObject({ icmpType: 3, icmpCode: 0, reporter: '10.244.1.1' });
  });

  it('no route locally: ENETUNREACH at once', async () => {
    const t = twoPodsOnBridge();
    cleanup = t.close;
    t.a.ns.routes.delete('default');
    await expect(t.a.ns.ping('192.0.2.1')).rejects.toMatchObject({ code: 'ENETUNREACH' });
  });

  it('a neighbour that never answers ARP: host unreachable after 3 tries, on the injected clock', async () => {
    const clock = new FakeClock();
    const t = twoPodsOnBridge({ clock });
    cleanup = t.close;
    const result = t.a.ns.ping('10.244.1.77', { timeoutMs: 10_000 }).catch((e) => e);
    for (let i = 0; i < 4; i++) {
      await settle();
      clock.advance(1000);
    }
    await settle();
    expect(await result).toMatchObject({ code: 'PODNET_ERR_PING_ERROR', icmpType: 3, icmpCode: 1, reporter: '10.244.1.2' });
    expect(t.a.ns.ipCounters.dropped('neigh-failed')).toBe(1);
  });

  it('forwarding off: a router drops what is not for it, without an ICMP error', async () => {
    const t = twoPodsOnBridge();
    cleanup = t.close;
    t.host.ipForward = false;
    await expect(t.a.ns.ping('192.0.2.1', { timeoutMs: 300 })).rejects.toMatchObject({ code: 'PODNET_ERR_PING_TIMEOUT' });
    expect(t.host.ipCounters.dropped('forwarding-disabled')).toBe(1);
  });

  it('reassembly timeout: time exceeded code 1 to the sender, 30 s after the first fragment', async () => {
    const clock = new FakeClock();
    const t = twoPodsOnBridge({ clock });
    cleanup = t.close;
    const reports: IcmpErrorReport[] = [];
    t.a.ns.registerTransport({ protocol: 253, receive: () => true, icmpError: (r) => reports.push(r) });
    // Make B known to A first (ARP), then send B a lone first fragment by hand.
    await Promise.all([
      t.a.ns.ping(t.b.ip, { timeoutMs: 1000 }),
      (async () => {
        for (let i = 0; i < 5; i++) await settle();
      })(),
    ]);
    const frame = Buffer.alloc(14 + 20 + 16);
    writeHeader(frame, 14, {
      src: parseIpv4(t.a.ip),
      dst: parseIpv4(t.b.ip),
      protocol: 253,
      totalLength: 36,
      identification: 77,
      ttl: 64,
      tos: 0,
      dontFragment: false,
    });
    frame.writeUInt16BE(0x2000, 14 + 6); // MF, offset 0
    frame.writeUInt16BE(0, 24);
    let sum = 0;
    for (let i = 14; i < 34; i += 2) sum += frame.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    frame.writeUInt16BE(~sum & 0xffff, 24);
    frame.writeUIntBE(t.b.eth0.mac, 0, 6);
    frame.writeUIntBE(t.a.eth0.mac, 6, 6);
    frame.writeUInt16BE(0x0800, 12);
    t.a.eth0.transmit(frame);
    await settle();
    clock.advance(29_999);
    await settle();
    expect(reports).toHaveLength(0);
    clock.advance(1);
    await settle();
    await waitFor('the ICMP error', () => reports.length === 1);
    expect(reports[0]).toMatchObject({ type: 11, code: 1, reporter: parseIpv4(t.b.ip) });
  });
});

describe('ICMP rate limit (RFC 1812 §4.3.2.8, Linux icmp_ratelimit)', () => {
  it('a burst of 6 per destination, then one per second; frag-needed and echo replies are not limited', () => {
    const clock = new FakeClock(100_000);
    const l = new IcmpRateLimiter(clock);
    const dst = parseIpv4('10.244.1.2');
    const burst = Array.from({ length: 8 }, () => l.allow(3, 3, dst));
    expect(burst).toEqual([true, true, true, true, true, true, false, false]);
    clock.advance(999);
    expect(l.allow(3, 3, dst)).toBe(false);
    clock.advance(1);
    expect(l.allow(3, 3, dst)).toBe(true);
    expect(l.allow(3, 3, parseIpv4('10.244.1.3'))).toBe(true);
    for (let i = 0; i < 20; i++) expect(l.allow(3, 4, dst)).toBe(true);
    for (let i = 0; i < 20; i++) expect(l.allow(0, 0, dst)).toBe(true);
  });

  it('the global bucket caps every destination together (50, refilled at 1000/s)', () => {
    const clock = new FakeClock(100_000);
    const l = new IcmpRateLimiter(clock);
    let allowed = 0;
    for (let i = 0; i < 100; i++) if (l.allow(11, 0, i + 1)) allowed++;
    expect(allowed).toBe(50);
  });
});
