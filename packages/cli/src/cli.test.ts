// The `podnet` command as a user runs it: the built bin in a child process (npm test builds first).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dissect, pcap, TcpdumpPrinter } from '@podnet/wire';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDemoSession } from './demo-session.js';

const bin = join(import.meta.dirname, '..', 'bin', 'podnet.js');
const fixtures = join(import.meta.dirname, '..', '..', 'wire', 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'podnet-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const podnet = (...args: string[]) => execa(process.execPath, [bin, ...args], { reject: false, cwd: dir });

function expectNoStackTrace(text: string): void {
  expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
}

describe('podnet', () => {
  it('prometheus-config is a command: help, a bad interval (2), no cluster in the state dir (1)', async () => {
    const help = await podnet('help', 'prometheus-config');
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/Usage: podnet prometheus-config/);
    const bad = await podnet('prometheus-config', '--scrape-interval', 'often');
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--scrape-interval "often" is not a Prometheus duration');
    const none = await podnet('prometheus-config', '--state-dir', join(dir, 'no-cluster-here'));
    expect(none.exitCode).toBe(1);
    expectNoStackTrace(none.stderr);
  });

  it('prints help, and refuses unknown commands and options with exit status 2 and a hint', async () => {
    const help = await podnet('--help');
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/pcap read FILE/);
    expect((await podnet('help', 'pcap')).stdout).toMatch(/Usage: podnet pcap read FILE \[--json\]/);
    for (const [args, message] of [
      [['frobnicate'], 'podnet: unknown command "frobnicate"'],
      [['pcap'], 'podnet pcap: missing subcommand'],
      [['pcap', 'write'], 'podnet pcap: unknown subcommand "write"'],
      [['pcap', 'read'], 'podnet pcap read: missing FILE'],
      [['pcap', 'read', 'a', 'b'], 'podnet pcap read: expected one FILE, got 2'],
      [['pcap', 'read', 'x.pcap', '--jsn'], "podnet pcap read: Unknown option '--jsn'"],
      [['demo', 'extra'], 'podnet demo: unexpected argument "extra"'],
      [['help', 'nope'], 'podnet help: no command "nope"'],
    ] as const) {
      const r = await podnet(...args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr.split('\n')).toHaveLength(2);
      expectNoStackTrace(r.stderr);
    }
  });

  it('pcap read prints what the printer prints, frame by frame', async () => {
    const file = join(fixtures, 'vxlan.pcap');
    const r = await podnet('pcap', 'read', file);
    expect(r.exitCode, r.stderr).toBe(0);
    const printer = new TcpdumpPrinter();
    const expected = pcap.decode(readFileSync(file)).records.map((rec) => printer.format(dissect(rec.data), { timestamp: rec }));
    expect(r.stdout).toBe(expected.join('\n'));
    expect(r.stdout).toMatch(/VXLAN, flags \[I\] \(0x08\), vni 1\nIP 10\.244\.1\.1\.\d+ > 10\.244\.1\.254\.80: Flags \[S\]/);
  });

  it('pcap read --json prints one object per frame with every decoded field', async () => {
    const r = await podnet('pcap', 'read', join(fixtures, 'vxlan.pcap'), '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const frames = r.stdout.split('\n').map((l) => JSON.parse(l));
    expect(frames).toHaveLength(14);
    expect(frames[0]).toMatchObject({ frame: 1, byteOffset: 24, capturedLength: 92, originalLength: 92 });
    expect(frames[4].layers.map((l: { protocol: string }) => l.protocol)).toEqual([
      'ethernet',
      'ipv4',
      'udp',
      'vxlan',
      'ethernet',
      'ipv4',
      'tcp',
    ]);
    expect(frames[4].layers[3]).toMatchObject({ vni: 1, vniValid: true });
    expect(frames[4].layers[6]).toMatchObject({ dstPort: 80, flagNames: ['SYN'], checksumOk: true });
  });

  it('a truncated file prints every complete frame, then names the frame and offset; exit 1, no stack trace', async () => {
    const whole = readFileSync(join(fixtures, 'l2l3.pcap'));
    const file = join(dir, 'cut.pcap');
    // Frames 1-2 are 42 bytes each: records end at 24+58=82 and 140; cut inside frame 3's data.
    writeFileSync(file, whole.subarray(0, 140 + 16 + 30));
    const r = await podnet('pcap', 'read', file);
    expect(r.exitCode).toBe(1);
    expect(r.stdout.split('\n')).toHaveLength(2);
    expect(r.stdout).toMatch(/ARP, Reply/);
    expect(r.stderr.trim()).toBe(
      `podnet: ${file}: frame 3 at byte 140: record header says 98 captured bytes but only 30 remain (file truncated?)`,
    );
    expectNoStackTrace(r.stderr);
  });

  it('refuses a missing file, a directory, a pcapng file and a non-Ethernet capture clearly', async () => {
    expect((await podnet('pcap', 'read', 'nope.pcap')).stderr).toBe('podnet: nope.pcap: no such file');
    expect((await podnet('pcap', 'read', dir)).stderr).toMatch(/is a directory/);
    const ng = join(dir, 'x.pcapng');
    writeFileSync(ng, Buffer.from('0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000', 'hex'));
    const r = await podnet('pcap', 'read', ng);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/pcapng file: convert it with `editcap -F pcap IN OUT`/);
    const raw = join(dir, 'raw.pcap');
    writeFileSync(raw, pcap.encode({ header: pcap.defaultHeader({ linkType: 101 }), records: [] }));
    expect((await podnet('pcap', 'read', raw)).stderr).toMatch(/link type 101 is not Ethernet/);
  });

  it('demo writes the session as a pcap and explains it', async () => {
    const out = join(dir, 'demo.pcap');
    const r = await podnet('demo', '--out', out);
    expect(r.exitCode, r.stderr).toBe(0);
    const file = pcap.decode(readFileSync(out));
    const session = buildDemoSession();
    expect(file.records.map((x) => x.data)).toEqual(session.frames.map((f) => f.frame));
    expect(r.stdout).toMatch(/The tunnel added 50 bytes to each of the 10 frames/);
    expect(r.stdout).toMatch(/Flags \[P\.\], seq 1:88, ack 1, .* HTTP: GET \/hostname HTTP\/1\.1/);
    expect((await podnet('demo', '--out', join(dir, 'no', 'such', 'dir.pcap'))).exitCode).toBe(1);
  });
});
