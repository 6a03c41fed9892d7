// The TCP RST a REJECT --reject-with tcp-reset sends (RFC 9293 §3.10.7.1 and "Reset Generation"
// in §3.5.2; Linux nf_reject_ipv4.c, nf_reject_ip_tcphdr_put): from the offending segment's
// destination to its source, ports swapped; if the segment had ACK, seq = its ack number and only
// RST is set; otherwise seq = 0, ack = its seq + its length (SYN and FIN count one each), RST|ACK.
// No RST answers a RST.
import { type Ipv4Address, onesComplementSum, pseudoHeaderSum } from '@podnet/wire';

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

/** The RST segment (20-byte header, checksum set), or undefined when none is due (a RST, or a truncated segment). */
export function buildTcpReset(segment: Buffer, src: Ipv4Address, dst: Ipv4Address): Buffer | undefined {
  if (segment.length < 20) return undefined;
  const dataOffset = ((segment[12] as number) >>> 4) * 4;
  if (dataOffset < 20 || dataOffset > segment.length) return undefined;
  const flags = segment[13] as number;
  if (flags & RST) return undefined;
  const out = Buffer.alloc(20);
  out.writeUInt16BE(segment.readUInt16BE(2), 0);
  out.writeUInt16BE(segment.readUInt16BE(0), 2);
  if (flags & ACK) {
    out.writeUInt32BE(segment.readUInt32BE(8), 4);
    out.writeUInt32BE(0, 8);
    out[13] = RST;
  } else {
    const length = segment.length - dataOffset + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0);
    out.writeUInt32BE(0, 4);
    out.writeUInt32BE((segment.readUInt32BE(4) + length) >>> 0, 8);
    out[13] = RST | ACK;
  }
  out[12] = 5 << 4;
  out.writeUInt16BE(0, 14);
  out.writeUInt16BE(0, 16);
  out.writeUInt16BE(0, 18);
  // The RST goes from the offending segment's destination (src here) to its source (dst here).
  const sum = onesComplementSum(out, 0, 20, pseudoHeaderSum(src, dst, 6, 20));
  out.writeUInt16BE(~sum & 0xffff, 16);
  return out;
}
