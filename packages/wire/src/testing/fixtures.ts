// Real frames for the codec tests: captured from Linux kernel traffic between network
// namespaces by packages/wire/fixtures/capture.sh (see the topology there), with checksum
// offload off so every checksum on the wire is the kernel's own.
//   l2l3.pcap: 1-2 ARP; 3-4 echo; 5-6 echo with the record-route option; 7-8 and 10-11
//   fragments of a 3000-byte echo (9, 12: the last fragments); 13 echo with DF, 14 ICMP
//   fragmentation needed (MTU 1400); 15 echo TTL 1, 16 time exceeded; 17 UDP to port 5000;
//   18 UDP to port 9, 19 ICMP port unreachable; 20-29 a TCP connection with HTTP data and FIN;
//   30 SYN to a closed port, 31 RST.
//   vxlan.pcap: the underlay (UDP 4789) of ARP, a ping and an HTTP exchange through a kernel
//   vxlan device (VNI 1).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pcap from '../pcap.js';

const dir = join(import.meta.dirname, '..', '..', 'fixtures');
const cache = new Map<string, pcap.PcapRecord[]>();

export type FixtureFile = 'l2l3' | 'vxlan';

/** The frames of a fixture capture, 1-based like Wireshark's frame numbers. */
export function fixtureFrame(file: FixtureFile, frameNumber: number): Buffer {
  let records = cache.get(file);
  if (records === undefined) {
    records = pcap.decode(readFileSync(join(dir, `${file}.pcap`))).records;
    cache.set(file, records);
  }
  const record = records[frameNumber - 1];
  if (record === undefined) throw new Error(`fixture ${file}.pcap has no frame ${frameNumber}`);
  return record.data;
}

export function fixturePath(file: FixtureFile): string {
  return join(dir, `${file}.pcap`);
}

/**
 * The codec round-trip checks every fixture gets (DESIGN §6.2): encode into a buffer
 * pre-filled with 0xa5 gives the exact bytes and touches nothing else, and so does encoding
 * at offset 10.
 */
export function encodeChecks(bytes: Buffer, encodeAt: (buf: Buffer, offset: number) => Buffer): { exact: boolean; atOffset: boolean } {
  const buf = Buffer.alloc(bytes.length, 0xa5);
  encodeAt(buf, 0);
  const exact = buf.equals(bytes);
  const padded = Buffer.alloc(bytes.length + 20, 0xa5);
  encodeAt(padded, 10);
  const atOffset =
    padded.subarray(10, 10 + bytes.length).equals(bytes) &&
    padded.subarray(0, 10).every((b) => b === 0xa5) &&
    padded.subarray(10 + bytes.length).every((b) => b === 0xa5);
  return { exact, atOffset };
}
