// Cutting UDP GRO messages back into datagrams: runs are cut exactly, anything ambiguous is
// handed on whole.
import { describe, expect, it } from 'vitest';
import { forEachCoalescedDatagram } from './coalesced-datagrams.js';

const VXLAN = Buffer.from([0x08, 0, 0, 0, 0, 0, 1, 0]);

/** A VXLAN datagram (header + Ethernet + IPv4 of `ipBytes` total length), its payload bytes set to `fill`. */
function datagram(ipBytes: number, fill: number, header: Buffer = VXLAN, dstMac = 0x0a580af40202): Buffer {
  const d = Buffer.alloc(header.length + 14 + ipBytes, fill);
  header.copy(d, 0);
  d.writeUIntBE(dstMac, header.length, 6);
  d.writeUIntBE(0x0a580af40102, header.length + 6, 6);
  d.writeUInt16BE(0x0800, header.length + 12);
  const ip = header.length + 14;
  d[ip] = 0x45;
  d.writeUInt16BE(ipBytes, ip + 2);
  return d;
}

function cut(msg: Buffer, header = VXLAN.length): Buffer[] {
  const out: Buffer[] = [];
  forEachCoalescedDatagram(msg, header, (d) => out.push(Buffer.from(d)));
  return out;
}

describe('forEachCoalescedDatagram', () => {
  it('cuts a run of equal datagrams with a shorter last one back into exactly those datagrams', () => {
    const run = [datagram(1450, 1), datagram(1450, 2), datagram(1450, 3), datagram(300, 4)];
    expect(cut(Buffer.concat(run))).toEqual(run);
  });

  it('cuts a run of equal datagrams whose last is full-sized too, and a run on the uplink (no tunnel header)', () => {
    const run = [datagram(1450, 5), datagram(1450, 6)];
    expect(cut(Buffer.concat(run))).toEqual(run);
    const plain = [datagram(1500, 7, Buffer.alloc(0)), datagram(1500, 8, Buffer.alloc(0)), datagram(60, 9, Buffer.alloc(0))];
    expect(cut(Buffer.concat(plain), 0)).toEqual(plain);
  });

  it('hands on one datagram whole, and one that is not IPv4 (ARP) or is shorter than its IPv4 header', () => {
    const one = datagram(1450, 1);
    expect(cut(one)).toEqual([one]);
    const arp = Buffer.concat([VXLAN, Buffer.alloc(42, 0xff)]);
    arp.writeUInt16BE(0x0806, VXLAN.length + 12);
    expect(cut(arp)).toEqual([arp]);
    const truncated = datagram(1450, 1).subarray(0, 30);
    expect(cut(truncated)).toEqual([truncated]);
  });

  it('hands on whole a frame with trailing padding, even when the padding could be read as a header', () => {
    // A 28-byte IPv4 packet padded to Ethernet's 60-byte minimum: 18 bytes of padding after it.
    const padded = Buffer.concat([datagram(28, 0), Buffer.alloc(18)]);
    expect(cut(padded)).toEqual([padded]);
  });

  it('refuses to cut when a later piece belongs to another flow or its length does not match', () => {
    const otherVni = Buffer.from([0x08, 0, 0, 0, 0, 0, 2, 0]);
    const mixed = Buffer.concat([datagram(1000, 1), datagram(1000, 2, otherVni)]);
    expect(cut(mixed)).toEqual([mixed]);
    const otherMac = Buffer.concat([datagram(1000, 1), datagram(1000, 2, VXLAN, 0x0a580af40203)]);
    expect(cut(otherMac)).toEqual([otherMac]);
    // A middle piece shorter than the first: not a run the kernel makes.
    const uneven = Buffer.concat([datagram(1000, 1), datagram(900, 2), datagram(1000, 3)]);
    expect(cut(uneven)).toEqual([uneven]);
    // The last piece claims more bytes than the message has left.
    const short = Buffer.concat([datagram(1000, 1), datagram(1000, 2).subarray(0, 500)]);
    expect(cut(short)).toEqual([short]);
  });

  it('says how many datagrams it found', () => {
    expect(forEachCoalescedDatagram(Buffer.concat([datagram(500, 1), datagram(500, 2), datagram(100, 3)]), 8, () => {})).toBe(3);
    expect(forEachCoalescedDatagram(datagram(500, 1), 8, () => {})).toBe(1);
  });
});
