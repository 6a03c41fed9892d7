import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeInterop } from '../../../test/support/interop.ts';
import { parseIpv4 } from './address.js';
import { DecodeError } from './errors.js';
import * as ethernet from './ethernet.js';
import * as ipv4 from './ipv4.js';
import * as pcap from './pcap.js';
import * as sctp from './sctp.js';
import { arbSctpRepr } from './testing/arbitraries/sctp.js';

// An INIT as Linux sends it (RFC 9260 §3.3.2): initiate tag, a_rwnd 106496, 10 outbound and
// 65535 inbound streams, initial TSN, then the Supported Address Types parameter (IPv4),
// whose padding is the chunk's padding (chunk length 26, padded to 28).
// The kernel on these machines has no SCTP, so this packet is built here and checked against
// tshark, which verifies its CRC32c, and against the RFC 3720 test vectors below.
const INIT_VALUE = Buffer.from('5ba2e2b40001a000000affff5ba2e2b4000c00060005', 'hex');
const init: sctp.SctpRepr = {
  srcPort: 37001,
  dstPort: 38412,
  verificationTag: 0,
  chunks: [{ type: sctp.ChunkType.INIT, flags: 0, value: INIT_VALUE }],
};

describe('sctp', () => {
  it('computes CRC32c as in the RFC 3720 B.4 test vectors', () => {
    expect(sctp.crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(sctp.crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(sctp.crc32c(Buffer.from([...Array(32).keys()]))).toBe(0x46dd794e);
    expect(sctp.crc32c(Buffer.from([...Array(32).keys()].reverse()))).toBe(0x113fdb5c);
  });

  it('encodes an INIT with a valid checksum, and decodes it back field by field', () => {
    const bytes = sctp.encode(init);
    expect(bytes.length).toBe(12 + 28);
    expect(bytes.readUInt16BE(14)).toBe(26);
    expect(sctp.checksumValid(bytes)).toBe(true);
    const d = sctp.decode(bytes);
    expect(d).toMatchObject({ srcPort: 37001, dstPort: 38412, verificationTag: 0 });
    expect(d.chunks).toEqual(init.chunks);
    // The CRC goes on the wire little-endian (RFC 9260 Appendix A bit order, Linux sctp_compute_cksum).
    const crc = sctp.crc32c(Buffer.concat([bytes.subarray(0, 8), Buffer.alloc(4), bytes.subarray(12)]));
    expect(bytes.readUInt32LE(8)).toBe(crc);
    const filled = Buffer.alloc(bytes.length + 20, 0xa5);
    sctp.encode(d, filled, 10);
    expect(filled.subarray(10, 10 + bytes.length).equals(bytes)).toBe(true);
    expect(filled[9]).toBe(0xa5);
    expect(filled[10 + bytes.length]).toBe(0xa5);
  });

  it('pads chunks to 4 bytes and accepts a last chunk without padding', () => {
    const two = sctp.encode({
      ...init,
      chunks: [
        { type: 0, flags: 3, value: Buffer.from([1, 2, 3]) },
        { type: 11, flags: 0, value: Buffer.alloc(0) },
      ],
    });
    expect(two.length).toBe(12 + 8 + 4);
    expect(sctp.decode(two).chunks.map((c) => c.value.length)).toEqual([3, 0]);
    const unpadded = sctp.encode({ ...init, chunks: [{ type: 0, flags: 3, value: Buffer.from([1, 2, 3]) }] }).subarray(0, 12 + 7);
    expect(sctp.decode(unpadded).chunks[0]?.value).toEqual(Buffer.from([1, 2, 3]));
  });

  it('refuses bad chunk lengths with a DecodeError', () => {
    const bytes = sctp.encode(init);
    const bad = Buffer.from(bytes);
    bad.writeUInt16BE(2, 14);
    expect(() => sctp.decode(bad)).toThrow(/below the 4-byte chunk header/);
    bad.writeUInt16BE(500, 14);
    expect(() => sctp.decode(bad)).toThrow(DecodeError);
    expect(() => sctp.decode(bytes.subarray(0, 11))).toThrow(DecodeError);
    const flipped = Buffer.from(bytes);
    flipped[20] = (flipped[20] as number) ^ 1;
    expect(sctp.checksumValid(flipped)).toBe(false);
  });

  it('decode(encode(x)) equals x', () => {
    fc.assert(fc.property(arbSctpRepr(), (repr) => void expect(sctp.decode(sctp.encode(repr))).toEqual(repr)));
  });
});

describeInterop('sctp against tshark', { commands: ['tshark'] }, () => {
  it("tshark dissects podnet's INIT and finds its CRC32c good", async () => {
    const l4 = sctp.encode(init);
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
    const frame = ethernet.encode({ dst: 0x0a580af40203, src: 0x0a580af40102, vlans: [], etherType: ethernet.EtherType.IPv4, payload: ip });
    const dir = mkdtempSync(join(tmpdir(), 'podnet-sctp-'));
    try {
      const file = join(dir, 'init.pcap');
      writeFileSync(
        file,
        pcap.encode({ header: pcap.defaultHeader(), records: [{ seconds: 1, nanoseconds: 0, originalLength: frame.length, data: frame }] }),
      );
      const r = await execa(
        'tshark',
        [
          '-r',
          file,
          '-o',
          'sctp.checksum:crc-32c',
          '-T',
          'fields',
          '-e',
          'sctp.chunk_type',
          '-e',
          'sctp.checksum.status',
          '-e',
          'sctp.init_nr_out_streams',
          '-e',
          '_ws.malformed',
        ],
        { reject: false },
      );
      expect(r.exitCode, r.stderr).toBe(0);
      // chunk type 1 (INIT), checksum status 1 (Good), 10 outbound streams, not malformed.
      expect(r.stdout.replace(/\n$/, '').split('\t')).toEqual(['1', '1', '10', '']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
