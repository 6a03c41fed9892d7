// Fragmentation (RFC 791 §3.2, "An Example Fragmentation Procedure"; Linux ip_do_fragment): the
// data is cut into pieces whose length is a multiple of 8 (except the last), each behind a copy of
// the header. Options are copied into every fragment only when their copied flag is set; the
// first fragment keeps them all.
import { ipv4HeaderSum, packetPool } from '@podnet/wire';
import { ETHERNET_HEADER } from '../links/link.js';
import { FLAG_MF, flagsOffset, headerLength, OFFSET_MASK, totalLength } from './header.js';

/** The options a non-first fragment carries: only those with the copied bit (RFC 791 §3.1), padded to 4. */
function copiedOptions(buf: Buffer, start: number, end: number): Buffer {
  const out: number[] = [];
  let at = start;
  while (at < end) {
    const type = buf[at] as number;
    if (type === 0) break; // end of option list
    if (type === 1) {
      at++;
      continue;
    }
    const len = at + 1 < end ? (buf[at + 1] as number) : 0;
    if (len < 2 || at + len > end) break;
    if (type & 0x80) for (let i = 0; i < len; i++) out.push(buf[at + i] as number);
    at += len;
  }
  while (out.length % 4 !== 0) out.push(0);
  return Buffer.from(out);
}

/**
 * Cuts the datagram at buf[l3] into frames (each with room for an Ethernet header before the IP
 * header) of at most `mtu` bytes of IPv4. Returns undefined when the MTU leaves no room for 8 data bytes.
 */
export function fragmentDatagram(buf: Buffer, l3: number, mtu: number): Buffer[] | undefined {
  const h = headerLength(buf, l3);
  const total = totalLength(buf, l3);
  const ff = flagsOffset(buf, l3);
  const baseOffset = (ff & OFFSET_MASK) * 8;
  const originalMf = (ff & FLAG_MF) !== 0;
  const dfBits = ff & 0x4000 ? 0x4000 : 0;
  const reserved = ff & 0x8000;
  const laterOptions = h > 20 ? copiedOptions(buf, l3 + 20, l3 + h) : Buffer.alloc(0);
  const data = total - h;
  const frames: Buffer[] = [];
  let done = 0;
  while (done < data) {
    const first = done === 0;
    const hl = first ? h : 20 + laterOptions.length;
    const room = Math.floor((mtu - hl) / 8) * 8;
    if (room < 8) {
      for (const f of frames) packetPool.release(f);
      return undefined;
    }
    const take = Math.min(room, data - done);
    const last = done + take >= data;
    const frame = packetPool.alloc(ETHERNET_HEADER + hl + take);
    const at = ETHERNET_HEADER;
    if (first) buf.copy(frame, at, l3, l3 + h);
    else {
      buf.copy(frame, at, l3, l3 + 20);
      laterOptions.copy(frame, at + 20);
      frame[at] = 0x40 | (hl / 4);
    }
    buf.copy(frame, at + hl, l3 + h + done, l3 + h + done + take);
    frame.writeUInt16BE(hl + take, at + 2);
    const mf = !last || originalMf ? FLAG_MF : 0;
    frame.writeUInt16BE(reserved | dfBits | mf | ((baseOffset + done) / 8), at + 6);
    frame.writeUInt16BE(0, at + 10);
    const sum = hl === 20 ? ipv4HeaderSum(frame, at) : ones(frame, at, at + hl);
    frame.writeUInt16BE(~sum & 0xffff, at + 10);
    frames.push(frame);
    done += take;
  }
  return frames;
}

function ones(buf: Buffer, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += buf.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
