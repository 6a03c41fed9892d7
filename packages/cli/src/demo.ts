// `podnet demo`: what `npm start` shows until a cluster can start.
import { dissect, dissectionToJson, pcap, TcpdumpPrinter, vxlan } from '@podnet/wire';
import { buildDemoSession, DEMO } from './demo-session.js';
import type { Output } from './pcap-read.js';

export async function demo(outFile: string, json: boolean, io: Output): Promise<number> {
  const session = buildDemoSession(pcap.nowTimestamp());
  const writer = new pcap.PcapWriter(outFile);
  for (const f of session.frames) writer.write(f.frame, f.timestamp);
  try {
    await writer.close();
  } catch (error) {
    io.err(`podnet: cannot write ${outFile}: ${(error as Error).message}`);
    return 1;
  }
  const printer = new TcpdumpPrinter();
  session.frames.forEach((f, i) => {
    const d = dissect(f.frame);
    io.out(
      json
        ? JSON.stringify({ frame: i + 1, note: f.note, ...(dissectionToJson(d) as object) })
        : printer.format(d, { timestamp: f.timestamp }),
    );
  });
  if (json) return 0;
  const overhead = session.wireBytes - session.innerBytes;
  io.out('');
  io.out(
    [
      `What you are looking at: pod ${DEMO.podA.ip} on ${DEMO.podA.node} fetches http://${DEMO.podB.ip}:${DEMO.podB.port}/hostname from a pod on ${DEMO.podB.node}.`,
      `Each line pair is one frame on the wire between the nodes: the first line is the outer packet, node IP ${DEMO.node1.ip} <-> ${DEMO.node2.ip}`,
      `to UDP port ${vxlan.UDP_PORT} with VXLAN network identifier ${DEMO.vni} (flannel's vxlan backend); the second is the pod's own packet inside it.`,
      `The tunnel added ${vxlan.ENCAPSULATION_OVERHEAD} bytes to each of the ${session.frames.length} frames (outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8):`,
      `${session.innerBytes} bytes of pod frames became ${session.wireBytes} bytes on the wire (+${overhead}, ${((overhead / session.innerBytes) * 100).toFixed(1)}%).`,
      'That is why pods get an MTU of 1450 and TCP an MSS of 1410 on a 1500-byte network.',
      `Written to ${outFile}: open it in Wireshark, or run \`npx podnet pcap read ${outFile}\`.`,
    ].join('\n'),
  );
  return 0;
}
