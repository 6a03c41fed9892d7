// `nc --sctp -z IP PORT` (ncat's --sctp): one SCTP packet carrying an INIT chunk, sent from the
// pod's namespace through its IpLayer (IPv4 protocol 132), then a wait for the peer's answer. No
// association is set up (podnet has no SCTP endpoints): INIT ACK means something listens (exit 0),
// ABORT or an ICMP unreachable means refused, silence means timeout (exit 1), as ncat reports.
import type { IcmpErrorReport, IncomingHeader, Namespace, TransportProtocol } from '@podnet/netstack';
import { parseIpv4, sctp } from '@podnet/wire';
import type { ProcessContext } from '../runtime/process.js';

export const IPPROTO_SCTP = 132;
/** What our INIT advertises: Linux's defaults (net.sctp: 10 outbound streams, 65535 inbound). */
const A_RWND = 106_496;
const OUTBOUND_STREAMS = 10;
const INBOUND_STREAMS = 65_535;

export interface InitFields {
  initiateTag: number;
  aRwnd: number;
  outboundStreams: number;
  inboundStreams: number;
  initialTsn: number;
}

/** The INIT chunk value, RFC 9260 §3.3.2 (no optional parameters). */
export function initChunkValue(f: InitFields): Buffer {
  const v = Buffer.alloc(16);
  v.writeUInt32BE(f.initiateTag, 0);
  v.writeUInt32BE(f.aRwnd, 4);
  v.writeUInt16BE(f.outboundStreams, 8);
  v.writeUInt16BE(f.inboundStreams, 10);
  v.writeUInt32BE(f.initialTsn, 12);
  return v;
}

/**
 * The whole SCTP packet of an INIT. RFC 9260 §8.5.1: the verification tag of a packet carrying
 * INIT is 0; §3.3.2: the Initiate Tag must not be 0 and should be random, as the initial TSN.
 */
export function buildInit(srcPort: number, dstPort: number, random: () => number): { packet: Buffer; fields: InitFields } {
  const initiateTag = random() || 1;
  const fields: InitFields = {
    initiateTag,
    aRwnd: A_RWND,
    outboundStreams: OUTBOUND_STREAMS,
    inboundStreams: INBOUND_STREAMS,
    initialTsn: random(),
  };
  const packet = sctp.encode({
    srcPort,
    dstPort,
    verificationTag: 0,
    chunks: [{ type: sctp.ChunkType.INIT, flags: 0, value: initChunkValue(fields) }],
  });
  return { packet, fields };
}

type Answer = 'init-ack' | 'abort' | 'unreachable';
interface Waiter {
  peer: number;
  peerPort: number;
  tag: number;
  done: (a: Answer) => void;
}

/**
 * The namespace's protocol-132 handler while probes wait: it hands an INIT ACK or ABORT (matched
 * by ports and, per RFC 9260 §8.5, our Initiate Tag as the verification tag) or an ICMP error
 * quoting our packet to the waiting probe. One per namespace (a namespace has one handler per protocol).
 */
class SctpProbeDemux implements TransportProtocol {
  readonly protocol = IPPROTO_SCTP;
  readonly waiters = new Map<number, Waiter>();

  receive(header: IncomingHeader, segment: Buffer): boolean {
    if (segment.length < sctp.HEADER_LENGTH || !sctp.checksumValid(segment)) return true;
    const srcPort = segment.readUInt16BE(0);
    const w = this.waiters.get(segment.readUInt16BE(2));
    if (!w || w.peer !== header.src || w.peerPort !== srcPort) return false;
    const tag = segment.readUInt32BE(4);
    const type = segment[sctp.HEADER_LENGTH];
    // ABORT may carry the T bit with the peer's reflected tag (RFC 9260 §8.5.1 B); accept either.
    if (type === sctp.ChunkType.INIT_ACK && tag === w.tag) w.done('init-ack');
    else if (type === sctp.ChunkType.ABORT) w.done('abort');
    return true;
  }

  icmpError(report: IcmpErrorReport): void {
    if (report.type !== 3 || report.quotedTransport.length < 4) return;
    const w = this.waiters.get(report.quotedTransport.readUInt16BE(0));
    if (w && w.peer === report.quotedDst && w.peerPort === report.quotedTransport.readUInt16BE(2)) w.done('unreachable');
  }
}

const demuxes = new WeakMap<Namespace, SctpProbeDemux>();
function demuxFor(ns: Namespace): SctpProbeDemux | undefined {
  let d = demuxes.get(ns);
  if (d) return d;
  if (ns.transport(IPPROTO_SCTP)) return undefined;
  d = new SctpProbeDemux();
  ns.registerTransport(d);
  demuxes.set(ns, d);
  return d;
}

/** Sends the INIT to ip:port and waits up to waitMs (ncat's default connect timeout: 10 s). */
export function sctpProbe(
  ctx: ProcessContext,
  ipText: string,
  port: number,
  waitMs: number | undefined,
  verbose: boolean,
): Promise<number> {
  const ns = ctx.net.ns;
  const dst = parseIpv4(ipText);
  const rng = ns.rng;
  const demux = demuxFor(ns);
  if (!demux) {
    ctx.stderr('Ncat: SCTP is handled by another transport in this namespace. QUITTING.\n');
    return Promise.resolve(2);
  }
  // An ephemeral port (Linux ip_local_port_range 32768-60999) no other probe of this pod waits on.
  let srcPort = 32768 + (rng.nextUint32() % 28232);
  while (demux.waiters.has(srcPort)) srcPort = srcPort === 60999 ? 32768 : srcPort + 1;
  const { packet, fields } = buildInit(srcPort, port, () => rng.nextUint32());
  const src = ns.ip.sourceFor(dst);
  if (src === undefined) {
    ctx.stderr('Ncat: Network is unreachable.\n');
    return Promise.resolve(1);
  }
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (status: number, message?: string) => {
      if (!demux.waiters.has(srcPort)) return;
      demux.waiters.delete(srcPort);
      if (timer) ctx.net.clearTimer(timer);
      if (message) ctx.stderr(message);
      resolve(status);
    };
    demux.waiters.set(srcPort, {
      peer: dst,
      peerPort: port,
      tag: fields.initiateTag,
      done: (a) =>
        a === 'init-ack'
          ? finish(0, verbose ? `Ncat: Connected to ${ipText}:${port}.\n` : undefined)
          : finish(1, 'Ncat: Connection refused.\n'),
    });
    const sent = ns.ip.send({ src, dst, protocol: IPPROTO_SCTP, payload: packet });
    if (!sent.ok) {
      finish(1, `Ncat: ${sent.error === 'EPERM' ? 'Operation not permitted' : sent.error}.\n`);
      return;
    }
    timer = ctx.net.setTimeout(() => finish(1, 'Ncat: TIMEOUT.\n'), waitMs ?? 10_000);
    ctx.killed.addEventListener('abort', () => finish(137), { once: true });
  });
}
