// The pcap tap. On a VXLAN device's underlay it writes each real datagram behind synthesized outer
// Ethernet/IPv4/UDP headers carrying the emulated node IPs, as a capture on a real node shows it;
// the payloads it writes must equal, byte for byte, what tshark captures on lo at the same time.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ethernet, formatIpv4, ipv4, pcap, udp, vxlan } from '@podnet/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeInterop } from '../../../../test/support/interop.ts';
import { twoNodesOverVxlan } from '../testing/two-nodes.js';
import { settle } from '../testing/wait.js';

function udpPayloads(file: string): { payload: string; src: string; dst: string; sport: number; dport: number }[] {
  return pcap.decode(readFileSync(file)).records.map((r) => {
    const ip = ipv4.decode(ethernet.decode(r.data).payload);
    const u = udp.decode(ip.payload);
    return { payload: u.payload.toString('hex'), src: formatIpv4(ip.src), dst: formatIpv4(ip.dst), sport: u.srcPort, dport: u.dstPort };
  });
}

describe('link tap', () => {
  it('writes every frame a link sends and receives, readable as pcap', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pn-tap-'));
    const t = await twoNodesOverVxlan();
    try {
      const file = join(dir, 'eth0.pcap');
      const writer = new pcap.PcapWriter(file);
      const untap = t.a.eth0.tap(writer);
      await t.a.ns.ping(t.b.ip, { timeoutMs: 5000 });
      untap();
      await writer.close();
      const frames = pcap.decode(readFileSync(file)).records.map((r) => ethernet.decode(r.data));
      // ARP request and reply for the gateway, then the echo request and reply.
      expect(frames.map((f) => f.etherType)).toEqual([0x0806, 0x0806, 0x0800, 0x0800]);
      expect(t.a.eth0.counters.snapshot()).toMatchObject({ txPackets: 2, rxPackets: 2 });
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeInterop('vxlan underlay tap against tshark on lo', { commands: ['tshark'] }, () => {
  let dir: string;
  let tshark: ChildProcess | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pn-tap-'));
  });
  afterAll(() => {
    tshark?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('the tap writes exactly the datagrams on the wire, with node IPs outside', async () => {
    const t = await twoNodesOverVxlan();
    try {
      const ports = [t.n1.vxlan.localPort, t.n2.vxlan.localPort];
      const captured = join(dir, 'tshark.pcap');
      const tapped = join(dir, 'tap.pcap');
      tshark = spawn('tshark', ['-q', '-i', 'lo', '-F', 'pcap', '-w', captured, '-f', `udp port ${ports[0]} and udp port ${ports[1]}`]);
      let stderr = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`tshark did not start: ${stderr}`)), 30_000);
        tshark?.stderr?.on('data', (d: Buffer) => {
          stderr += d.toString();
          // "Capturing on" comes first; dumpcap's filter is in place once it reports "Capture started".
          if (stderr.includes('Capture started')) {
            clearTimeout(timer);
            setTimeout(resolve, 200);
          }
        });
      });
      const writer = new pcap.PcapWriter(tapped);
      t.n1.vxlan.tapUnderlay(writer);
      for (let i = 0; i < 3; i++) await t.a.ns.ping(t.b.ip, { timeoutMs: 5000, size: 100 + i });
      await settle();
      await new Promise((r) => setTimeout(r, 500));
      const exited = new Promise((resolve) => tshark?.once('exit', resolve));
      tshark.kill('SIGINT');
      await exited;
      tshark = undefined;
      await writer.close();
      const wire = udpPayloads(captured);
      const ours = udpPayloads(tapped);
      expect(ours.length).toBe(6);
      expect(ours.map((o) => o.payload)).toEqual(wire.map((w) => w.payload));
      // Outside: the emulated node IPs and the real ports; inside: VXLAN VNI 1.
      expect(ours[0]).toMatchObject({ src: '172.18.0.2', dst: '172.18.0.3', sport: ports[0], dport: ports[1] });
      expect(ours[1]).toMatchObject({ src: '172.18.0.3', dst: '172.18.0.2', dport: ports[0] });
      expect(vxlan.decode(Buffer.from(ours[0]?.payload ?? '', 'hex')).vni).toBe(1);
    } finally {
      await t.close();
    }
  });
});
