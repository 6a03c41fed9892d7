import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { describeInterop } from '../../../test/support/interop.ts';
import { dissect } from './dissect.js';
import * as pcap from './pcap.js';
import { formatDissection, formatTimestamp, TcpdumpPrinter } from './print.js';
import { fixtureFrame, fixturePath } from './testing/fixtures.js';

function printAll(file: string): string[] {
  const printer = new TcpdumpPrinter();
  return pcap.decode(readFileSync(file)).records.map((r) => printer.format(dissect(r.data), { timestamp: r }));
}

describe('tcpdump-style printer', () => {
  it('prints the lines tcpdump -n prints for ARP, ICMP, UDP and TCP', () => {
    const lines = printAll(fixturePath('l2l3')).map((l) => l.slice(16));
    expect(lines[0]).toBe('ARP, Request who-has 10.0.0.254 tell 10.0.0.1, length 28');
    expect(lines[13]).toBe('IP 10.0.0.254 > 10.0.0.1: ICMP 10.0.1.1 unreachable - need to frag (mtu 1400), length 556');
    expect(lines[18]).toBe('IP 10.0.1.1 > 10.0.0.1: ICMP 10.0.1.1 udp port 9 unreachable, length 37');
    expect(lines[22]).toMatch(
      /^IP 10\.0\.0\.1\.34678 > 10\.0\.1\.1\.8080: Flags \[P\.\], seq 1:36, ack 1, win \d+, options \[nop,nop,TS val \d+ ecr \d+\], length 35: HTTP: GET \/hostname HTTP\/1\.1$/,
    );
    expect(lines[30]).toMatch(/Flags \[R\.\], seq 0, ack \d+, win 0, length 0$/);
  });

  it('prints VXLAN with its inner frame on the next line', () => {
    const text = formatDissection(dissect(fixtureFrame('vxlan', 3)));
    expect(text.split('\n')).toEqual([
      expect.stringMatching(/^IP 10\.0\.0\.1\.\d+ > 10\.0\.0\.254\.4789: VXLAN, flags \[I\] \(0x08\), vni 1$/),
      expect.stringMatching(/^IP 10\.244\.1\.1 > 10\.244\.1\.254: ICMP echo request, id \d+, seq 1, length 64$/),
    ]);
  });

  it('never throws on malformed frames, marking the truncated layer like tcpdump', () => {
    const frame = Buffer.from(fixtureFrame('l2l3', 20));
    frame[14 + 20 + 12] = 0x20;
    expect(formatDissection(dissect(frame))).toBe('IP 10.0.0.1 > 10.0.1.1: [|tcp]');
    expect(formatDissection(dissect(Buffer.alloc(5)))).toBe('[|ethernet]');
    expect(formatDissection(dissect(fixtureFrame('vxlan', 3).subarray(0, 45)))).toMatch(/\[\|/);
  });

  it('formats timestamps in UTC with microseconds or nanoseconds', () => {
    expect(formatTimestamp({ seconds: 1_767_225_600 + 3723, nanoseconds: 4_005_006 })).toBe('01:02:03.004005');
    expect(formatTimestamp({ seconds: 59, nanoseconds: 4_005_006 }, true)).toBe('00:00:59.004005006');
  });
});

describeInterop('printer against tcpdump', { commands: ['tcpdump'] }, () => {
  it('prints exactly what `tcpdump -n -r` prints for real captures', async () => {
    for (const file of [fixturePath('l2l3'), fixturePath('vxlan')]) {
      const r = await execa('tcpdump', ['-n', '-r', file], { env: { TZ: 'UTC' }, reject: false });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(printAll(file).join('\n')).toBe(r.stdout);
    }
  });
});
