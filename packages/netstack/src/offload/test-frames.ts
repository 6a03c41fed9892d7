// Ethernet + IPv4 + TCP frames built byte by byte for the offload tests (RFC 791 §3.1, RFC 9293
// §3.1), with valid checksums: what segmentTcp cuts and TcpGro merges.
import { internetChecksum, packetPool, parseIpv4, pseudoHeaderSum, tcp } from '@podnet/wire';

export const SRC = parseIpv4('10.244.1.2');
export const DST = parseIpv4('10.244.2.5');

export interface TcpFrameSpec {
  payload: Buffer;
  seq: number;
  flags?: number;
  ack?: number;
  window?: number;
  ttl?: number;
  tos?: number;
  /** DF (default set); `fragment` overrides the whole flags/offset word. */
  df?: boolean;
  fragment?: number;
  id?: number;
  srcPort?: number;
  src?: number;
  protocol?: number;
  tcpOptions?: Buffer;
  ipOptions?: Buffer;
  /** In a packetPool slot when it fits (as frames off a link are), else ordinary memory. */
  pool?: boolean;
}

export function tcpFrame(s: TcpFrameSpec): Buffer {
  const ipOpt = s.ipOptions ?? Buffer.alloc(0);
  const tcpOpt = s.tcpOptions ?? Buffer.alloc(0);
  const ipHeader = 20 + ipOpt.length;
  const tcpHeader = 20 + tcpOpt.length;
  const total = ipHeader + tcpHeader + s.payload.length;
  const src = s.src ?? SRC;
  const f = s.pool ? packetPool.alloc(14 + total) : Buffer.alloc(14 + total);
  Buffer.from('0e00000000020e0000000001', 'hex').copy(f, 0);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x40 | (ipHeader / 4);
  f[15] = s.tos ?? 0;
  f.writeUInt16BE(total, 16);
  f.writeUInt16BE(s.id ?? 100, 18);
  f.writeUInt16BE(s.fragment ?? (s.df === false ? 0 : 0x4000), 20);
  f[22] = s.ttl ?? 64;
  f[23] = s.protocol ?? 6;
  f.writeUInt32BE(src, 26);
  f.writeUInt32BE(DST, 30);
  ipOpt.copy(f, 34);
  f.writeUInt16BE(internetChecksum(f, 14, 14 + ipHeader), 24);
  const t = 14 + ipHeader;
  f.writeUInt16BE(s.srcPort ?? 40000, t);
  f.writeUInt16BE(80, t + 2);
  f.writeUInt32BE(s.seq >>> 0, t + 4);
  f.writeUInt32BE(s.ack ?? 777, t + 8);
  f[t + 12] = (tcpHeader / 4) << 4;
  f[t + 13] = s.flags ?? tcp.TcpFlags.ACK;
  f.writeUInt16BE(s.window ?? 1000, t + 14);
  tcpOpt.copy(f, t + 20);
  s.payload.copy(f, t + tcpHeader);
  f.writeUInt16BE(internetChecksum(f, t, f.length, pseudoHeaderSum(src, DST, 6, total - ipHeader)), t + 16);
  return f;
}
