// Receive offload for TCP over IPv4, one instance per receiving link: consecutive segments of a
// flow that arrive in one receive batch are merged into one super-frame before the stack sees
// them, as Linux does in napi_gro_receive → dev_gro_receive (net/core/gro.c) → inet_gro_receive
// (net/ipv4/af_inet.c) → tcp_gro_receive (net/ipv4/tcp_offload.c), and napi_complete flushes
// what is held at the end of the poll. The merged frame carries its first segment's payload
// length as its GSO size (skb_shinfo(skb)->gso_size), so a forward re-segments it (segmentTcp).
//
// Unlike Linux (which keeps the segments as frags and leaves the checksum CHECKSUM_UNNECESSARY),
// the merged frame is one contiguous buffer with a valid TCP checksum, so every later check sees a
// valid packet. The checksum costs no second pass over the payload: each segment's checksum was
// verified, so its payload's one's-complement sum is the complement of its pseudo-header plus
// header sum (RFC 1071 §2, RFC 1624 arithmetic), byte-swapped when it lands at an odd offset.
//
// Linux's IP-ID check (NAPI_GRO_CB(p)->flush_id: ids must count up by one, or stay fixed with DF)
// is not done here: the merged frame keeps the first segment's id.
import { fold, ipv4HeaderSum, onesComplementSum, packetPool, pseudoHeaderSum, SLOT_BYTES } from '@podnet/wire';
import { configError } from '../errors.js';
import { GSO_MAX_IP_BYTES, gsoSizeOf, setGsoSize } from './gso.js';

const ETH_HEADER = 14;
const IP_START = 14;
const TCP_START = 34; // only option-less IPv4 headers are merged (inet_gro_receive: ihl == 5)
const PROTOCOL_TCP = 6;
const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_PSH = 0x08;
const TCP_URG = 0x20;
const TCP_CWR = 0x80;
/** Flags that deliver a segment at once instead of holding it (tcp_gro_receive out_check_final). */
const FLUSH_FLAGS = TCP_URG | TCP_PSH | TCP_RST | TCP_SYN | TCP_FIN;
/** Flags allowed to differ between the held packet and the new segment (tcp_gro_receive). */
const FREE_FLAGS = TCP_CWR | TCP_FIN | TCP_PSH;

/** One held packet: a flow's segments merged so far (struct sk_buff on napi->gro_hash). */
class HeldFlow {
  active = false;
  src = 0;
  dst = 0;
  ports = 0;
  /** The held bytes: the first segment itself, or the merge buffer once a second one joined. */
  buf: Buffer = EMPTY;
  merged = false;
  /** End of the held bytes in buf (the IPv4 end of the first segment, then of each payload added). */
  end = 0;
  headersEnd = 0;
  gsoSize = 0;
  nextSeq = 0;
  payloadBytes = 0;
  /** One's-complement sum of all payload bytes, as they lie from the TCP header on. */
  payloadSum = 0;
  /** FIN and PSH of merged segments, ORed into the header on delivery (tcp_gro_receive). */
  extraFlags = 0;
  /** Arrival order, for flushing oldest first (gro_flush_oldest). */
  age = 0;
}
const EMPTY = Buffer.alloc(0);

export interface TcpGroOptions {
  /** Flows held at once; the oldest is delivered to make room (MAX_GRO_SKBS, default 8). */
  maxFlows?: number;
}

/**
 * Receive offload (dev_gro_receive + inet_gro_receive + tcp_gro_receive), one instance per
 * receiving link. receive(frame) holds the frame to merge it or hands it on via `deliver`;
 * flush() delivers everything held (napi_complete: call it at the end of each receive batch).
 * Frames given to receive() are owned by TcpGro.
 */
export class TcpGro {
  private readonly deliver: (frame: Buffer) => void;
  private readonly flows: HeldFlow[] = [];
  private heldCount = 0;
  private clock = 0;

  constructor(deliver: (frame: Buffer) => void, options: TcpGroOptions = {}) {
    const maxFlows = options.maxFlows ?? 8;
    if (!Number.isInteger(maxFlows) || maxFlows < 1 || maxFlows > 1024) {
      throw configError(`TcpGro: maxFlows ${maxFlows} is not a flow count; pass an integer from 1 to 1024 (Linux uses 8)`);
    }
    this.deliver = deliver;
    for (let i = 0; i < maxFlows; i++) this.flows.push(new HeldFlow());
  }

  /** Frames held right now (tests, counters): one packet per flow, however many segments it merged. */
  get held(): number {
    return this.heldCount;
  }

  receive(frame: Buffer): void {
    const length = frame.length;
    // Only Ethernet IPv4 (0x0800), version 4 with ihl 5, carrying TCP (inet_gro_receive).
    if (length < TCP_START + 20 || frame[12] !== 0x08 || frame[13] !== 0x00 || frame[IP_START + 9] !== PROTOCOL_TCP) {
      this.deliver(frame);
      return;
    }
    if (frame[IP_START] !== 0x45 || ((frame[IP_START + 6] as number) & 0x3f) !== 0 || frame[IP_START + 7] !== 0) {
      // IP options or a fragment: not merged, but it must not overtake its flow's held data.
      this.flushFlowOf(frame);
      this.deliver(frame);
      return;
    }
    const ipTotal = ((frame[IP_START + 2] as number) << 8) | (frame[IP_START + 3] as number);
    const ipEnd = IP_START + ipTotal;
    const tcpHeader = ((frame[TCP_START + 12] as number) >>> 4) * 4;
    const headersEnd = TCP_START + tcpHeader;
    if (ipEnd > length || tcpHeader < 20 || headersEnd > ipEnd || ipv4HeaderSum(frame, IP_START) !== 0xffff) {
      // Malformed or a bad header checksum (inet_gro_receive: ip_fast_csum): the stack counts and
      // drops it, so it must reach the stack as it is; its flow is flushed first to keep order.
      this.flushFlowOf(frame);
      this.deliver(frame);
      return;
    }
    const src = frame.readUInt32BE(IP_START + 12);
    const dst = frame.readUInt32BE(IP_START + 16);
    const ports = frame.readUInt32BE(TCP_START);
    const flow = this.find(src, dst, ports);
    const tcpLength = ipTotal - 20;
    const pseudo = pseudoHeaderSum(src, dst, PROTOCOL_TCP, tcpLength);
    const payload = ipEnd - headersEnd;
    // A bad checksum (the stack counts and drops it) or no data (a pure ACK): delivered at once,
    // after the flow's held data (tcp_gro_receive: len == 0 flushes; bad csum: NAPI_GRO_CB flush).
    if (payload === 0 || onesComplementSum(frame, TCP_START, ipEnd, pseudo) !== 0xffff) {
      if (flow !== undefined) this.flushFlow(flow);
      this.deliver(frame);
      return;
    }
    // A super-frame that is already one (TSO from an in-process veth) stays as it is: its own
    // gso_size must reach a forward's segmentTcp, not become the first payload of a merge.
    // Only frames above a pool slot can be one, so MTU-sized frames skip the lookup.
    if (length > SLOT_BYTES && gsoSizeOf(frame) !== 0) {
      if (flow !== undefined) this.flushFlow(flow);
      this.deliver(frame);
      return;
    }
    const flags = frame[TCP_START + 13] as number;
    if (flow !== undefined) {
      if (this.canMerge(flow, frame, headersEnd, payload, flags)) {
        this.merge(flow, frame, headersEnd, ipEnd, payload, pseudo);
        // A short segment, PSH or FIN ends the packet (tcp_gro_receive out_check_final).
        if (payload < flow.gsoSize || (flags & (TCP_PSH | TCP_FIN)) !== 0) this.flushFlow(flow);
        return;
      }
      this.flushFlow(flow);
    }
    if ((flags & FLUSH_FLAGS) !== 0) {
      this.deliver(frame);
      return;
    }
    this.hold(frame, src, dst, ports, headersEnd, ipEnd, payload);
  }

  /** Delivers every held packet, oldest first. */
  flush(): void {
    while (this.heldCount > 0) {
      const oldest = this.oldest();
      if (oldest === undefined) return;
      this.flushFlow(oldest);
    }
  }

  private find(src: number, dst: number, ports: number): HeldFlow | undefined {
    const flows = this.flows;
    for (let i = 0; i < flows.length; i++) {
      const f = flows[i] as HeldFlow;
      if (f.active && f.ports === ports && f.src === src && f.dst === dst) return f;
    }
    return undefined;
  }

  private oldest(): HeldFlow | undefined {
    let best: HeldFlow | undefined;
    for (const f of this.flows) if (f.active && (best === undefined || f.age < best.age)) best = f;
    return best;
  }

  private flushFlowOf(frame: Buffer): void {
    if (this.heldCount === 0) return;
    const ihl = ((frame[IP_START] as number) & 0x0f) * 4;
    // A non-first fragment has no ports; only the first one can be matched to a flow.
    if (frame.length < IP_START + ihl + 4 || (frame.readUInt16BE(IP_START + 6) & 0x1fff) !== 0) return;
    const flow = this.find(frame.readUInt32BE(IP_START + 12), frame.readUInt32BE(IP_START + 16), frame.readUInt32BE(IP_START + ihl));
    if (flow !== undefined) this.flushFlow(flow);
  }

  /** The merge conditions of inet_gro_receive and tcp_gro_receive. */
  private canMerge(flow: HeldFlow, frame: Buffer, headersEnd: number, payload: number, flags: number): boolean {
    const held = flow.buf;
    if (frame.readUInt32BE(TCP_START + 4) !== flow.nextSeq) return false;
    // CWR on a new segment ends merging (it may only lead a packet, as GSO puts it on the first).
    if ((flags & TCP_CWR) !== 0) return false;
    if ((((held[TCP_START + 13] as number) ^ flags) & ~FREE_FLAGS) !== 0) return false;
    if (payload > flow.gsoSize) return false;
    if (flow.end - ETH_HEADER + payload > GSO_MAX_IP_BYTES) return false;
    // TOS, TTL and DF (inet_gro_receive), then data offset + reserved bits, ACK, window and
    // every option byte (tcp_gro_receive compares the flag word, ack_seq and the options).
    if (held[IP_START + 1] !== frame[IP_START + 1] || held[IP_START + 8] !== frame[IP_START + 8]) return false;
    if ((((held[IP_START + 6] as number) ^ (frame[IP_START + 6] as number)) & 0x40) !== 0) return false;
    if (headersEnd !== flow.headersEnd || held[TCP_START + 12] !== frame[TCP_START + 12]) return false;
    if (held.readUInt32BE(TCP_START + 8) !== frame.readUInt32BE(TCP_START + 8)) return false;
    if (held[TCP_START + 14] !== frame[TCP_START + 14] || held[TCP_START + 15] !== frame[TCP_START + 15]) return false;
    for (let i = TCP_START + 20; i < headersEnd; i++) if (held[i] !== frame[i]) return false;
    return true;
  }

  private hold(frame: Buffer, src: number, dst: number, ports: number, headersEnd: number, ipEnd: number, payload: number): void {
    let flow: HeldFlow | undefined;
    for (const f of this.flows) {
      if (!f.active) {
        flow = f;
        break;
      }
    }
    if (flow === undefined) {
      // All slots busy: the oldest packet goes up to make room (gro_flush_oldest).
      flow = this.oldest() as HeldFlow;
      this.flushFlow(flow);
    }
    flow.active = true;
    flow.src = src;
    flow.dst = dst;
    flow.ports = ports;
    flow.buf = frame;
    flow.merged = false;
    flow.end = ipEnd;
    flow.headersEnd = headersEnd;
    flow.gsoSize = payload;
    flow.nextSeq = (frame.readUInt32BE(TCP_START + 4) + payload) >>> 0;
    flow.payloadBytes = payload;
    flow.extraFlags = 0;
    flow.age = this.clock++;
    this.heldCount++;
  }

  private merge(flow: HeldFlow, frame: Buffer, headersEnd: number, ipEnd: number, payload: number, pseudo: number): void {
    if (!flow.merged) {
      const first = flow.buf;
      const firstPseudo = pseudoHeaderSum(flow.src, flow.dst, PROTOCOL_TCP, flow.end - TCP_START);
      flow.payloadSum = payloadSumOf(first, flow.headersEnd, firstPseudo);
      // A jumbo buffer from the pool (reused once the stack releases the merged frame).
      const buf = packetPool.allocJumbo(ETH_HEADER + GSO_MAX_IP_BYTES, 0, false);
      first.copy(buf, 0, 0, flow.end);
      packetPool.release(first);
      flow.buf = buf;
      flow.merged = true;
    }
    const sum = payloadSumOf(frame, headersEnd, pseudo);
    // A payload that starts at an odd offset from the TCP header adds its sum byte-swapped (RFC 1071 §2(B)).
    flow.payloadSum = fold(flow.payloadSum + ((flow.payloadBytes & 1) === 0 ? sum : ((sum & 0xff) << 8) | (sum >>> 8)));
    frame.copy(flow.buf, flow.end, headersEnd, ipEnd);
    packetPool.release(frame);
    flow.end += payload;
    flow.payloadBytes += payload;
    flow.nextSeq = (flow.nextSeq + payload) >>> 0;
    flow.extraFlags |= (frame[TCP_START + 13] as number) & (TCP_FIN | TCP_PSH);
  }

  private flushFlow(flow: HeldFlow): void {
    flow.active = false;
    this.heldCount--;
    const buf = flow.buf;
    flow.buf = EMPTY;
    if (!flow.merged) {
      this.deliver(buf);
      return;
    }
    const end = flow.end;
    const frame = buf.subarray(0, end);
    // inet_gro_complete: tot_len and the header checksum; tcp_gro_complete-like header fix-up.
    frame.writeUInt16BE(end - IP_START, IP_START + 2);
    frame.writeUInt16BE(0, IP_START + 10);
    frame.writeUInt16BE(~onesComplementSum(frame, IP_START, TCP_START) & 0xffff, IP_START + 10);
    frame[TCP_START + 13] = (frame[TCP_START + 13] as number) | flow.extraFlags;
    frame.writeUInt16BE(0, TCP_START + 16);
    const pseudo = pseudoHeaderSum(flow.src, flow.dst, PROTOCOL_TCP, end - TCP_START);
    // The sum is never 0 (the pseudo-header holds protocol 6), so this is the canonical checksum.
    const total = fold(onesComplementSum(frame, TCP_START, flow.headersEnd, pseudo) + flow.payloadSum);
    frame.writeUInt16BE(~total & 0xffff, TCP_START + 16);
    setGsoSize(frame, flow.gsoSize);
    this.deliver(frame);
  }
}

/**
 * The one's-complement sum of a verified segment's payload, from its checksum: the whole segment
 * with its pseudo-header sums to 0xffff (≡ 0), so the payload sums to −(pseudo + header).
 */
function payloadSumOf(frame: Buffer, headersEnd: number, pseudo: number): number {
  return ~fold(onesComplementSum(frame, TCP_START, headersEnd, pseudo)) & 0xffff;
}
