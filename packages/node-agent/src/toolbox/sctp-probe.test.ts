// nc --sctp: the INIT packet decodes with wire's SCTP codec (RFC 9260 §3.3.2, §8.5.1), and the
// probe sent across a real emulated bridge reports ncat's TIMEOUT when nothing answers and
// "Connection refused" on an ABORT from the peer.
import type { IncomingHeader, Namespace } from '@podnet/netstack';
import { sctp } from '@podnet/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BridgeTopology, podsOnBridge } from '../../../netstack/src/testing/topology.ts';
import type { ProcessContext } from '../runtime/process.js';
import { SocketScope } from '../runtime/socket-scope.js';
import { runCommand } from './index.js';
import { buildInit, IPPROTO_SCTP } from './sctp-probe.js';

let t: BridgeTopology;
let clientNs: Namespace;
let serverNs: Namespace;
let serverIp: string;
const seen: Array<{ header: IncomingHeader; segment: Buffer }> = [];
let answer: ((h: IncomingHeader, s: Buffer) => void) | undefined;

async function run(argv: string[]): Promise<{ status: number; stderr: string }> {
  let stderr = '';
  const ctx: ProcessContext = {
    net: new SocketScope(clientNs),
    hostname: 'client-pod',
    env: {},
    killed: new AbortController().signal,
    terminated: new AbortController().signal,
    podKey: 'default/client-pod',
    stdout: () => {},
    stderr: (x) => {
      stderr += x.toString();
    },
  };
  const status = await runCommand(argv, ctx);
  ctx.net.close();
  return { status, stderr };
}

beforeAll(() => {
  t = podsOnBridge(2);
  clientNs = (t.pods[0] as { ns: Namespace }).ns;
  const target = t.pods[1] as { ns: Namespace; ip: string };
  serverNs = target.ns;
  serverIp = target.ip;
  // The peer's protocol-132 handler records what arrives (and answers when a test asks it to).
  serverNs.registerTransport({
    protocol: IPPROTO_SCTP,
    receive: (header, segment) => {
      seen.push({ header, segment: Buffer.from(segment) });
      answer?.(header, Buffer.from(segment));
      return true;
    },
    icmpError: () => {},
  });
});
afterAll(async () => {
  await t.close();
});

const decodeInit = (packet: Buffer) => {
  const repr = sctp.decode(packet);
  const chunk = repr.chunks[0] as sctp.SctpChunk;
  return {
    repr,
    chunk,
    initiateTag: chunk.value.readUInt32BE(0),
    aRwnd: chunk.value.readUInt32BE(4),
    outbound: chunk.value.readUInt16BE(8),
    inbound: chunk.value.readUInt16BE(10),
    tsn: chunk.value.readUInt32BE(12),
  };
};

describe('nc --sctp', () => {
  it('builds an INIT that wire decodes: ports, verification tag 0, valid CRC32c, INIT fields', () => {
    let n = 0;
    const { packet, fields } = buildInit(40000, 80, () => [0xdeadbeef, 0x01020304][n++] as number);
    expect(sctp.checksumValid(packet)).toBe(true);
    const d = decodeInit(packet);
    expect(d.repr).toMatchObject({ srcPort: 40000, dstPort: 80, verificationTag: 0 });
    expect(d.repr.chunks).toHaveLength(1);
    expect(d.chunk.type).toBe(sctp.ChunkType.INIT);
    expect(d.chunk.flags).toBe(0);
    expect(d.chunk.value).toHaveLength(16);
    expect(d.initiateTag).toBe(0xdeadbeef);
    expect(d.tsn).toBe(0x01020304);
    expect(d.aRwnd).toBe(fields.aRwnd);
    expect(d.aRwnd).toBeGreaterThanOrEqual(1500);
    expect(d.outbound).toBeGreaterThan(0);
    expect(d.inbound).toBeGreaterThan(0);
    // Initiate Tag 0 is forbidden (RFC 9260 §3.3.2): a zero draw becomes 1.
    expect(decodeInit(buildInit(1, 2, () => 0).packet).initiateTag).toBe(1);
    // A corrupted byte fails the CRC.
    const bad = Buffer.from(packet);
    bad[20] = (bad[20] as number) ^ 1;
    expect(sctp.checksumValid(bad)).toBe(false);
  });

  it('sends one INIT through the pod IpLayer and reports "Ncat: TIMEOUT." when nothing answers', async () => {
    seen.length = 0;
    answer = undefined;
    const r = await run(['nc', '--sctp', '-z', '-w', '1', serverIp, '80']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('Ncat: TIMEOUT.\n');
    expect(seen).toHaveLength(1);
    const got = seen[0] as { header: IncomingHeader; segment: Buffer };
    expect(got.header.dst).toBe(serverNs.interfaceAddress('eth0'));
    expect(sctp.checksumValid(got.segment)).toBe(true);
    const d = decodeInit(got.segment);
    expect(d.repr.dstPort).toBe(80);
    expect(d.repr.verificationTag).toBe(0);
    expect(d.repr.srcPort).toBeGreaterThanOrEqual(32768);
    expect(d.chunk.type).toBe(sctp.ChunkType.INIT);
  });

  it('an ABORT from the peer is "Connection refused"; an INIT ACK with our tag exits 0', async () => {
    const reply = (type: number, h: IncomingHeader, s: Buffer) => {
      const init = decodeInit(s);
      const value = type === sctp.ChunkType.INIT_ACK ? Buffer.alloc(16) : Buffer.alloc(0);
      const packet = sctp.encode({
        srcPort: init.repr.dstPort,
        dstPort: init.repr.srcPort,
        verificationTag: init.initiateTag,
        chunks: [{ type, flags: 0, value }],
      });
      serverNs.ip.send({ src: h.dst, dst: h.src, protocol: IPPROTO_SCTP, payload: packet });
    };
    answer = (h, s) => reply(sctp.ChunkType.ABORT, h, s);
    const refused = await run(['nc', '--sctp', '-z', '-w', '5', serverIp, '80']);
    expect(refused).toEqual({ status: 1, stderr: 'Ncat: Connection refused.\n' });
    answer = (h, s) => reply(sctp.ChunkType.INIT_ACK, h, s);
    const open = await run(['nc', '--sctp', '-z', '-v', '-w', '5', serverIp, '80']);
    expect(open).toEqual({ status: 0, stderr: `Ncat: Connected to ${serverIp}:80.\n` });
    answer = undefined;
  });

  it('refuses --sctp without -z with a clear message (no association is implemented)', async () => {
    const r = await run(['nc', '--sctp', serverIp, '80']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--sctp supports only -z');
  });
});
