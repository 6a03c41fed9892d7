// Acceptance 3: MTU. A 1500-byte DF packet towards a 1450-MTU VXLAN path yields ICMP
// fragmentation-needed with MTU 1450 at the sender (RFC 1191), which lowers the sender's path MTU;
// a 3000-byte UDP datagram without DF is fragmented (and fragmented again at the tunnel) and
// reassembled at the receiver.

import { parseIpv4 } from '@podnet/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { twoNodesOverVxlan } from '../testing/two-nodes.js';
import { waitFor } from '../testing/wait.js';
import type { IcmpErrorReport } from '../transport.js';
import type { RemoteInfo } from '../udp.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe('MTU across a VXLAN path', () => {
  it('a 1500-byte DF packet gets ICMP fragmentation needed with MTU 1450', async () => {
    const t = await twoNodesOverVxlan({ podMtu: 1500 });
    close = t.close;
    // An experimental protocol (RFC 3692: 253) so the test sees the raw ICMP report.
    const reports: IcmpErrorReport[] = [];
    t.a.ns.registerTransport({ protocol: 253, receive: () => true, icmpError: (r) => reports.push(r) });
    const dst = parseIpv4(t.b.ip);
    expect(t.a.ns.ip.pathMtu(dst)).toBe(1500);
    const r = t.a.ns.ip.send({ src: 0, dst, protocol: 253, payload: Buffer.alloc(1480, 7), dontFragment: true });
    expect(r).toEqual({ ok: true });
    await waitFor('the ICMP error', () => reports.length === 1);
    expect(reports[0]).toMatchObject({ type: 3, code: 4, nextHopMtu: 1450, reporter: parseIpv4('10.244.1.1'), quotedDst: dst });
    expect(t.a.ns.ip.pathMtu(dst)).toBe(1450);
    expect(t.n1.host.ipCounters.dropped('frag-needed')).toBe(1);
    // Now the sender itself refuses a DF packet too big for the learned path (EMSGSIZE).
    expect(t.a.ns.ip.send({ src: 0, dst, protocol: 253, payload: Buffer.alloc(1480), dontFragment: true })).toEqual({
      ok: false,
      error: 'EMSGSIZE',
    });
    // And one that fits goes through the tunnel.
    let got = 0;
    t.b.ns.registerTransport({
      protocol: 253,
      receive: (_h, seg) => {
        got = seg.length;
        return true;
      },
      icmpError: () => {},
    });
    expect(t.a.ns.ip.send({ src: 0, dst, protocol: 253, payload: Buffer.alloc(1430), dontFragment: true }).ok).toBe(true);
    await waitFor('delivery', () => got === 1430);
  });

  it('a 3000-byte UDP datagram without DF is fragmented and reassembled', async () => {
    const t = await twoNodesOverVxlan({ podMtu: 1500 });
    close = t.close;
    const server = t.b.ns.udp.createSocket();
    const got: Buffer[] = [];
    server.on('message', (m: Buffer, _r: RemoteInfo) => got.push(m));
    await new Promise<void>((resolve) => server.bind(7000, resolve));
    const payload = Buffer.alloc(3000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    t.a.ns.udp.createSocket().send(payload, 7000, t.b.ip);
    await waitFor('the reassembled datagram', () => got.length === 1);
    expect(got[0]?.equals(payload)).toBe(true);
    // Pod A cut it to its 1500 MTU (3 fragments), the node cut each 1500-byte fragment again for flannel.1.
    expect(t.a.eth0.counters.txPackets).toBeGreaterThanOrEqual(3);
    expect(t.n1.vxlan.counters.txPackets).toBeGreaterThanOrEqual(4);
  });
});
