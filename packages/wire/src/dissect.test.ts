import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dissect, dissectionToJson, reassemble } from './dissect.js';
import * as pcap from './pcap.js';
import { fixtureFrame, fixturePath } from './testing/fixtures.js';

describe('dissect', () => {
  it('decodes every real frame into layers and reassembles the exact bytes', () => {
    for (const file of ['l2l3', 'vxlan'] as const) {
      for (const record of pcap.decode(readFileSync(fixturePath(file))).records) {
        const d = dissect(record.data);
        expect(d.error).toBeUndefined();
        expect(reassemble(d).equals(record.data)).toBe(true);
      }
    }
  });

  it('goes through VXLAN down to the inner TCP segment, with checksum status per layer', () => {
    const d = dissect(fixtureFrame('vxlan', 5));
    expect(d.layers.map((l) => l.protocol)).toEqual(['ethernet', 'ipv4', 'udp', 'vxlan', 'ethernet', 'ipv4', 'tcp']);
    expect(d.layers.map((l) => ('checksumOk' in l ? l.checksumOk : '-'))).toEqual(['-', true, true, '-', '-', true, true]);
    expect(d.layers.map((l) => l.offset)).toEqual([0, 14, 34, 42, 50, 64, 84]);
  });

  it('stops at the first malformed layer without throwing, keeping what was decoded', () => {
    const frame = Buffer.from(fixtureFrame('l2l3', 20));
    frame[14 + 20 + 12] = 0x20; // TCP data offset 2 words
    const d = dissect(frame);
    expect(d.layers.map((l) => l.protocol)).toEqual(['ethernet', 'ipv4']);
    expect(d.error?.protocol).toBe('tcp');
    expect(d.error?.offset).toBe(14 + 20 + 12);
    const cut = dissect(fixtureFrame('vxlan', 5).subarray(0, 60));
    expect(cut.error?.protocol).toBe('ipv4');
  });

  it('does not decode the transport header of non-first fragments, and flags bad checksums', () => {
    expect(dissect(fixtureFrame('l2l3', 8)).layers.map((l) => l.protocol)).toEqual(['ethernet', 'ipv4']);
    const bad = Buffer.from(fixtureFrame('l2l3', 17));
    bad.writeUInt8((bad.at(-1) as number) ^ 0xff, bad.length - 1);
    const layers = dissect(bad).layers;
    expect(layers[2]).toMatchObject({ protocol: 'udp', checksumOk: false });
  });

  it('gives plain JSON with every field named', () => {
    const json = dissectionToJson(dissect(fixtureFrame('l2l3', 20))) as { layers: Record<string, unknown>[] };
    expect(json.layers[1]).toMatchObject({
      protocol: 'ipv4',
      src: '10.0.0.1',
      dst: '10.0.1.1',
      ttl: 64,
      flags: { dontFragment: true },
      checksumOk: true,
    });
    expect(json.layers[2]).toMatchObject({ protocol: 'tcp', srcPort: 34678, dstPort: 8080, flagNames: ['SYN'], headerLength: 40 });
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });
});
