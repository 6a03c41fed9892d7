import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { describeInterop } from '../../../test/support/interop.ts';
import * as pcap from './pcap.js';
import { fixturePath } from './testing/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'podnet-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function collect(source: string | Readable) {
  const records: (pcap.PcapRecord & { frameNumber: number; byteOffset: number })[] = [];
  let error: unknown;
  try {
    for await (const r of pcap.readPcap(source)) records.push(r);
  } catch (e) {
    error = e;
  }
  return { records, error };
}

const sample: pcap.PcapFile = {
  header: pcap.defaultHeader(),
  records: [
    { seconds: 1_767_225_600, nanoseconds: 123_456_000, originalLength: 60, data: Buffer.alloc(60, 1) },
    { seconds: 1_767_225_601, nanoseconds: 0, originalLength: 1514, data: Buffer.alloc(100, 2) },
    { seconds: 1_767_225_602, nanoseconds: 999_999_000, originalLength: 42, data: Buffer.alloc(42, 3) },
  ],
};

describe('pcap', () => {
  it('reads a capture written by tshark (fixtures/l2l3.pcap) field by field', () => {
    const file = pcap.decode(readFileSync(fixturePath('l2l3')));
    // tshark -F pcap writes little-endian, microsecond, version 2.4, snaplen 262144, Ethernet.
    expect(file.header).toEqual({
      byteOrder: 'le',
      nanoseconds: false,
      versionMajor: 2,
      versionMinor: 4,
      thiszone: 0,
      sigfigs: 0,
      snaplen: 262144,
      linkType: 1,
    });
    expect(file.records).toHaveLength(31);
    expect(file.records[0]?.data.length).toBe(42);
    expect(file.records[0]?.originalLength).toBe(42);
    expect((file.records[0]?.nanoseconds ?? -1) % 1000).toBe(0);
    expect(pcap.encode(file).equals(readFileSync(fixturePath('l2l3')))).toBe(true);
  });

  it('round-trips both byte orders and both timestamp resolutions', () => {
    for (const byteOrder of ['le', 'be'] as const) {
      for (const nanoseconds of [false, true]) {
        const file = { ...sample, header: { ...sample.header, byteOrder, nanoseconds } };
        const bytes = pcap.encode(file);
        expect(bytes.readUInt32BE(0)).toBe(
          byteOrder === 'be' ? (nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4) : nanoseconds ? 0x4d3cb2a1 : 0xd4c3b2a1,
        );
        expect(pcap.decode(bytes)).toEqual(file);
      }
    }
  });

  it('streams records split across arbitrary chunks', async () => {
    const bytes = pcap.encode(sample);
    for (const size of [1, 7, 16, 23, 64, 4096]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const { records, error } = await collect(Readable.from(chunks));
      expect(error).toBeUndefined();
      expect(records.map(({ frameNumber, byteOffset, ...r }) => r)).toEqual(sample.records);
      expect(records.map((r) => r.byteOffset)).toEqual([24, 24 + 16 + 60, 24 + 16 + 60 + 16 + 100]);
    }
  });

  it('names the frame and byte offset when a file is cut at any byte', async () => {
    const bytes = pcap.encode(sample);
    const starts = [24, 100, 216, bytes.length];
    for (let cut = 0; cut < bytes.length; cut++) {
      const file = join(dir, 'cut.pcap');
      writeFileSync(file, bytes.subarray(0, cut));
      const { records, error } = await collect(file);
      const complete = starts.filter((s, i) => i > 0 && s <= cut).length;
      if (cut === 24 || starts.includes(cut)) {
        expect(error, `cut at ${cut}`).toBeUndefined();
        expect(records).toHaveLength(complete);
        continue;
      }
      expect(error).toBeInstanceOf(pcap.PcapError);
      const e = error as pcap.PcapError;
      if (cut < 24) {
        expect(e.frameNumber).toBe(0);
        expect(e.message).toMatch(/file header/);
      } else {
        expect(records).toHaveLength(complete);
        expect(e.frameNumber).toBe(complete + 1);
        expect(e.byteOffset).toBe(starts[complete]);
        expect(e.message).toMatch(new RegExp(`^frame ${complete + 1} at byte ${starts[complete]}: .*file truncated`));
      }
      // The in-memory decoder agrees.
      expect(() => pcap.decode(bytes.subarray(0, cut))).toThrow(pcap.PcapError);
    }
  });

  it('refuses files that are not pcap and records that claim absurd lengths', () => {
    expect(() => pcap.decode(Buffer.from('0a0d0d0a000000000000000000000000000000000000000000', 'hex'))).toThrow(/pcapng/);
    expect(() => pcap.decode(Buffer.alloc(24))).toThrow(/not a pcap file/);
    const bytes = pcap.encode(sample);
    bytes.writeUInt32LE(0x7fffffff, 24 + 8);
    expect(() => pcap.decode(bytes)).toThrow(/more than the snapshot length/);
  });

  it('writes a stream with PcapWriter, cutting frames at the snapshot length', async () => {
    const file = join(dir, 'written.pcap');
    const w = new pcap.PcapWriter(file, { snaplen: 64, nanoseconds: true });
    w.write(Buffer.alloc(100, 9), { seconds: 5, nanoseconds: 123_456_789 });
    w.write(Buffer.alloc(10, 8), { seconds: 6, nanoseconds: 1 });
    await w.close();
    expect(w.count).toBe(2);
    const read = pcap.decode(readFileSync(file));
    expect(read.header).toMatchObject({ nanoseconds: true, snaplen: 64 });
    expect(read.records[0]).toMatchObject({ seconds: 5, nanoseconds: 123_456_789, originalLength: 100 });
    expect(read.records[0]?.data.length).toBe(64);
    expect(read.records[1]).toMatchObject({ seconds: 6, nanoseconds: 1, originalLength: 10 });
  });
});

describeInterop('pcap against tshark', { commands: ['tshark', 'editcap'] }, () => {
  it('tshark reads what PcapWriter writes, and podnet reads what editcap writes (nanoseconds)', async () => {
    const file = join(dir, 'to-tshark.pcap');
    const w = new pcap.PcapWriter(file);
    for (const r of pcap.decode(readFileSync(fixturePath('l2l3'))).records) w.write(r.data, r);
    await w.close();
    const r = await execa('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.len'], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(31);
    const nano = join(dir, 'nano.pcap');
    await execa('editcap', ['-F', 'nsecpcap', fixturePath('l2l3'), nano]);
    const { records, error } = await collect(nano);
    expect(error).toBeUndefined();
    expect(records.map((x) => x.data)).toEqual(pcap.decode(readFileSync(fixturePath('l2l3'))).records.map((x) => x.data));
    const header = await pcap.readPcapHeader(nano);
    expect(header.nanoseconds).toBe(true);
  });
});
