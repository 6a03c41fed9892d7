// Software GSO for TCP over IPv4: a super-frame (one Ethernet + IPv4 + TCP header in front of up
// to 64 KB of payload) is cut into MSS-sized segments where a device cannot carry it, as Linux
// does in validate_xmit_skb → skb_gso_segment → inet_gso_segment (net/ipv4/af_inet.c) →
// tcp_gso_segment (net/ipv4/tcp_offload.c). The frame's GSO size travels beside it, as
// skb_shinfo(skb)->gso_size does (SKB_GSO_TCPV4 is the only type here).
import { internetChecksum, ipv4HeaderChecksum, packetPool, pseudoHeaderSum } from '@podnet/wire';
import { configError } from '../errors.js';
import { allocFrameWithHeadroom } from '../links/headroom.js';

/** The largest IPv4 total length of a super-frame: it must fit the unix-socket veth's 16-bit frame length with its 14-byte Ethernet header. */
export const GSO_MAX_IP_BYTES = 65535 - 14;

// skb_shinfo(skb)->gso_size, kept off the Buffer (a property on it would change its hidden class).
const gsoSizes = new WeakMap<Uint8Array, number>();

/** GSO metadata of a frame (Linux skb_shinfo(skb)->gso_size, gso_type SKB_GSO_TCPV4): 0 = not a super-frame. */
export function gsoSizeOf(frame: Uint8Array): number {
  return gsoSizes.get(frame) ?? 0;
}

/** Marks `frame` as a super-frame of `gsoSize`-byte segments; 0 clears the mark. */
export function setGsoSize(frame: Uint8Array, gsoSize: number): void {
  if (gsoSize === 0) {
    gsoSizes.delete(frame);
    return;
  }
  checkGsoSize(gsoSize, 'setGsoSize');
  gsoSizes.set(frame, gsoSize);
}

function checkGsoSize(gsoSize: number, where: string): void {
  if (!Number.isInteger(gsoSize) || gsoSize < 1 || gsoSize > GSO_MAX_IP_BYTES) {
    throw configError(
      `${where}: gsoSize ${gsoSize} is not a segment payload size; pass an integer from 1 to ${GSO_MAX_IP_BYTES} (the MSS), or 0 to clear the mark`,
    );
  }
}

const ETH_HEADER = 14;
const ETHERTYPE_IPV4 = 0x0800;
const PROTOCOL_TCP = 6;
const IP_MF_OR_OFFSET = 0x3fff;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/**
 * Software GSO of an Ethernet(14) + IPv4 + TCP super-frame into segments of at most `gsoSize` TCP
 * payload bytes each. Per segment: Ethernet and IPv4 headers (options included) copied; IPv4 total
 * length, identification (first = the frame's, then +1 mod 2^16, inet_gso_segment without
 * SKB_GSO_TCP_FIXEDID) and header checksum rewritten; the TCP header (options copied) gets
 * seq + offset; CWR only on the first segment, FIN and PSH only on the last (tcp_gso_segment);
 * the TCP checksum computed whole. Segments come from allocFrameWithHeadroom so a tunnel can
 * prepend its header in place (or from `alloc`, which must return `length` writable bytes: a
 * tunnel writing a UDP GSO run puts them side by side in one buffer); `emit` owns each. The
 * super-frame is released to packetPool at the end. A frame that is not IPv4/TCP, is a fragment,
 * is malformed, or whose payload ≤ gsoSize is emitted unchanged but for its GSO mark, cleared (returns 1).
 */
export function segmentTcp(
  frame: Buffer,
  gsoSize: number,
  emit: (segment: Buffer) => void,
  alloc: (length: number) => Buffer = allocUnzeroedWithHeadroom,
): number {
  checkGsoSize(gsoSize, 'segmentTcp');
  const ipStart = ETH_HEADER;
  if (frame.length < ipStart + 20 || frame.readUInt16BE(12) !== ETHERTYPE_IPV4) return emitWhole(frame, emit);
  const versionIhl = frame[ipStart] as number;
  const ipHeader = (versionIhl & 0x0f) * 4;
  const ipTotal = frame.readUInt16BE(ipStart + 2);
  const ipEnd = ipStart + ipTotal;
  if (
    versionIhl >>> 4 !== 4 ||
    ipHeader < 20 ||
    ipEnd > frame.length ||
    frame[ipStart + 9] !== PROTOCOL_TCP ||
    (frame.readUInt16BE(ipStart + 6) & IP_MF_OR_OFFSET) !== 0
  ) {
    return emitWhole(frame, emit);
  }
  const tcpStart = ipStart + ipHeader;
  if (tcpStart + 20 > ipEnd) return emitWhole(frame, emit);
  const tcpHeader = ((frame[tcpStart + 12] as number) >>> 4) * 4;
  const headersEnd = tcpStart + tcpHeader;
  if (tcpHeader < 20 || headersEnd > ipEnd) return emitWhole(frame, emit);
  const payload = ipEnd - headersEnd;
  if (payload <= gsoSize) return emitWhole(frame, emit);

  const src = frame.readUInt32BE(ipStart + 12);
  const dst = frame.readUInt32BE(ipStart + 16);
  const firstId = frame.readUInt16BE(ipStart + 4);
  const seq = frame.readUInt32BE(tcpStart + 4);
  const flags = frame[tcpStart + 13] as number;
  let count = 0;
  for (let offset = 0; offset < payload; offset += gsoSize) {
    const chunk = Math.min(gsoSize, payload - offset);
    const last = offset + chunk === payload;
    const length = headersEnd + chunk;
    const segment = alloc(length);
    frame.copy(segment, 0, 0, headersEnd);
    frame.copy(segment, headersEnd, headersEnd + offset, headersEnd + offset + chunk);
    // inet_gso_segment: tot_len, id (+1 per segment), then ip_send_check.
    segment.writeUInt16BE(length - ipStart, ipStart + 2);
    segment.writeUInt16BE((firstId + count) & 0xffff, ipStart + 4);
    if (ipHeader === 20) {
      segment.writeUInt16BE(ipv4HeaderChecksum(segment, ipStart), ipStart + 10);
    } else {
      segment.writeUInt16BE(0, ipStart + 10);
      segment.writeUInt16BE(internetChecksum(segment, ipStart, tcpStart), ipStart + 10);
    }
    // tcp_gso_segment: seq advances by the bytes before; CWR stays on the first segment only
    // (th->cwr = 0 after it), FIN and PSH only on the last (th->fin = th->psh = 0 on the rest).
    segment.writeUInt32BE((seq + offset) >>> 0, tcpStart + 4);
    let segmentFlags = flags;
    if (count > 0) segmentFlags &= ~TCP_CWR;
    if (!last) segmentFlags &= ~(TCP_FIN | TCP_PSH);
    segment[tcpStart + 13] = segmentFlags;
    segment.writeUInt16BE(0, tcpStart + 16);
    const tcpLength = length - tcpStart;
    segment.writeUInt16BE(internetChecksum(segment, tcpStart, length, pseudoHeaderSum(src, dst, PROTOCOL_TCP, tcpLength)), tcpStart + 16);
    count++;
    emit(segment);
  }
  packetPool.release(frame);
  return count;
}

// Every byte of a segment is written (headers, then payload): no zero-fill.
function allocUnzeroedWithHeadroom(length: number): Buffer {
  return allocFrameWithHeadroom(length, false);
}

/** A frame there is nothing to cut in goes on as an ordinary frame: its mark cleared, so no link tries again. */
function emitWhole(frame: Buffer, emit: (segment: Buffer) => void): number {
  gsoSizes.delete(frame);
  emit(frame);
  return 1;
}
