import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeInterop } from '../../../test/support/interop.ts';
import { parseIpv4 } from './address.js';
import { DecodeError, EncodeError } from './errors.js';
import * as ethernet from './ethernet.js';
import * as ipv4 from './ipv4.js';
import * as pcap from './pcap.js';
import * as sctp from './sctp.js';
import { arbSctpRepr } from './testing/arbitraries/sctp.js';
import { encodeChecks } from './testing/fixtures.js';
import { tsharkFields } from './testing/pnb-captures.js';

// No real SCTP capture can be made on these machines: the kernel has no SCTP (no modules
// directory, no modprobe; socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) fails with EPROTONOSUPPORT),
// so this INIT is built by the encoder, and checked two ways: against tshark, which validates
// its CRC32c (the interop test below), and against the RFC 3720 CRC32c test vectors.
//
// The INIT as Linux sends it (RFC 9260 §3.3.2): initiate tag 0x5ba2e2b4, a_rwnd 106496, 10
// outbound and 65535 inbound streams, initial TSN = the tag, then the Supported Address Types
// parameter (IPv4), whose 2 bytes of padding are the chunk's padding (length 26, padded to 28).
// Written into a pcap inside Ethernet/IPv4 (10.244.1.2 > 10.244.2.3), `tshark -o
// sctp.checksum:CRC-32C -V` says:
//   Source port: 37001, Destination port: 38412, Verification tag: 0x00000000
//   Checksum (CRC32C): 0xcf599f47 [correct]   [Checksum Status: Good]
//   INIT chunk (Outbound streams: 10, inbound streams: 65535): Chunk type: INIT (1), Chunk flags:
//   0x00, Chunk length: 26, Initiate tag: 0x5ba2e2b4, a_rwnd 106496, Initial TSN: 1537401524,
//   Supported address types parameter (Supported types: IPv4), Chunk padding: 0000
const INIT_VALUE = Buffer.from('5ba2e2b40001a000000affff5ba2e2b4000c00060005', 'hex');
const INIT_BYTES = Buffer.from('9089960c00000000cf599f47' + '0100001a' + '5ba2e2b40001a000000affff5ba2e2b4000c000600050000', 'hex');
const init: sctp.SctpRepr = {
  srcPort: 37001,
  dstPort: 38412,
  verificationTag: 0,
  chunks: [{ type: sctp.ChunkType.INIT, flags: 0, value: INIT_VALUE }],
};

// RFC 3720 Appendix B.4 shows each CRC as the four bytes iSCSI puts on the wire: the CRC's
// least significant byte first. SCTP stores its CRC32c the same way (RFC 9260 Appendix A's
// bit and byte ordering comes out as the reflected CRC value in little-endian order).
const SCSI_READ_10_PDU = Buffer.from(
  '01c00000000000000000000000000000' + '14000000000004000000001400000018' + '28000000000000000200000000000000',
  'hex',
);

function decodeError(buf: Buffer, offset?: number, end?: number): DecodeError {
  try {
    sctp.decode(buf, offset, end);
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
  throw new Error('decoded without an error');
}

describe('sctp', () => {
  it('computes CRC32c as the RFC 3720 B.4 test vectors say', () => {
    const wire = (crc: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(crc);
      return b.toString('hex');
    };
    expect(sctp.crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(wire(sctp.crc32c(Buffer.alloc(32, 0)))).toBe('aa36918a');
    expect(sctp.crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(wire(sctp.crc32c(Buffer.alloc(32, 0xff)))).toBe('43aba862');
    expect(sctp.crc32c(Buffer.from([...Array(32).keys()]))).toBe(0x46dd794e);
    expect(sctp.crc32c(Buffer.from([...Array(32).keys()].reverse()))).toBe(0x113fdb5c);
    expect(wire(sctp.crc32c(SCSI_READ_10_PDU))).toBe('563a96d9');
    // The catalogue check value of CRC-32/ISCSI, and the empty input.
    expect(sctp.crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(sctp.crc32c(Buffer.alloc(0))).toBe(0);
    // A sub-range: only [start, end) counts.
    const framed = Buffer.concat([Buffer.from([1, 2, 3]), SCSI_READ_10_PDU, Buffer.from([4])]);
    expect(sctp.crc32c(framed, 3, 3 + SCSI_READ_10_PDU.length)).toBe(0xd9963a56);
  });

  it('computes the same CRC32c eight bytes at a time as bit by bit, at any alignment and length', () => {
    // RFC 9260 Appendix A's CRC one bit at a time: the reference the table-driven code must match.
    const bitwise = (bytes: Uint8Array): number => {
      let c = 0xffffffff;
      for (const byte of bytes) {
        c ^= byte;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      }
      return ~c >>> 0;
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const buf = Buffer.from(bytes);
        const start = buf.length === 0 ? 0 : a % (buf.length + 1);
        const end = start + (b % (buf.length - start + 1));
        expect(sctp.crc32c(buf, start, end)).toBe(bitwise(buf.subarray(start, end)));
      }),
    );
  });

  it('encodes the INIT tshark checked, byte for byte, with the CRC stored least significant byte first', () => {
    const bytes = sctp.encode(init);
    expect(bytes.equals(INIT_BYTES)).toBe(true);
    expect(sctp.encodingLength(init)).toBe(12 + 28);
    expect(sctp.checksumValid(bytes)).toBe(true);
    // The CRC over the packet with a zero checksum field (RFC 9260 §6.8), as stored on the wire.
    const crc = sctp.crc32c(Buffer.concat([bytes.subarray(0, 8), Buffer.alloc(4), bytes.subarray(12)]));
    expect(crc).toBe(0x479f59cf);
    expect(bytes.readUInt32LE(sctp.CHECKSUM_OFFSET)).toBe(crc);
    // Computing the checksum into a caller's buffer at offsets 0 and 10 leaves the rest alone.
    expect(encodeChecks(INIT_BYTES, (buf, at) => sctp.encode(init, buf, at))).toEqual({ exact: true, atOffset: true });
  });

  it('decodes the INIT field by field, and re-encodes it exactly', () => {
    const d = sctp.decode(INIT_BYTES);
    // The checksum as tshark shows it: the field's four bytes read in network order.
    expect(d).toEqual({ ...init, checksum: 0xcf599f47 });
    expect(d.chunks[0]?.value.buffer).toBe(INIT_BYTES.buffer);
    expect(encodeChecks(INIT_BYTES, (buf, at) => sctp.encode(d, buf, at))).toEqual({ exact: true, atOffset: true });
    // At an offset inside a larger buffer, with only [offset, end) read.
    const framed = Buffer.concat([Buffer.alloc(34, 0xee), INIT_BYTES, Buffer.alloc(4, 0xee)]);
    expect(sctp.decode(framed, 34, 34 + INIT_BYTES.length)).toEqual(d);
    expect(sctp.checksumValid(framed, 34, 34 + INIT_BYTES.length)).toBe(true);
  });

  it('writes a given checksum as it is, so a bad one survives a round trip', () => {
    const bytes = sctp.encode({ ...init, checksum: 0x12345678 });
    expect(bytes.subarray(8, 12).toString('hex')).toBe('12345678');
    expect(sctp.checksumValid(bytes)).toBe(false);
    expect(sctp.decode(bytes).checksum).toBe(0x12345678);
    const flipped = Buffer.from(INIT_BYTES);
    flipped[20] = (flipped[20] as number) ^ 1;
    expect(sctp.checksumValid(flipped)).toBe(false);
    expect(sctp.checksumValid(INIT_BYTES, 0, 11)).toBe(false);
  });

  it('bundles chunks, pads each to 4 bytes with zeros, and accepts a last chunk without padding', () => {
    const bundle = sctp.encode({
      ...init,
      verificationTag: 0x5ba2e2b4,
      chunks: [
        { type: sctp.ChunkType.COOKIE_ECHO, flags: 0, value: Buffer.from([1, 2, 3, 4, 5]) },
        { type: sctp.ChunkType.DATA, flags: 3, value: Buffer.from([9, 8, 7]) },
        { type: sctp.ChunkType.COOKIE_ACK, flags: 0, value: Buffer.alloc(0) },
      ],
    });
    expect(bundle.length).toBe(12 + 12 + 8 + 4);
    expect(bundle.subarray(12).toString('hex')).toBe('0a0000090102030405000000' + '0003000709080700' + '0b000004');
    expect(sctp.checksumValid(bundle)).toBe(true);
    expect(sctp.decode(bundle).chunks.map((c) => [c.type, c.flags, c.value.length])).toEqual([
      [10, 0, 5],
      [0, 3, 3],
      [11, 0, 0],
    ]);
    const unpadded = sctp.encode({ ...init, chunks: [{ type: 0, flags: 3, value: Buffer.from([1, 2, 3]) }] }).subarray(0, 12 + 7);
    expect(sctp.decode(unpadded).chunks).toEqual([{ type: 0, flags: 3, value: Buffer.from([1, 2, 3]) }]);
    expect(sctp.decode(INIT_BYTES.subarray(0, 12)).chunks).toEqual([]);
  });

  it('refuses truncated packets and bad chunk lengths with a DecodeError at the offending byte', () => {
    expect(decodeError(INIT_BYTES.subarray(0, 11))).toMatchObject({
      protocol: 'sctp',
      offset: 0,
      reason: expect.stringMatching(/truncated header/),
    });
    // A chunk header cut short: 3 bytes after the common header.
    expect(decodeError(INIT_BYTES.subarray(0, 15))).toMatchObject({ offset: 12, reason: expect.stringMatching(/truncated chunk header/) });
    const bad = Buffer.from(INIT_BYTES);
    bad.writeUInt16BE(3, 14);
    expect(decodeError(bad)).toMatchObject({
      offset: 14,
      reason: expect.stringMatching(/chunk length 3 is below the 4-byte chunk header/),
    });
    bad.writeUInt16BE(29, 14);
    expect(decodeError(bad)).toMatchObject({ offset: 14, reason: expect.stringMatching(/runs past the packet/) });
    // The second chunk's length is checked at its own offset, absolute in the buffer.
    const two = Buffer.concat([Buffer.alloc(6), INIT_BYTES, Buffer.from('0b000008', 'hex')]);
    expect(decodeError(two, 6).offset).toBe(6 + 40 + 2);
    expect(decodeError(INIT_BYTES, 41).reason).toMatch(/bad bounds/);
  });

  it('refuses to encode fields out of range', () => {
    const e = (r: sctp.SctpRepr) => () => sctp.encode(r);
    expect(e({ ...init, srcPort: 70000 })).toThrow(/source port 70000/);
    expect(e({ ...init, dstPort: -1 })).toThrow(EncodeError);
    expect(e({ ...init, verificationTag: 2 ** 32 })).toThrow(/verification tag/);
    expect(e({ ...init, checksum: 2 ** 32 })).toThrow(/checksum/);
    expect(e({ ...init, chunks: [{ type: 256, flags: 0, value: Buffer.alloc(0) }] })).toThrow(/chunk type 256/);
    expect(e({ ...init, chunks: [{ type: 0, flags: 1.5, value: Buffer.alloc(0) }] })).toThrow(/chunk flags/);
    expect(e({ ...init, chunks: [{ type: 0, flags: 0, value: Buffer.alloc(65532) }] })).toThrow(/16-bit length field/);
  });

  it('decode(encode(x)) equals x', () => {
    fc.assert(fc.property(arbSctpRepr(), (repr) => void expect(sctp.decode(sctp.encode(repr))).toEqual(repr)));
  });

  it('computed checksums verify, and any single flipped bit is caught', () => {
    fc.assert(
      fc.property(arbSctpRepr(), fc.nat(), fc.integer({ min: 0, max: 7 }), (repr, at, bit) => {
        const out = sctp.encode({ ...repr, checksum: undefined });
        expect(sctp.checksumValid(out)).toBe(true);
        out[at % out.length] = (out[at % out.length] as number) ^ (1 << bit);
        expect(sctp.checksumValid(out)).toBe(false);
      }),
    );
  });
});

describeInterop('sctp against tshark', { commands: ['tshark'] }, () => {
  /** The SCTP packet in Ethernet/IPv4, as one pcap record. */
  function frameOf(l4: Buffer): Buffer {
    const ip = ipv4.encode({
      dscp: 0,
      ecn: 0,
      identification: 1,
      reservedFlag: false,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: ipv4.IpProtocol.SCTP,
      src: parseIpv4('10.244.1.2'),
      dst: parseIpv4('10.244.2.3'),
      options: Buffer.alloc(0),
      payload: l4,
    });
    return ethernet.encode({ dst: 0x0a580af40203, src: 0x0a580af40102, vlans: [], etherType: ethernet.EtherType.IPv4, payload: ip });
  }

  it("tshark dissects podnet's packets as podnet does and agrees on every CRC32c verdict", async () => {
    const good = sctp.encode(init);
    const bundle = sctp.encode({
      srcPort: 5000,
      dstPort: 5001,
      verificationTag: 0xdeadbeef,
      chunks: [
        { type: sctp.ChunkType.COOKIE_ECHO, flags: 0, value: Buffer.from('cookie') },
        { type: sctp.ChunkType.DATA, flags: 3, value: Buffer.from('00000001000000000000000068692e', 'hex') },
      ],
    });
    const bad = Buffer.from(good);
    bad[30] = (bad[30] as number) ^ 0x10;
    const packets = [good, bundle, bad];
    const dir = mkdtempSync(join(tmpdir(), 'podnet-sctp-'));
    try {
      const file = join(dir, 'sctp.pcap');
      const records = packets.map((p, i) => {
        const data = frameOf(p);
        return { seconds: i + 1, nanoseconds: 0, originalLength: data.length, data };
      });
      writeFileSync(file, pcap.encode({ header: pcap.defaultHeader(), records }));
      const fields = [
        'sctp.srcport',
        'sctp.dstport',
        'sctp.verification_tag',
        'sctp.checksum',
        'sctp.checksum.status',
        'sctp.chunk_type',
        'sctp.chunk_length',
        '_ws.malformed',
      ];
      const rows = await tsharkFields(file, fields, undefined, ['sctp.checksum:CRC-32C']);
      expect(rows).toHaveLength(packets.length);
      rows.forEach(({ 'frame.number': _, ...row }, i) => {
        const bytes = packets[i] as Buffer;
        const d = sctp.decode(bytes);
        expect(row, `packet ${i + 1}`).toEqual({
          'sctp.srcport': String(d.srcPort),
          'sctp.dstport': String(d.dstPort),
          'sctp.verification_tag': `0x${d.verificationTag.toString(16).padStart(8, '0')}`,
          'sctp.checksum': `0x${(d.checksum as number).toString(16).padStart(8, '0')}`,
          'sctp.checksum.status': sctp.checksumValid(bytes) ? '1' : '0',
          'sctp.chunk_type': d.chunks.map((c) => c.type).join(','),
          'sctp.chunk_length': d.chunks.map((c) => 4 + c.value.length).join(','),
          '_ws.malformed': '',
        });
      });
      // The first packet is the INIT above, which tshark called correct; the last one it must not.
      expect(rows.map((r) => r['sctp.checksum.status'])).toEqual(['1', '1', '0']);
      expect(rows[0]?.['sctp.checksum']).toBe('0xcf599f47');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
