import { formatIpv4 } from '@podnet/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HookPacket } from '../hook.ts';
import { decodeChecked, icmpEcho, sctpPacket, TCP, tcpPacket, udpPacket } from '../testing/conntrack-packets.ts';
import { manipPacket } from './rewrite.ts';

const address = fc
  .tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 254 }))
  .map((o) => o.join('.'));
const port = fc.integer({ min: 1, max: 65535 });

const packet = fc.oneof(
  fc.record({ kind: fc.constant('udp'), src: address, dst: address, sport: port, dport: port, data: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant('tcp'), src: address, dst: address, sport: port, dport: port, data: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant('sctp'), src: address, dst: address, sport: port, dport: port, data: fc.constant(new Uint8Array()) }),
  fc.record({ kind: fc.constant('icmp'), src: address, dst: address, sport: port, dport: port, data: fc.constant(new Uint8Array()) }),
);

function build(p: { kind: string; src: string; dst: string; sport: number; dport: number; data: Uint8Array }): HookPacket {
  switch (p.kind) {
    case 'udp':
      return udpPacket(p.src, p.sport, p.dst, p.dport, Buffer.from(p.data));
    case 'tcp':
      return tcpPacket({
        src: p.src,
        dst: p.dst,
        sport: p.sport,
        dport: p.dport,
        flags: TCP.ACK,
        seq: 1,
        ack: 1,
        data: Buffer.from(p.data),
      });
    case 'sctp':
      return sctpPacket(p.src, p.sport, p.dst, p.dport, 0);
    default:
      return icmpEcho(p.src, p.dst, p.sport);
  }
}

describe('manipPacket (nf_nat_ipv4_manip_pkt)', () => {
  it('rewrites the address and port asked for and leaves every checksum valid (RFC 1624 updates, CRC32c recomputed)', () => {
    fc.assert(
      fc.property(packet, address, port, fc.constantFrom('SRC' as const, 'DST' as const), (p, newAddress, newPort, manip) => {
        const pkt = build(p);
        const target = { protocol: 0, src: 0, dst: 0, srcPort: newPort, dstPort: newPort };
        const a = newAddress.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
        if (manip === 'SRC') target.src = a;
        else target.dst = a;
        manipPacket(pkt.buf, 0, pkt.end, target, manip, false);
        const d = decodeChecked(pkt);
        expect(d.checksumsOk).toBe(true);
        expect(formatIpv4(manip === 'SRC' ? d.ip.src : d.ip.dst)).toBe(newAddress);
        expect(formatIpv4(manip === 'SRC' ? d.ip.dst : d.ip.src)).toBe(manip === 'SRC' ? p.dst : p.src);
        if (p.kind === 'icmp') expect(d.ip.payload.readUInt16BE(4)).toBe(newPort);
        else {
          expect(d.ip.payload.readUInt16BE(manip === 'SRC' ? 0 : 2)).toBe(newPort);
          expect(d.ip.payload.readUInt16BE(manip === 'SRC' ? 2 : 0)).toBe(manip === 'SRC' ? p.dport : p.sport);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a UDP datagram without checksum without one', () => {
    const pkt = udpPacket('10.0.0.1', 1, '10.0.0.2', 2);
    pkt.buf.writeUInt16BE(0, 26);
    manipPacket(pkt.buf, 0, pkt.end, { protocol: 17, src: 0x0a000009, dst: 0, srcPort: 9, dstPort: 0 }, 'SRC', false);
    expect(pkt.buf.readUInt16BE(26)).toBe(0);
    expect(decodeChecked(pkt).checksumsOk).toBe(true);
  });
});
