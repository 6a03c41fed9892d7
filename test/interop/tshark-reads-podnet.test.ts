// Interop (issue: wire formats): a pcap written by podnet of a VXLAN-encapsulated TCP session
// is read by tshark, every frame dissecting as VXLAN → Ethernet → IPv4 → TCP, with good
// checksums and no malformed-packet or error expert info.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pcap } from '@podnet/wire';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { buildDemoSession } from '../../packages/cli/src/demo-session.ts';
import { describeInterop } from '../support/interop.ts';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'podnet-tshark-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface TsharkPacket {
  _source: { layers: Record<string, unknown> };
}

/** Values of a field anywhere in a tshark JSON object (with --no-duplicate-keys, arrays for repeats). */
function values(node: unknown, field: string, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) values(n, field, out);
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === field) out.push(...(Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string'));
      else if (typeof v === 'object') values(v, field, out);
    }
  }
  return out;
}

async function checkWithTshark(file: string, frames: number): Promise<void> {
  const r = await execa(
    'tshark',
    [
      '-r',
      file,
      '-T',
      'json',
      '--no-duplicate-keys',
      '-o',
      'ip.check_checksum:TRUE',
      '-o',
      'tcp.check_checksum:TRUE',
      '-o',
      'udp.check_checksum:TRUE',
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const packets = JSON.parse(r.stdout) as TsharkPacket[];
  expect(packets).toHaveLength(frames);
  packets.forEach((p, i) => {
    const layers = p._source.layers;
    const protocols = values(layers.frame, 'frame.protocols')[0] ?? '';
    expect(protocols, `frame ${i + 1}`).toMatch(/^eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp(:http)?(:data|:data-text-lines|:text)?$/);
    expect(layers._ws, `frame ${i + 1}: malformed or expert info ${JSON.stringify(layers._ws)}`).toBeUndefined();
    expect(values(layers, '_ws.malformed')).toEqual([]);
    // With verification on, tshark reports checksum status 1 = Good (0 Bad, 2 Unverified:
    // epan's PROTO_CHECKSUM_E_*); the outer UDP checksum is verified too, since podnet computes it.
    for (const field of ['ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status']) {
      const status = values(layers, field);
      expect(status.length, `frame ${i + 1} ${field}`).toBeGreaterThan(0);
      expect(
        status.every((s) => s === '1'),
        `frame ${i + 1} ${field}: ${status}`,
      ).toBe(true);
    }
    expect(values(layers, 'vxlan.vni')).toEqual(['1']);
  });
  // No warnings or errors in the expert summary either (notes about the TCP conversation are fine).
  const expert = await execa('tshark', [
    '-r',
    file,
    '-q',
    '-z',
    'expert,warn',
    '-o',
    'tcp.check_checksum:TRUE',
    '-o',
    'ip.check_checksum:TRUE',
  ]);
  expect(expert.stdout).not.toMatch(/\b(Error|Warning)s? \(/);
}

describeInterop('tshark reads the pcaps podnet writes', { commands: ['tshark'] }, () => {
  it('`podnet demo` (the built CLI) writes a session tshark dissects cleanly', async () => {
    const file = join(dir, 'demo.pcap');
    const r = await execa(process.execPath, [join(root, 'packages/cli/bin/podnet.js'), 'demo', '--out', file], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    await checkWithTshark(file, buildDemoSession().frames.length);
  });

  it('PcapWriter (nanosecond file) with frames encoded in this test', async () => {
    const file = join(dir, 'writer.pcap');
    const session = buildDemoSession({ seconds: 1_767_225_600, nanoseconds: 123_456_789 });
    const writer = new pcap.PcapWriter(file, { nanoseconds: true });
    for (const f of session.frames) writer.write(f.frame, f.timestamp);
    await writer.close();
    await checkWithTshark(file, session.frames.length);
    const t = await execa('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-c', '1']);
    expect(t.stdout.trim()).toBe('1767225600.123456789');
  });
});
