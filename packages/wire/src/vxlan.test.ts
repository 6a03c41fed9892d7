import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeInterop } from '../../../test/support/interop.ts';
import { formatIpv4, formatMac, readIpv4 } from './address.js';
import * as arp from './arp.js';
import { DecodeError, EncodeError } from './errors.js';
import * as ethernet from './ethernet.js';
import * as icmpv4 from './icmpv4.js';
import * as ipv4 from './ipv4.js';
import * as tcp from './tcp.js';
import { arbVxlanRepr } from './testing/arbitraries/vxlan.js';
import { encodeChecks } from './testing/fixtures.js';
import {
  captureFrame,
  captureFrames,
  capturePath,
  type PnbCapture,
  TSHARK_TCP_FIELDS,
  tcpAsTsharkFields,
  tsharkFields,
} from './testing/pnb-captures.js';
import * as udp from './udp.js';
import * as vxlan from './vxlan.js';

// Real frames, captured on this machine by packages/wire/fixtures/pnb-capture.sh: namespaces
// pnb-a and pnb-b joined by the veth pair pa0/pb0 (10.77.0.1, 10.77.0.2), and in each a kernel
// vxlan device made as flannel's vxlan backend would, with one static peer:
//   ip -n pnb-a link add vxlan0 type vxlan id 1 dstport 4789 remote 10.77.0.2 dev pa0
//   ip -n pnb-b link add vxlan0 type vxlan id 1 dstport 4789 remote 10.77.0.1 dev pb0
//   ip -n pnb-a link set vxlan0 address 0a:58:0a:f4:01:01; ip -n pnb-a addr add 10.244.1.1/24 dev vxlan0
//   ip -n pnb-b link set vxlan0 address 0a:58:0a:f4:01:02; ip -n pnb-b addr add 10.244.1.2/24 dev vxlan0
//   ethtool -K pa0 tx off; ethtool -K vxlan0 tx off (both namespaces: real checksums everywhere)
//   ip netns exec pnb-a tshark -q -i pa0 -F pcap -w pnb-vxlan-ping.pcap -f 'udp port 4789 or arp'
//   ip netns exec pnb-a ping -c 1 -W 2 10.244.1.2
// and pnb-vxlan-tcp.pcap (-f 'udp port 4789') of
//   ip netns exec pnb-b python3 -m http.server 8000 --bind 10.244.1.2 --directory $WWW
//   ip netns exec pnb-a curl -sS --noproxy '*' http://10.244.1.2:8000/
//
// tshark -T json -x, pnb-vxlan-ping.pcap frame 5 (148 bytes):
//   eth 02:77:00:00:00:01 > 02:77:00:00:00:02; ip 10.77.0.1 > 10.77.0.2, id 0x0f93, checksum 0x5638;
//   udp.srcport 34141, udp.dstport 4789, udp.length 114, udp.checksum 0x14c0 (status 1, Good);
//   vxlan.flags 0x0800 (flag_i 1), vxlan.gbp 0, vxlan.vni 1, vxlan.reserved8 0;
//   inner eth 0a:58:0a:f4:01:01 > 0a:58:0a:f4:01:02; ip 10.244.1.1 > 10.244.1.2, id 0x5e00, ttl 64,
//   DF, checksum 0xc4be; icmp type 8 code 0, checksum 0x8850 (Good), ident 13151, seq 1, 48 data bytes.
// Linux picks the outer source port from a hash of the inner flow (vxlan_src_port), so the inner
// ARP (frames 3-4) and the ping (5-6) leave from different ports, and the outer UDP checksum is
// computed (these devices were made without `noudpcsum`).
const PING = captureFrame('pnb-vxlan-ping', 5);
const OUTER_UDP = 34;
const VXLAN_AT = OUTER_UDP + udp.HEADER_LENGTH;

/**
 * Decodes a frame layer by layer (Ethernet, ARP, IPv4, ICMP, UDP, VXLAN and the frame inside
 * it, TCP) and encodes it again innermost first, every checksum recomputed from scratch.
 * Equal bytes mean podnet computes each checksum exactly as the kernel did.
 */
function rebuild(frame: Buffer): Buffer {
  const eth = ethernet.decode(frame);
  let payload: Buffer;
  if (eth.etherType === ethernet.EtherType.ARP) {
    payload = arp.encode(arp.decode(eth.payload));
  } else {
    const ip = ipv4.decode(eth.payload);
    let l4: Buffer;
    if (ip.protocol === ipv4.IpProtocol.ICMP) {
      l4 = icmpv4.encode({ ...icmpv4.decode(ip.payload), checksum: undefined });
    } else if (ip.protocol === ipv4.IpProtocol.UDP) {
      const u = udp.decode(ip.payload);
      const inner = u.dstPort === vxlan.UDP_PORT ? vxlanRebuild(u.payload) : u.payload;
      l4 = udp.encode({ ...u, checksum: u.checksum === 0 ? 0 : undefined, payload: inner }, undefined, 0, ip);
    } else if (ip.protocol === ipv4.IpProtocol.TCP) {
      l4 = tcp.encode({ ...tcp.decode(ip.payload), checksum: undefined }, undefined, 0, ip);
    } else {
      l4 = ip.payload;
    }
    payload = ipv4.encode({ ...ip, checksum: undefined, payload: l4 });
  }
  return ethernet.encode({ ...eth, payload });
}

function vxlanRebuild(bytes: Buffer): Buffer {
  const vx = vxlan.decode(bytes);
  return vxlan.encode({ ...vx, payload: rebuild(vx.payload) });
}

function decodeError(buf: Buffer, offset?: number, end?: number): DecodeError {
  try {
    vxlan.decode(buf, offset, end);
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
  throw new Error('decoded without an error');
}

describe('vxlan', () => {
  it('decodes a real kernel VXLAN frame carrying a ping, every layer as tshark reads it', () => {
    const outerEth = ethernet.decode(PING);
    expect([formatMac(outerEth.src), formatMac(outerEth.dst)]).toEqual(['02:77:00:00:00:01', '02:77:00:00:00:02']);
    const outer = ipv4.decode(outerEth.payload);
    expect([formatIpv4(outer.src), formatIpv4(outer.dst), outer.identification, outer.checksum]).toEqual([
      '10.77.0.1',
      '10.77.0.2',
      0x0f93,
      0x5638,
    ]);
    const u = udp.decode(outer.payload);
    expect(u).toMatchObject({ srcPort: 34141, dstPort: vxlan.UDP_PORT, checksum: 0x14c0 });
    expect(udp.encodingLength(u)).toBe(114);
    expect(udp.checksumValid(outer.payload, 0, outer.payload.length, outer)).toBe(true);

    const vx = vxlan.decode(u.payload);
    expect(vx).toEqual({ flags: vxlan.FLAG_I, reserved1: 0, vni: 1, reserved2: 0, payload: PING.subarray(VXLAN_AT + vxlan.HEADER_LENGTH) });
    // The payload is a view of the captured frame, not a copy.
    expect(vx.payload.buffer).toBe(PING.buffer);
    expect(vxlan.decode(PING, VXLAN_AT)).toEqual(vx);

    const innerEth = ethernet.decode(vx.payload);
    expect([formatMac(innerEth.src), formatMac(innerEth.dst)]).toEqual(['0a:58:0a:f4:01:01', '0a:58:0a:f4:01:02']);
    const inner = ipv4.decode(innerEth.payload);
    expect([formatIpv4(inner.src), formatIpv4(inner.dst), inner.identification, inner.ttl, inner.dontFragment, inner.checksum]).toEqual([
      '10.244.1.1',
      '10.244.1.2',
      0x5e00,
      64,
      true,
      0xc4be,
    ]);
    expect(icmpv4.decode(inner.payload)).toMatchObject({ kind: 'echo-request', code: 0, checksum: 0x8850, identifier: 13151, sequence: 1 });
    // Outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 around the inner frame.
    expect(PING.length - vx.payload.length).toBe(vxlan.ENCAPSULATION_OVERHEAD);
  });

  it('re-encodes the real VXLAN header exactly, at offset 0 and 10', () => {
    const bytes = PING.subarray(VXLAN_AT);
    const vx = vxlan.decode(bytes);
    expect(vxlan.encodingLength(vx)).toBe(bytes.length);
    expect(bytes.subarray(0, 8).toString('hex')).toBe('0800000000000100');
    expect(encodeChecks(bytes, (buf, at) => vxlan.encode(vx, buf, at))).toEqual({ exact: true, atOffset: true });
  });

  it('rebuilds every captured frame with every checksum recomputed, byte for byte', () => {
    for (const file of ['pnb-vxlan-ping', 'pnb-vxlan-tcp'] as const) {
      captureFrames(file).forEach((frame, i) => {
        expect(rebuild(frame).equals(frame), `${file} frame ${i + 1}`).toBe(true);
      });
    }
  });

  it('carries the whole HTTP exchange: inner TCP with valid checksums from SYN to the last ACK', () => {
    const segments = captureFrames('pnb-vxlan-tcp').map((frame) => {
      const vx = vxlan.decode(udp.decode(ipv4.decode(ethernet.decode(frame).payload).payload).payload);
      const ip = ipv4.decode(ethernet.decode(vx.payload).payload);
      const seg = tcp.decode(ip.payload);
      expect(tcp.checksumValid(ip.payload, 0, ip.payload.length, ip)).toBe(true);
      return { vni: vx.vni, flags: tcp.flagsString(seg.flags), data: seg.payload.toString('latin1') };
    });
    expect(segments.every((s) => s.vni === 1)).toBe(true);
    expect(segments.map((s) => s.flags)).toEqual(['S', 'S.', '.', 'P.', '.', 'P.', '.', 'P.', '.', 'F.', 'F.', '.', '.']);
    expect(segments[3]?.data).toMatch(/^GET \/ HTTP\/1\.1\r\nHost: 10\.244\.1\.2:8000\r\n/);
    expect(segments[5]?.data).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
    expect(segments[7]?.data).toBe('hello from pnb-b\n');
  });

  it('keeps reserved bits and a missing I flag as read (RFC 7348 §5)', () => {
    const bytes = Buffer.from('0c123456000abc7f', 'hex');
    const vx = vxlan.decode(bytes);
    expect(vx).toEqual({ flags: 0x0c, reserved1: 0x123456, vni: 0xabc, reserved2: 0x7f, payload: Buffer.alloc(0) });
    expect(vxlan.encode(vx).equals(bytes)).toBe(true);
    expect(vxlan.decode(Buffer.from('0000000000000100', 'hex')).flags & vxlan.FLAG_I).toBe(0);
    expect(vxlan.decode(Buffer.from('08000000ffffff00', 'hex')).vni).toBe(0xffffff);
  });

  it('decodes only [offset, end), and refuses a truncated header with a DecodeError', () => {
    const vx = vxlan.decode(PING, VXLAN_AT, VXLAN_AT + 20);
    expect(vx.payload.length).toBe(12);
    expect(decodeError(Buffer.alloc(7))).toMatchObject({ protocol: 'vxlan', offset: 0, reason: expect.stringMatching(/truncated header/) });
    expect(decodeError(PING, VXLAN_AT, VXLAN_AT + 7).offset).toBe(VXLAN_AT);
    expect(decodeError(PING, PING.length - 3).offset).toBe(PING.length - 3);
    expect(decodeError(PING, 0, PING.length + 1).reason).toMatch(/bad bounds/);
  });

  it('refuses to encode a VNI wider than 24 bits, or other fields out of range', () => {
    const ok: vxlan.VxlanRepr = { flags: vxlan.FLAG_I, reserved1: 0, vni: 1, reserved2: 0, payload: Buffer.alloc(0) };
    expect(() => vxlan.encode({ ...ok, vni: 2 ** 24 })).toThrow(EncodeError);
    expect(() => vxlan.encode({ ...ok, vni: 2 ** 24 })).toThrow(/VNI 16777216 does not fit in 24 bits/);
    expect(() => vxlan.encode({ ...ok, vni: -1 })).toThrow(/VNI -1/);
    expect(() => vxlan.encode({ ...ok, vni: 1.5 })).toThrow(EncodeError);
    expect(() => vxlan.encode({ ...ok, flags: 256 })).toThrow(/flags 256/);
    expect(() => vxlan.encode({ ...ok, reserved1: 2 ** 24 })).toThrow(/reserved1/);
    expect(() => vxlan.encode({ ...ok, reserved2: 256 })).toThrow(/reserved2/);
    expect(vxlan.encode({ ...ok, vni: 2 ** 24 - 1 }).toString('hex')).toBe('08000000ffffff00');
  });

  it('decode(encode(x)) equals x, at any offset', () => {
    fc.assert(
      fc.property(arbVxlanRepr(), fc.integer({ min: 0, max: 16 }), (repr, offset) => {
        expect(vxlan.decode(vxlan.encode(repr))).toEqual(repr);
        const buf = Buffer.alloc(offset + vxlan.encodingLength(repr) + 2, 0xa5);
        vxlan.encode(repr, buf, offset);
        expect(vxlan.decode(buf, offset, buf.length - 2)).toEqual(repr);
        expect(buf.subarray(0, offset).every((b) => b === 0xa5)).toBe(true);
        expect(buf.subarray(buf.length - 2).every((b) => b === 0xa5)).toBe(true);
      }),
    );
  });
});

describeInterop('vxlan against tshark', { commands: ['tshark'] }, () => {
  it('podnet reads every outer UDP, VXLAN header and inner TCP segment of the pnb captures as tshark does', async () => {
    const vxlanFields = [
      'udp.srcport',
      'udp.dstport',
      'udp.length',
      'udp.checksum',
      'udp.checksum.status',
      'vxlan.flags',
      'vxlan.gbp',
      'vxlan.vni',
      'vxlan.reserved8',
    ];
    for (const [file, count] of [
      ['pnb-vxlan-ping', 4],
      ['pnb-vxlan-tcp', 13],
    ] as [PnbCapture, number][]) {
      const withTcp = file === 'pnb-vxlan-tcp';
      const rows = await tsharkFields(capturePath(file), withTcp ? [...vxlanFields, ...TSHARK_TCP_FIELDS] : vxlanFields, 'vxlan');
      expect(rows.length).toBe(count);
      for (const { 'frame.number': n, ...fields } of rows) {
        const frame = captureFrames(file)[Number(n) - 1] as Buffer;
        const outer = { src: readIpv4(frame, 26), dst: readIpv4(frame, 30) };
        const u = udp.decode(frame, OUTER_UDP);
        const vx = vxlan.decode(frame, VXLAN_AT, OUTER_UDP + udp.encodingLength(u));
        const hex4 = (v: number) => `0x${v.toString(16).padStart(4, '0')}`;
        const ours: Record<string, string> = {
          'udp.srcport': String(u.srcPort),
          'udp.dstport': String(u.dstPort),
          'udp.length': String(udp.encodingLength(u)),
          'udp.checksum': hex4(u.checksum as number),
          'udp.checksum.status': udp.checksumValid(frame, OUTER_UDP, frame.length, outer) ? '1' : '0',
          // tshark reads the first 16 bits as flags (VXLAN-GBP's G, I, D, A) and the next 16 as
          // the group policy ID: both are RFC 7348's flags byte and 24 reserved bits.
          'vxlan.flags': hex4((vx.flags << 8) | (vx.reserved1 >>> 16)),
          'vxlan.gbp': String(vx.reserved1 & 0xffff),
          'vxlan.vni': String(vx.vni),
          'vxlan.reserved8': String(vx.reserved2),
        };
        if (withTcp) {
          const ip = ipv4.decode(ethernet.decode(vx.payload).payload);
          Object.assign(ours, tcpAsTsharkFields(tcp.decode(ip.payload), tcp.checksumValid(ip.payload, 0, ip.payload.length, ip)));
        }
        expect(ours, `${file} frame ${n}`).toEqual(fields);
      }
    }
  });
});
