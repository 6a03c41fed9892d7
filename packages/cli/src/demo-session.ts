// The frames of one pod-to-pod HTTP exchange across two nodes, as flannel's vxlan backend puts
// them on the wire between the nodes (DESIGN §3): every inner frame (pod A's TCP segment,
// routed by node-1 to flannel.1) wrapped in outer Ethernet/IPv4/UDP 4789/VXLAN VNI 1, from
// node-1's eth0 to node-2's. Used by `podnet demo` and by tests that need a realistic tunnel.
import { ethernet, ipv4, parseIpv4, parseMac, type Timestamp, tcp, udp, vxlan } from '@podnet/wire';

export const DEMO = {
  podA: { ip: '10.244.1.2', port: 45678, node: 'node-1' },
  podB: { ip: '10.244.2.3', port: 8080, node: 'node-2', hostname: 'netexec-7d4f9c6b8-x2x9q' },
  node1: { ip: '172.18.0.2', mac: '02:42:ac:12:00:02', vtepMac: 'a6:3e:1c:52:0b:11' },
  node2: { ip: '172.18.0.3', mac: '02:42:ac:12:00:03', vtepMac: 'c2:71:9d:04:e5:22' },
  vni: 1,
  /** Pod MTU 1450 = 1500 - 50 bytes of VXLAN encapsulation; MSS = 1450 - 40. */
  mss: 1410,
} as const;

export interface DemoFrame {
  frame: Buffer;
  timestamp: Timestamp;
  /** What the frame is, for the explanation. */
  note: string;
}

export interface DemoSession {
  frames: DemoFrame[];
  innerBytes: number;
  wireBytes: number;
}

/**
 * Linux picks the outer UDP source port from a hash of the inner flow so that ECMP spreads
 * tunnels (RFC 7348 §5; udp_flow_src_port, within the local port range 32768-60999).
 */
function flowSourcePort(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('|')) h = Math.imul(h ^ (ch.codePointAt(0) as number), 0x01000193) >>> 0;
  return 32768 + (h % (61000 - 32768));
}

export function buildDemoSession(start: Timestamp = { seconds: 1_767_225_600, nanoseconds: 0 }): DemoSession {
  const a = parseIpv4(DEMO.podA.ip);
  const b = parseIpv4(DEMO.podB.ip);
  const n1 = parseIpv4(DEMO.node1.ip);
  const n2 = parseIpv4(DEMO.node2.ip);
  const clientIsn = 2_614_012_345;
  const serverIsn = 1_093_477_801;
  const tsA = 3_291_004_117;
  const tsB = 1_802_650_239;
  // Nanoseconds since the epoch exceed 2^53: keep the clock in a BigInt.
  let clock = BigInt(start.seconds) * 1_000_000_000n + BigInt(start.nanoseconds);
  const frames: DemoFrame[] = [];
  const ipIds = { a: 0x3c1e, b: 0x9a05, n1: 0x0000, n2: 0x0000 };
  let innerBytes = 0;

  const send = (
    fromA: boolean,
    seg: Omit<tcp.TcpRepr, 'srcPort' | 'dstPort' | 'reserved' | 'urgentPointer'>,
    note: string,
    gapUs: number,
  ) => {
    clock += BigInt(gapUs) * 1000n;
    const [srcIp, dstIp] = fromA ? [a, b] : [b, a];
    const segment = tcp.encode(
      {
        srcPort: fromA ? DEMO.podA.port : DEMO.podB.port,
        dstPort: fromA ? DEMO.podB.port : DEMO.podA.port,
        reserved: 0,
        urgentPointer: 0,
        ...seg,
      },
      undefined,
      0,
      { src: srcIp, dst: dstIp },
    );
    // Pods send TTL 64 with DF set (Linux path MTU discovery); the sending node routed it once.
    const inner = ipv4.encode({
      dscp: 0,
      ecn: 0,
      identification: fromA ? ipIds.a++ : ipIds.b++,
      reservedFlag: false,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      ttl: 63,
      protocol: ipv4.IpProtocol.TCP,
      src: srcIp,
      dst: dstIp,
      options: Buffer.alloc(0),
      payload: segment,
    });
    const [srcNode, dstNode] = fromA ? [DEMO.node1, DEMO.node2] : [DEMO.node2, DEMO.node1];
    // Inside the tunnel the Ethernet header goes VTEP to VTEP (flannel.1 MACs).
    const innerFrame = ethernet.encode({
      dst: parseMac(dstNode.vtepMac),
      src: parseMac(srcNode.vtepMac),
      vlans: [],
      etherType: ethernet.EtherType.IPv4,
      payload: inner,
    });
    innerBytes += innerFrame.length;
    const vx = vxlan.encode({ flags: vxlan.FLAG_I, reserved1: 0, vni: DEMO.vni, reserved2: 0, payload: innerFrame });
    const srcPort = flowSourcePort(srcNode.ip, DEMO.podA.ip, DEMO.podA.port, DEMO.podB.ip, DEMO.podB.port);
    const outerUdp = udp.encode({ srcPort, dstPort: vxlan.UDP_PORT, payload: vx }, undefined, 0, {
      src: fromA ? n1 : n2,
      dst: fromA ? n2 : n1,
    });
    const outerIp = ipv4.encode({
      dscp: 0,
      ecn: 0,
      identification: fromA ? ipIds.n1++ : ipIds.n2++,
      reservedFlag: false,
      dontFragment: false,
      moreFragments: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: ipv4.IpProtocol.UDP,
      src: fromA ? n1 : n2,
      dst: fromA ? n2 : n1,
      options: Buffer.alloc(0),
      payload: outerUdp,
    });
    const frame = ethernet.encode({
      dst: parseMac(dstNode.mac),
      src: parseMac(srcNode.mac),
      vlans: [],
      etherType: ethernet.EtherType.IPv4,
      payload: outerIp,
    });
    frames.push({ frame, timestamp: { seconds: Number(clock / 1_000_000_000n), nanoseconds: Number(clock % 1_000_000_000n) }, note });
  };

  const { ACK, SYN, FIN, PSH } = tcp.TcpFlags;
  const ts = (val: number, ecr: number): tcp.TcpOption[] => [
    { kind: 'nop' },
    { kind: 'nop' },
    { kind: 'timestamps', tsval: val, tsecr: ecr },
  ];
  const synOptions = (val: number, ecr: number): tcp.TcpOption[] => [
    { kind: 'mss', value: DEMO.mss },
    { kind: 'sack-permitted' },
    { kind: 'timestamps', tsval: val, tsecr: ecr },
    { kind: 'nop' },
    { kind: 'window-scale', shift: 7 },
  ];
  const request = Buffer.from(
    `GET /hostname HTTP/1.1\r\nHost: ${DEMO.podB.ip}:${DEMO.podB.port}\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n`,
  );
  const body = DEMO.podB.hostname;
  const response = Buffer.from(
    `HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\nContent-Length: ${body.length}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}`,
  );
  const none = Buffer.alloc(0);
  let cSeq = clientIsn;
  let sSeq = serverIsn;
  send(
    true,
    { seq: cSeq, ack: 0, flags: SYN, window: 64860, options: synOptions(tsA, 0), payload: none },
    'SYN: pod A opens a connection to pod B',
    0,
  );
  cSeq++;
  send(
    false,
    { seq: sSeq, ack: cSeq, flags: SYN | ACK, window: 64308, options: synOptions(tsB, tsA), payload: none },
    'SYN-ACK from pod B',
    210,
  );
  sSeq++;
  send(true, { seq: cSeq, ack: sSeq, flags: ACK, window: 507, options: ts(tsA, tsB), payload: none }, 'ACK: connection established', 180);
  send(true, { seq: cSeq, ack: sSeq, flags: PSH | ACK, window: 507, options: ts(tsA, tsB), payload: request }, 'HTTP request', 40);
  cSeq += request.length;
  send(
    false,
    { seq: sSeq, ack: cSeq, flags: ACK, window: 502, options: ts(tsB + 1, tsA), payload: none },
    'pod B acknowledges the request',
    150,
  );
  send(
    false,
    { seq: sSeq, ack: cSeq, flags: PSH | ACK, window: 502, options: ts(tsB + 1, tsA), payload: response },
    "HTTP response: pod B's hostname",
    320,
  );
  sSeq += response.length;
  send(
    true,
    { seq: cSeq, ack: sSeq, flags: ACK, window: 506, options: ts(tsA + 1, tsB + 1), payload: none },
    'pod A acknowledges the response',
    170,
  );
  send(
    true,
    { seq: cSeq, ack: sSeq, flags: FIN | ACK, window: 506, options: ts(tsA + 1, tsB + 1), payload: none },
    'FIN: pod A closes',
    60,
  );
  cSeq++;
  send(false, { seq: sSeq, ack: cSeq, flags: FIN | ACK, window: 502, options: ts(tsB + 2, tsA + 1), payload: none }, 'FIN from pod B', 190);
  sSeq++;
  send(true, { seq: cSeq, ack: sSeq, flags: ACK, window: 506, options: ts(tsA + 2, tsB + 2), payload: none }, 'last ACK', 160);

  const wireBytes = frames.reduce((n, f) => n + f.frame.length, 0);
  return { frames, innerBytes, wireBytes };
}
