// The pnb-* real captures of the UDP, TCP and VXLAN codec tests, and tshark's reading of them.
// packages/wire/fixtures/pnb-capture.sh made them on a Debian 12 machine like the test
// machines, between two network namespaces (pnb-a 10.77.0.1, pnb-b 10.77.0.2; kernel vxlan
// devices with VNI 1 carrying 10.244.1.1 and 10.244.1.2), capturing on pnb-a's veth pa0:
//   pnb-l4.pcap          1 UDP 40001 > 7000 "hello from pnb-a"; 2-11 a TCP connection to port 8080
//                        (2 SYN, 3 SYN-ACK, 4 ACK, 5 request, 6 ACK, 7 response, 8 ACK, 9 FIN,
//                        10 FIN, 11 ACK); 12 SYN to the closed port 8081, 13 its RST.
//                        Checksum offload off: every checksum is the kernel's own.
//   pnb-offload.pcap     the same kind of traffic with tx checksum offload ON: 1 UDP, 2-11 TCP;
//                        checksum fields hold only the pseudo-header sum (CHECKSUM_PARTIAL).
//   pnb-vxlan-ping.pcap  1-2 underlay ARP; 3-4 ARP and 5-6 ICMP echo inside VXLAN (UDP 4789).
//   pnb-vxlan-tcp.pcap   an HTTP exchange (python3 -m http.server, curl) inside VXLAN, 13 frames.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import * as pcap from '../pcap.js';
import * as tcp from '../tcp.js';

export type PnbCapture = 'pnb-l4' | 'pnb-offload' | 'pnb-vxlan-ping' | 'pnb-vxlan-tcp';

const dir = join(import.meta.dirname, '..', '..', 'fixtures');
const cache = new Map<PnbCapture, Buffer[]>();

export function capturePath(file: PnbCapture): string {
  return join(dir, `${file}.pcap`);
}

/** Every frame of a capture, in order (index 0 is Wireshark's frame 1). */
export function captureFrames(file: PnbCapture): Buffer[] {
  let frames = cache.get(file);
  if (frames === undefined) {
    frames = pcap.decode(readFileSync(capturePath(file))).records.map((r) => r.data);
    cache.set(file, frames);
  }
  return frames;
}

/** One frame, numbered from 1 as Wireshark numbers them. */
export function captureFrame(file: PnbCapture, frameNumber: number): Buffer {
  const frame = captureFrames(file)[frameNumber - 1];
  if (frame === undefined) throw new Error(`${file}.pcap has no frame ${frameNumber}`);
  return frame;
}

/**
 * tshark's values of `fields` for every frame of a pcap matching `filter`, one object per
 * frame keyed by field name; a field present several times (inner and outer IPv4, repeated TCP
 * options) gives its values joined by ",". Checksums of IPv4, UDP and TCP are verified, as the
 * `*.checksum.status` fields then say (1 good, 0 bad); `prefs` adds more `-o name:value` settings.
 */
export async function tsharkFields(
  file: string,
  fields: string[],
  filter?: string,
  prefs: string[] = [],
): Promise<Record<string, string>[]> {
  const args = ['-r', file, '-n'];
  for (const pref of [
    'ip.check_checksum:TRUE',
    'udp.check_checksum:TRUE',
    'tcp.check_checksum:TRUE',
    'tcp.analyze_sequence_numbers:FALSE',
    ...prefs,
  ]) {
    args.push('-o', pref);
  }
  if (filter !== undefined) args.push('-Y', filter);
  args.push('-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', '-e', 'frame.number');
  for (const f of fields) args.push('-e', f);
  const r = await execa('tshark', args, { reject: false });
  if (r.exitCode !== 0) throw new Error(`tshark ${args.join(' ')} failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const values = line.split('\t');
      const row: Record<string, string> = {};
      ['frame.number', ...fields].forEach((f, i) => {
        row[f] = values[i] ?? '';
      });
      return row;
    });
}

const OPTION_KIND = { eol: 0, nop: 1, mss: 2, 'window-scale': 3, 'sack-permitted': 4, sack: 5, timestamps: 8 } as const;

/** podnet's reading of a TCP segment in tshark's field vocabulary (`-T fields` values). */
export function tcpAsTsharkFields(s: tcp.TcpRepr, checksumOk: boolean): Record<string, string> {
  const only = <K extends tcp.TcpOption['kind']>(kind: K) =>
    s.options.filter((o): o is Extract<tcp.TcpOption, { kind: K }> => o.kind === kind);
  return {
    'tcp.srcport': String(s.srcPort),
    'tcp.dstport': String(s.dstPort),
    'tcp.seq_raw': String(s.seq),
    'tcp.ack_raw': String(s.ack),
    'tcp.hdr_len': String(tcp.headerLength(s)),
    // tshark's 12-bit flags field includes the reserved bits (and AE, RFC 9768) as the top nibble.
    'tcp.flags': `0x${((s.reserved << 8) | s.flags).toString(16).padStart(4, '0')}`,
    'tcp.window_size_value': String(s.window),
    'tcp.checksum': `0x${(s.checksum as number).toString(16).padStart(4, '0')}`,
    'tcp.checksum.status': checksumOk ? '1' : '0',
    'tcp.urgent_pointer': String(s.urgentPointer),
    'tcp.option_kind': s.options.map((o) => (o.kind === 'unknown' ? o.type : OPTION_KIND[o.kind])).join(','),
    'tcp.options.mss_val': only('mss')
      .map((o) => o.value)
      .join(','),
    'tcp.options.wscale.shift': only('window-scale')
      .map((o) => o.shift)
      .join(','),
    'tcp.options.timestamp.tsval': only('timestamps')
      .map((o) => o.tsval)
      .join(','),
    'tcp.options.timestamp.tsecr': only('timestamps')
      .map((o) => o.tsecr)
      .join(','),
    'tcp.len': String(s.payload.length),
  };
}

/** The tshark fields tcpAsTsharkFields gives, in order. */
export const TSHARK_TCP_FIELDS = Object.keys(
  tcpAsTsharkFields(
    {
      srcPort: 0,
      dstPort: 0,
      seq: 0,
      ack: 0,
      reserved: 0,
      flags: 0,
      window: 0,
      checksum: 0,
      urgentPointer: 0,
      options: [],
      payload: Buffer.alloc(0),
    },
    true,
  ),
);
