import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeInterop } from '../../../test/support/interop.ts';
import { parseIpv4, readIpv4 } from './address.js';
import { pseudoHeaderSum } from './checksum.js';
import { DecodeError, EncodeError } from './errors.js';
import * as tcp from './tcp.js';
import { arbTcpRepr } from './testing/arbitraries/tcp.js';
import { encodeChecks } from './testing/fixtures.js';
import { captureFrame, captureFrames, capturePath, TSHARK_TCP_FIELDS, tcpAsTsharkFields, tsharkFields } from './testing/pnb-captures.js';

// Real frames, captured on this machine by packages/wire/fixtures/pnb-capture.sh between the
// namespaces pnb-a (veth pa0, 10.77.0.1) and pnb-b (veth pb0, 10.77.0.2), Linux 6.18:
//   ip netns exec pnb-a ethtool -K pa0 tx off; ip netns exec pnb-b ethtool -K pb0 tx off
//   ip netns exec pnb-a tshark -q -i pa0 -F pcap -w pnb-l4.pcap -f 'not udp port 4789 and not arp'
//   ip netns exec pnb-b python3 -c 's = socket.socket(); s.bind(("10.77.0.2", 8080)); s.listen(1);
//       c, _ = s.accept(); c.recv(100); c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npnb\n"); c.close()'
//   ip netns exec pnb-a python3 -c 's = socket.create_connection(("10.77.0.2", 8080));
//       s.sendall(b"GET / HTTP/1.1\r\nHost: pnb-b\r\n\r\n"); s.recv(100); s.close()'
//   ip netns exec pnb-a python3 -c 'socket.socket().connect(("10.77.0.2", 8081))'   # closed port
// OFFLOADED comes from the same exchange to port 8082 with `tx on` (pnb-offload.pcap).
// The TCP header starts at byte 34 (Ethernet 14 + IPv4 20). tshark -T json -x said:
//
// SYN, pnb-l4.pcap frame 2: tcp.srcport 42814, dstport 8080, seq_raw 1870895693, ack_raw 0,
//   hdr_len 40, flags 0x0002, window_size_value 64240, checksum 0xdf4e (status 1, Good),
//   urgent_pointer 0; options: mss_val 1460, sack_perm, timestamp tsval 3883376905 tsecr 0, nop,
//   wscale.shift 10 (Linux sends all four; NOP aligns the window scale)
const SYN = Buffer.from(
  '02770000000202770000000108004500003c8f394000400696e60a4d00010a4d0002' +
    'a73e1f906f839a4d00000000a002faf0df4e0000020405b40402080ae777a109000000000103030a',
  'hex',
);
// SYN-ACK, frame 3 (10.77.0.2 > 10.77.0.1): seq_raw 3257064242, ack_raw 1870895694, flags 0x0012,
//   window 65160, checksum 0x27dd (Good), same options with tsecr 3883376905.
const SYN_ACK = Buffer.from(
  '02770000000102770000000208004500003c00004000400626200a4d00020a4d0001' +
    '1f90a73ec222db326f839a4ea012fe8827dd0000020405b40402080af6941fdee777a1090103030a',
  'hex',
);
// Data, frame 5: seq_raw 1870895694, ack_raw 3257064243, hdr_len 32, flags 0x0018 (PSH, ACK),
//   window_size_value 63 (x1024), checksum 0x447e (Good), options nop nop timestamp
//   tsval 3883376905 tsecr 4136902622, tcp.len 31, payload "GET / HTTP/1.1\r\nHost: pnb-b\r\n\r\n".
const DATA = Buffer.from(
  '0277000000020277000000010800450000538f3b4000400696cd0a4d00010a4d0002' +
    'a73e1f906f839a4ec222db338018003f447e00000101080ae777a109f6941fde' +
    '474554202f20485454502f312e310d0a486f73743a20706e622d620d0a0d0a',
  'hex',
);
// FIN, frame 9: seq_raw 1870895725, ack_raw 3257064285, flags 0x0011 (FIN, ACK), window 63,
//   checksum 0x54ac (Good), nop nop timestamp 3883376905/4136902622.
const FIN = Buffer.from(
  '0277000000020277000000010800450000348f3d4000400696ea0a4d00010a4d0002' +
    'a73e1f906f839a6dc222db5d8011003f54ac00000101080ae777a109f6941fde',
  'hex',
);
// RST, frame 13 (10.77.0.2 > 10.77.0.1), the answer to frame 12's SYN (seq 1601511126) to the
//   closed port 8081: srcport 8081, dstport 54470, seq_raw 0, ack_raw 1601511127, hdr_len 20,
//   flags 0x0014 (RST, ACK), window 0, checksum 0x2890 (Good). RFC 9293 §3.10.7.1: a segment
//   without ACK to a CLOSED port gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
const RST = Buffer.from(
  '02770000000102770000000208004500002800004000400626340a4d00020a4d0001' + '1f91d4c6000000005f751ed75014000028900000',
  'hex',
);
// Offloaded data, pnb-offload.pcap frame 5: srcport 56692, dstport 8082, flags 0x0018,
//   checksum 0x14dc, "[TCP CHECKSUM INCORRECT]", checksum_calculated 0xbe79; payload
//   "GET /offload HTTP/1.1\r\n\r\n".
const OFFLOADED = Buffer.from(
  '02770000000202770000000108004500004d24d540004006013a0a4d00010a4d0002' +
    'dd741f9253ba2d78fea13f788018003f14dc00000101080a6072714e4a92907d' +
    '474554202f6f66666c6f616420485454502f312e310d0a0d0a',
  'hex',
);
const L4 = 34;
const A = parseIpv4('10.77.0.1');
const B = parseIpv4('10.77.0.2');
const A_TO_B = { src: A, dst: B };
const B_TO_A = { src: B, dst: A };
const { FIN: F, SYN: S, RST: R, PSH: P, ACK, URG, ECE, CWR } = tcp.TcpFlags;

/** The decode error for bytes that must not decode. */
function decodeError(buf: Buffer, offset?: number, end?: number): DecodeError {
  try {
    tcp.decode(buf, offset, end);
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
  throw new Error('decoded without an error');
}

/** Every re-encoding the codec contract asks for gives back the captured bytes. */
function expectExactReencode(frame: Buffer, pseudo: { src: number; dst: number }): void {
  const bytes = frame.subarray(L4);
  const s = tcp.decode(bytes);
  expect(tcp.encodingLength(s)).toBe(bytes.length);
  expect(encodeChecks(bytes, (buf, at) => tcp.encode(s, buf, at))).toEqual({ exact: true, atOffset: true });
  expect(encodeChecks(bytes, (buf, at) => tcp.encode({ ...s, checksum: undefined }, buf, at, pseudo))).toEqual({
    exact: true,
    atOffset: true,
  });
}

describe('tcp', () => {
  it('the hex fixtures are the captured frames', () => {
    expect(captureFrame('pnb-l4', 2).equals(SYN)).toBe(true);
    expect(captureFrame('pnb-l4', 3).equals(SYN_ACK)).toBe(true);
    expect(captureFrame('pnb-l4', 5).equals(DATA)).toBe(true);
    expect(captureFrame('pnb-l4', 9).equals(FIN)).toBe(true);
    expect(captureFrame('pnb-l4', 13).equals(RST)).toBe(true);
    expect(captureFrame('pnb-offload', 5).equals(OFFLOADED)).toBe(true);
  });

  it('decodes a real SYN with MSS, SACK-permitted, timestamps and window scale', () => {
    const bytes = SYN.subarray(L4);
    expect(tcp.decode(bytes)).toEqual({
      srcPort: 42814,
      dstPort: 8080,
      seq: 1870895693,
      ack: 0,
      reserved: 0,
      flags: S,
      window: 64240,
      checksum: 0xdf4e,
      urgentPointer: 0,
      options: [
        { kind: 'mss', value: 1460 },
        { kind: 'sack-permitted' },
        { kind: 'timestamps', tsval: 3883376905, tsecr: 0 },
        { kind: 'nop' },
        { kind: 'window-scale', shift: 10 },
      ],
      payload: Buffer.alloc(0),
    });
    expect(tcp.headerLength(tcp.decode(bytes))).toBe(40);
    expect(tcp.checksumValid(bytes, 0, bytes.length, A_TO_B)).toBe(true);
    expect(tcp.checksumValid(SYN, L4, SYN.length, A_TO_B)).toBe(true);
    expect(tcp.flagsString(S)).toBe('S');
    expectExactReencode(SYN, A_TO_B);
  });

  it('decodes the real SYN-ACK', () => {
    const s = tcp.decode(SYN_ACK, L4);
    expect(s).toMatchObject({
      srcPort: 8080,
      dstPort: 42814,
      seq: 3257064242,
      ack: 1870895694,
      flags: S | ACK,
      window: 65160,
      checksum: 0x27dd,
    });
    expect(s.options).toContainEqual({ kind: 'timestamps', tsval: 4136902622, tsecr: 3883376905 });
    expect(tcp.flagsString(s.flags)).toBe('S.');
    expect(tcp.checksumValid(SYN_ACK, L4, SYN_ACK.length, B_TO_A)).toBe(true);
    expectExactReencode(SYN_ACK, B_TO_A);
  });

  it('decodes a real data segment, its payload a view into the frame', () => {
    const s = tcp.decode(DATA, L4);
    expect(s).toEqual({
      srcPort: 42814,
      dstPort: 8080,
      seq: 1870895694,
      ack: 3257064243,
      reserved: 0,
      flags: P | ACK,
      window: 63,
      checksum: 0x447e,
      urgentPointer: 0,
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', tsval: 3883376905, tsecr: 4136902622 }],
      payload: Buffer.from('GET / HTTP/1.1\r\nHost: pnb-b\r\n\r\n'),
    });
    expect(s.payload.buffer).toBe(DATA.buffer);
    expect(s.payload.byteOffset).toBe(DATA.byteOffset + L4 + 32);
    expect(tcp.flagsString(s.flags)).toBe('P.');
    expect(tcp.checksumValid(DATA, L4, DATA.length, A_TO_B)).toBe(true);
    expectExactReencode(DATA, A_TO_B);
  });

  it('decodes a real FIN', () => {
    const s = tcp.decode(FIN, L4);
    expect(s).toMatchObject({ seq: 1870895725, ack: 3257064285, flags: F | ACK, window: 63, checksum: 0x54ac });
    expect(s.payload.length).toBe(0);
    expect(tcp.flagsString(s.flags)).toBe('F.');
    expect(tcp.checksumValid(FIN, L4, FIN.length, A_TO_B)).toBe(true);
    expectExactReencode(FIN, A_TO_B);
  });

  it('decodes a real RST from a closed port', () => {
    const s = tcp.decode(RST, L4);
    const syn = tcp.decode(captureFrame('pnb-l4', 12), L4);
    expect(s).toEqual({
      srcPort: 8081,
      dstPort: 54470,
      seq: 0,
      ack: 1601511127,
      reserved: 0,
      flags: R | ACK,
      window: 0,
      checksum: 0x2890,
      urgentPointer: 0,
      options: [],
      payload: Buffer.alloc(0),
    });
    expect(s.ack).toBe(syn.seq + 1);
    expect(tcp.headerLength(s)).toBe(tcp.MIN_HEADER_LENGTH);
    expect(tcp.flagsString(s.flags)).toBe('R.');
    expect(tcp.checksumValid(RST, L4, RST.length, B_TO_A)).toBe(true);
    expectExactReencode(RST, B_TO_A);
  });

  it('keeps an offloaded (partial) checksum as read, and computes the real one when asked', () => {
    const bytes = OFFLOADED.subarray(L4);
    const s = tcp.decode(bytes);
    // Linux CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum for the NIC to finish.
    expect(s.checksum).toBe(0x14dc);
    expect(s.checksum).toBe(pseudoHeaderSum(A, B, 6, bytes.length));
    expect(tcp.checksumValid(bytes, 0, bytes.length, A_TO_B)).toBe(false);
    expect(encodeChecks(bytes, (buf, at) => tcp.encode(s, buf, at))).toEqual({ exact: true, atOffset: true });
    const fixed = tcp.encode({ ...s, checksum: undefined }, undefined, 0, A_TO_B);
    expect(fixed.readUInt16BE(tcp.CHECKSUM_OFFSET)).toBe(0xbe79); // tshark's tcp.checksum_calculated
    expect(tcp.checksumValid(fixed, 0, fixed.length, A_TO_B)).toBe(true);
  });

  it('prints the flags of the whole captured connection as tcpdump does', () => {
    const flags = captureFrames('pnb-l4')
      .slice(1)
      .map((f) => tcp.flagsString(tcp.decode(f, L4).flags));
    expect(flags).toEqual(['S', 'S.', '.', 'P.', '.', 'P.', '.', 'F.', 'F.', '.', 'S', 'R.']);
  });

  it('prints flags in tcpdump order (print-tcp.c: F S R P . U E W)', () => {
    expect(tcp.flagsString(ACK)).toBe('.');
    expect(tcp.flagsString(F | P | ACK)).toBe('FP.');
    expect(tcp.flagsString(S | ECE | CWR)).toBe('SEW');
    expect(tcp.flagsString(R | URG | ACK)).toBe('R.U');
    expect(tcp.flagsString(0xff)).toBe('FSRP.UEW');
    expect(tcp.flagsString(0)).toBe('none');
  });

  it('keeps unknown options, known options at a wrong length and the bytes after EOL exactly', () => {
    const crafted = Buffer.from(SYN.subarray(L4));
    const area = Buffer.alloc(20);
    // MSS with length 3 (RFC 9293 §3.2 says 4), unknown kind 30 (MPTCP, RFC 8684) with 2 bytes,
    // SACK with no blocks, a NOP, then EOL followed by non-zero "padding".
    area.set([2, 3, 9, 30, 4, 0xaa, 0xbb, 5, 2, 1, 0, 0, 0x77]);
    area[19] = 0x42;
    area.copy(crafted, 20);
    const s = tcp.decode(crafted);
    expect(s.options).toEqual([
      { kind: 'unknown', type: 2, data: Buffer.from([9]) },
      { kind: 'unknown', type: 30, data: Buffer.from([0xaa, 0xbb]) },
      { kind: 'unknown', type: 5, data: Buffer.alloc(0) },
      { kind: 'nop' },
      { kind: 'eol', rest: area.subarray(11) },
    ]);
    expect(encodeChecks(crafted, (buf, at) => tcp.encode(s, buf, at))).toEqual({ exact: true, atOffset: true });
  });

  it('decodes SACK blocks (RFC 2018 §3) and pads encoded options to 32 bits with zeros', () => {
    const blocks = [
      { left: 1000, right: 2000 },
      { left: 0xfffffff0, right: 0x10 },
    ];
    const out = tcp.encode({
      ...tcp.decode(FIN, L4),
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks }, { kind: 'window-scale', shift: 7 }],
    });
    // 2 + 18 + 3 = 23 option bytes, padded to 24: the data offset says 11 words.
    expect(out[tcp.DATA_OFFSET_OFFSET]).toBe(0xb0);
    expect(out[tcp.MIN_HEADER_LENGTH + 23]).toBe(0);
    expect(tcp.decode(out).options).toEqual([
      { kind: 'nop' },
      { kind: 'nop' },
      { kind: 'sack', blocks },
      { kind: 'window-scale', shift: 7 },
      { kind: 'eol', rest: Buffer.alloc(0) },
    ]);
  });

  it('refuses malformed headers and options with a DecodeError at the offending byte', () => {
    const bytes = SYN.subarray(L4);
    const mutated = (at: number, value: number) => {
      const b = Buffer.from(bytes);
      b[at] = value;
      return b;
    };
    expect(decodeError(bytes.subarray(0, 19))).toMatchObject({ protocol: 'tcp', offset: 0 });
    expect(decodeError(SYN, L4, L4 + 10)).toMatchObject({ offset: L4, reason: expect.stringMatching(/truncated header/) });
    expect(decodeError(mutated(tcp.DATA_OFFSET_OFFSET, 0x40))).toMatchObject({
      offset: tcp.DATA_OFFSET_OFFSET,
      reason: expect.stringMatching(/data offset 4 is below the minimum 5/),
    });
    expect(decodeError(mutated(tcp.DATA_OFFSET_OFFSET, 0xb0))).toMatchObject({
      offset: 0,
      reason: expect.stringMatching(/truncated header with options/),
    });
    // Option lengths: byte 20 is the MSS kind, byte 21 its length.
    expect(decodeError(mutated(21, 1))).toMatchObject({ offset: 21, reason: expect.stringMatching(/length 1, below the minimum 2/) });
    expect(decodeError(mutated(21, 0))).toMatchObject({ offset: 21 });
    expect(decodeError(mutated(21, 21))).toMatchObject({ offset: 21, reason: expect.stringMatching(/runs past the header/) });
    // A kind in the last byte of the option area has no room for its length byte.
    const noLength = Buffer.from(bytes.subarray(0, 24));
    noLength[tcp.DATA_OFFSET_OFFSET] = 0x60;
    noLength.set([1, 1, 1, 8], 20);
    expect(decodeError(noLength)).toMatchObject({ offset: 23, reason: expect.stringMatching(/no length byte/) });
    // Offsets are absolute in the buffer decode was given.
    expect(decodeError(Buffer.concat([SYN.subarray(0, L4), mutated(21, 1)]), L4).offset).toBe(L4 + 21);
    // checksumValid never throws either.
    expect(tcp.checksumValid(bytes, 0, 10, A_TO_B)).toBe(false);
  });

  it('refuses to encode more than 40 bytes of options, misplaced EOLs or out-of-range fields', () => {
    const s = tcp.decode(SYN, L4);
    const e = (r: tcp.TcpRepr) => () => tcp.encode(r);
    expect(e({ ...s, options: [...s.options, ...s.options, ...s.options] })).toThrow(/options take 60 bytes; at most 40/);
    expect(e({ ...s, options: [{ kind: 'eol', rest: Buffer.alloc(0) }, { kind: 'nop' }] })).toThrow(/must be the last/);
    expect(e({ ...s, options: [{ kind: 'unknown', type: 1, data: Buffer.alloc(2) }] })).toThrow(/kind 1 has no length byte/);
    expect(e({ ...s, options: [{ kind: 'unknown', type: 0, data: Buffer.alloc(2) }] })).toThrow(EncodeError);
    expect(e({ ...s, options: [{ kind: 'unknown', type: 256, data: Buffer.alloc(2) }] })).toThrow(/option kind 256/);
    expect(e({ ...s, options: [{ kind: 'mss', value: 70000 }] })).toThrow(/MSS 70000/);
    expect(e({ ...s, options: [{ kind: 'window-scale', shift: 256 }] })).toThrow(EncodeError);
    expect(e({ ...s, options: [{ kind: 'sack', blocks: [{ left: -1, right: 0 }] }] })).toThrow(/SACK left edge -1/);
    expect(e({ ...s, options: [{ kind: 'timestamps', tsval: 2 ** 32, tsecr: 0 }] })).toThrow(/TSval/);
    expect(e({ ...s, srcPort: 70000 })).toThrow(/source port 70000/);
    expect(e({ ...s, dstPort: 65536 })).toThrow(EncodeError);
    expect(e({ ...s, seq: 2 ** 32 })).toThrow(/sequence number/);
    expect(e({ ...s, ack: -1 })).toThrow(/acknowledgment number/);
    expect(e({ ...s, reserved: 16 })).toThrow(/reserved bits/);
    expect(e({ ...s, flags: 256 })).toThrow(/flags/);
    expect(e({ ...s, window: 65536 })).toThrow(/window/);
    expect(e({ ...s, urgentPointer: 1.5 })).toThrow(/urgent pointer/);
    expect(e({ ...s, checksum: 0x10000 })).toThrow(/checksum/);
    expect(e({ ...s, checksum: undefined })).toThrow(/no pseudo-header/);
  });

  it('decode(encode(x)) equals x', () => {
    fc.assert(fc.property(arbTcpRepr(), (repr) => void expect(tcp.decode(tcp.encode(repr))).toEqual(repr)));
  });

  it('encodes the same bytes at any offset, touching nothing else', () => {
    fc.assert(
      fc.property(arbTcpRepr(), fc.integer({ min: 0, max: 16 }), (repr, offset) => {
        const alone = tcp.encode(repr);
        const len = tcp.encodingLength(repr);
        expect(alone.length).toBe(len);
        const buf = Buffer.alloc(offset + len + 3, 0xa5);
        tcp.encode(repr, buf, offset);
        expect(buf.subarray(offset, offset + len).equals(alone)).toBe(true);
        expect(buf.subarray(0, offset).every((b) => b === 0xa5)).toBe(true);
        expect(buf.subarray(offset + len).every((b) => b === 0xa5)).toBe(true);
      }),
    );
  });

  it('computed checksums verify', () => {
    fc.assert(
      fc.property(arbTcpRepr(), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), (repr, src, dst) => {
        const pseudo = { src, dst };
        const out = tcp.encode({ ...repr, checksum: undefined }, undefined, 0, pseudo);
        expect(tcp.checksumValid(out, 0, out.length, pseudo)).toBe(true);
      }),
    );
  });
});

describeInterop('tcp against tshark', { commands: ['tshark'] }, () => {
  it('podnet reads every TCP segment of the pnb captures as tshark does, checksum verdicts included', async () => {
    for (const [file, segments] of [
      ['pnb-l4', 12],
      ['pnb-offload', 10],
    ] as const) {
      const rows = await tsharkFields(capturePath(file), TSHARK_TCP_FIELDS, 'tcp');
      expect(rows.length).toBe(segments);
      for (const { 'frame.number': n, ...fields } of rows) {
        const frame = captureFrames(file)[Number(n) - 1] as Buffer;
        const s = tcp.decode(frame, L4);
        const pseudo = { src: readIpv4(frame, 26), dst: readIpv4(frame, 30) };
        expect(tcpAsTsharkFields(s, tcp.checksumValid(frame, L4, frame.length, pseudo)), `${file} frame ${n}`).toEqual(fields);
      }
    }
  });
});
