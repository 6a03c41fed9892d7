// Interop (issue: wire formats): frames the Linux kernel sends, captured at test time in
// network namespaces this test creates (packages/wire/fixtures/capture.sh: ARP, ICMP echo,
// IP options, fragments, ICMP errors, UDP, TCP with options/data/FIN/RST, and a kernel VXLAN
// tunnel), are decoded by podnet into the same field values tshark reports with -T json, and
// re-encoding them gives back the exact bytes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dissect, formatIpv4, formatMac, icmpv4, type Layer, pcap, reassemble, tcp } from '@podnet/wire';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../support/interop.ts';

const root = join(import.meta.dirname, '..', '..');
const hex = (v: number, digits: number) => `0x${v.toString(16).padStart(digits, '0')}`;

type TsharkLayers = Record<string, unknown>;

/** All values of `field` anywhere inside a tshark JSON layer object (trees included), in order. */
function fieldValues(node: unknown, field: string, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) fieldValues(n, field, out);
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === field) {
        if (Array.isArray(v)) out.push(...(v as string[]));
        else if (typeof v === 'string') out.push(v);
      } else if (typeof v === 'object') fieldValues(v, field, out);
    }
  }
  return out;
}

/** The occurrences of one protocol in a frame (VXLAN frames have two eth and two ip). */
function occurrences(layers: TsharkLayers, protocol: string): unknown[] {
  const v = layers[protocol];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** What tshark should report for each field of one podnet layer. */
function expectedFields(layer: Layer): Record<string, string> {
  switch (layer.protocol) {
    case 'ethernet':
      return { 'eth.dst': formatMac(layer.repr.dst), 'eth.src': formatMac(layer.repr.src), 'eth.type': hex(layer.repr.etherType, 4) };
    case 'arp':
      return {
        'arp.hw.type': String(layer.repr.htype),
        'arp.proto.type': hex(layer.repr.ptype, 4),
        'arp.opcode': String(layer.repr.operation),
        'arp.src.hw_mac': formatMac(layer.repr.senderMac),
        'arp.src.proto_ipv4': formatIpv4(layer.repr.senderIp),
        'arp.dst.hw_mac': formatMac(layer.repr.targetMac),
        'arp.dst.proto_ipv4': formatIpv4(layer.repr.targetIp),
      };
    case 'ipv4': {
      const r = layer.repr;
      return {
        'ip.version': '4',
        'ip.hdr_len': String(20 + r.options.length),
        'ip.dsfield': hex((r.dscp << 2) | r.ecn, 2),
        'ip.len': String(20 + r.options.length + r.payload.length),
        'ip.id': hex(r.identification, 4),
        'ip.flags': hex((r.reservedFlag ? 4 : 0) | (r.dontFragment ? 2 : 0) | (r.moreFragments ? 1 : 0), 2),
        'ip.frag_offset': String(r.fragmentOffset / 8),
        'ip.ttl': String(r.ttl),
        'ip.proto': String(r.protocol),
        'ip.checksum': hex(r.checksum ?? -1, 4),
        'ip.src': formatIpv4(r.src),
        'ip.dst': formatIpv4(r.dst),
      };
    }
    case 'icmp': {
      const r = layer.repr;
      const f: Record<string, string> = {
        'icmp.type': String(icmpv4.typeOf(r)),
        'icmp.code': String(r.code),
        'icmp.checksum': hex(r.checksum ?? -1, 4),
      };
      if (r.kind === 'echo-request' || r.kind === 'echo-reply')
        Object.assign(f, { 'icmp.ident': String(r.identifier), 'icmp.seq': String(r.sequence) });
      if (r.kind === 'destination-unreachable' && r.code === 4) f['icmp.mtu'] = String(r.nextHopMtu);
      return f;
    }
    case 'udp':
      return {
        'udp.srcport': String(layer.repr.srcPort),
        'udp.dstport': String(layer.repr.dstPort),
        'udp.length': String(8 + layer.repr.payload.length),
        'udp.checksum': hex(layer.repr.checksum ?? -1, 4),
      };
    case 'tcp': {
      const r = layer.repr;
      const f: Record<string, string> = {
        'tcp.srcport': String(r.srcPort),
        'tcp.dstport': String(r.dstPort),
        'tcp.seq_raw': String(r.seq),
        'tcp.ack_raw': String(r.ack),
        'tcp.hdr_len': String(tcp.headerLength(r)),
        // tshark's 12-bit flags field: the 4 bits podnet keeps as `reserved`, then the 8 control bits.
        'tcp.flags': hex((r.reserved << 8) | r.flags, 4),
        'tcp.window_size_value': String(r.window),
        'tcp.checksum': hex(r.checksum ?? -1, 4),
        'tcp.urgent_pointer': String(r.urgentPointer),
      };
      for (const o of r.options) {
        if (o.kind === 'mss') f['tcp.options.mss_val'] = String(o.value);
        if (o.kind === 'window-scale') f['tcp.options.wscale.shift'] = String(o.shift);
        if (o.kind === 'timestamps')
          Object.assign(f, { 'tcp.options.timestamp.tsval': String(o.tsval), 'tcp.options.timestamp.tsecr': String(o.tsecr) });
        if (o.kind === 'sack-permitted') f['tcp.options.sack_perm'] = '04:02';
      }
      return f;
    }
    case 'sctp':
      return { 'sctp.srcport': String(layer.repr.srcPort), 'sctp.dstport': String(layer.repr.dstPort) };
    case 'vxlan':
      return { 'vxlan.flags': hex((layer.repr.flags << 8) | (layer.repr.reserved1 >>> 16), 4), 'vxlan.vni': String(layer.repr.vni) };
  }
}

const TSHARK_NAME: Record<Layer['protocol'], string> = {
  ethernet: 'eth',
  arp: 'arp',
  ipv4: 'ip',
  icmp: 'icmp',
  udp: 'udp',
  tcp: 'tcp',
  sctp: 'sctp',
  vxlan: 'vxlan',
};

describeInterop(
  'podnet decodes what the Linux kernel sends, as tshark does',
  { commands: ['tshark', 'ip', 'bridge', 'ethtool', 'ping', 'python3', 'sysctl'], root: true },
  () => {
    let dir = '';
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'podnet-kernel-'));
      // A prefix of our own, so a concurrent run (or the fixture script) cannot collide with us.
      const prefix = `pnt${process.pid % 100000}`;
      await execa('bash', [join(root, 'packages/wire/fixtures/capture.sh'), dir, prefix], { timeout: 120_000 });
    }, 150_000);
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const file of ['l2l3', 'vxlan']) {
      it(`${file}: every frame decodes to tshark's field values and re-encodes to the same bytes`, async () => {
        const path = join(dir, `${file}.pcap`);
        const records = pcap.decode(readFileSync(path)).records;
        expect(records.length).toBeGreaterThan(file === 'l2l3' ? 25 : 10);
        const r = await execa('tshark', ['-r', path, '-T', 'json', '--no-duplicate-keys', '-o', 'ip.defragment:FALSE'], {
          maxBuffer: 64 * 1024 * 1024,
        });
        const packets = JSON.parse(r.stdout) as { _source: { layers: TsharkLayers } }[];
        expect(packets).toHaveLength(records.length);
        let compared = 0;
        records.forEach((record, i) => {
          const d = dissect(record.data);
          expect(d.error, `frame ${i + 1}`).toBeUndefined();
          expect(reassemble(d).equals(record.data), `frame ${i + 1} re-encodes`).toBe(true);
          const layers = (packets[i] as { _source: { layers: TsharkLayers } })._source.layers;
          const seen: Record<string, number> = {};
          for (const layer of d.layers) {
            const name = TSHARK_NAME[layer.protocol];
            const index = seen[name] ?? 0;
            seen[name] = index + 1;
            const theirs = occurrences(layers, name)[index];
            expect(theirs, `frame ${i + 1}: tshark has no ${name} layer #${index + 1}`).toBeDefined();
            for (const [field, value] of Object.entries(expectedFields(layer))) {
              const values = fieldValues(theirs, field);
              expect(values[0], `frame ${i + 1} ${field}`).toBe(value);
              compared++;
            }
          }
        });
        expect(compared).toBeGreaterThan(records.length * 10);
      });
    }
  },
);
