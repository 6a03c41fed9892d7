// Reassembly (RFC 815's hole-descriptor algorithm; Linux net/ipv4/ip_fragment.c for the limits).
// Fragments of one datagram are keyed by (src, dst, protocol, identification) (RFC 791 §3.2). A
// fragment that overlaps data already received, other than an exact duplicate, discards the whole
// datagram (Linux since 4.19, IPFRAG_OVERLAP; RFC 5722's reasoning). Limits: 30 s to complete
// (ipfrag_time), at most 64 fragments per datagram, at most 4 MiB held in all (ipfrag_high_thresh),
// and no datagram beyond 65535 bytes (the "ping of death"). On timeout the owner is told about the
// first fragment, if it arrived, so it can send ICMP time exceeded code 1 (RFC 792; ip_expire).
import { type Clock, ipv4HeaderSum, onesComplementSum, packetPool, readIpv4, type TimerHandle } from '@podnet/wire';
import { ETHERNET_HEADER } from '../links/link.js';
import { FLAG_MF, flagsOffset, headerLength, OFFSET_MASK, totalLength } from './header.js';

export const REASSEMBLY_TIMEOUT_MS = 30_000;
export const MAX_FRAGMENTS = 64;
export const MAX_HELD_BYTES = 4 * 1024 * 1024;

interface Hole {
  first: number;
  last: number;
}
interface Piece {
  offset: number;
  data: Buffer;
}
interface Pending {
  key: string;
  holes: Hole[];
  pieces: Piece[];
  /** Header of the fragment at offset 0, once it arrived. */
  firstHeader: Buffer | undefined;
  /** The first fragment's bytes (header + up to 8 data bytes... kept whole for the ICMP quote). */
  firstFragment: Buffer | undefined;
  bytes: number;
  /** The data length, once the last fragment (MF clear) arrived. */
  end: number | undefined;
  timer: TimerHandle;
}

export type ReassemblyDrop = 'frag-overlap' | 'frag-too-big' | 'frag-too-many' | 'frag-memory' | 'frag-timeout';

export interface ReassemblyEvents {
  drop(reason: ReassemblyDrop): void;
  /** The datagram timed out; `firstFragment` (an IPv4 packet from offset 0) when its first fragment had arrived. */
  timeout(firstFragment: Buffer | undefined): void;
}

export class Reassembler {
  readonly #pending = new Map<string, Pending>();
  readonly #clock: Clock;
  readonly #events: ReassemblyEvents;
  #held = 0;

  constructor(clock: Clock, events: ReassemblyEvents) {
    this.#clock = clock;
    this.#events = events;
  }

  get heldBytes(): number {
    return this.#held;
  }
  get pendingDatagrams(): number {
    return this.#pending.size;
  }

  /**
   * Adds the fragment at buf[l3]; returns a new frame holding the whole datagram at offset 14 when
   * it is complete, else undefined. Never keeps `buf` (its bytes are copied).
   */
  add(buf: Buffer, l3: number): Buffer | undefined {
    const h = headerLength(buf, l3);
    const total = totalLength(buf, l3);
    const ff = flagsOffset(buf, l3);
    const offset = (ff & OFFSET_MASK) * 8;
    const more = (ff & FLAG_MF) !== 0;
    const len = total - h;
    const key = `${readIpv4(buf, l3 + 12)}|${readIpv4(buf, l3 + 16)}|${buf[l3 + 9]}|${buf.readUInt16BE(l3 + 4)}`;
    let p = this.#pending.get(key);
    if (offset + len + h > 0xffff) {
      this.#discard(p);
      this.#events.drop('frag-too-big');
      return undefined;
    }
    // RFC 791: every fragment but the last carries a multiple of 8 data bytes.
    if (more && len % 8 !== 0) {
      this.#events.drop('frag-overlap');
      return undefined;
    }
    if (p === undefined) {
      if (this.#held + len > MAX_HELD_BYTES) {
        this.#events.drop('frag-memory');
        return undefined;
      }
      const timer = this.#clock.setTimeout(() => this.#expire(key), REASSEMBLY_TIMEOUT_MS);
      p = {
        key,
        holes: [{ first: 0, last: Number.POSITIVE_INFINITY }],
        pieces: [],
        firstHeader: undefined,
        firstFragment: undefined,
        bytes: 0,
        end: undefined,
        timer,
      };
      this.#pending.set(key, p);
    }
    if (len === 0 && more) return undefined;
    const first = offset;
    const last = offset + len - 1;
    const holeIndex = p.holes.findIndex((hole) => first >= hole.first && last <= hole.last);
    // Data beyond the end the last fragment fixed, or a second, different end: not one datagram.
    if (p.end !== undefined && (last >= p.end || (!more && last !== p.end - 1))) {
      this.#discard(p);
      this.#events.drop('frag-overlap');
      return undefined;
    }
    if (holeIndex < 0) {
      const covered = len > 0 && !p.holes.some((hole) => first <= hole.last && last >= hole.first);
      if (covered || len === 0) return undefined; // an exact (or contained) duplicate: ignored
      this.#discard(p);
      this.#events.drop('frag-overlap');
      return undefined;
    }
    if (p.pieces.length >= MAX_FRAGMENTS) {
      this.#discard(p);
      this.#events.drop('frag-too-many');
      return undefined;
    }
    if (this.#held + len > MAX_HELD_BYTES) {
      this.#discard(p);
      this.#events.drop('frag-memory');
      return undefined;
    }
    // RFC 815 steps 4-6: replace the hole by what is left of it on either side.
    const hole = p.holes[holeIndex] as Hole;
    const replacement: Hole[] = [];
    if (first > hole.first) replacement.push({ first: hole.first, last: first - 1 });
    if (last < hole.last && more) replacement.push({ first: last + 1, last: hole.last });
    p.holes.splice(holeIndex, 1, ...replacement);
    if (!more) {
      // The last fragment fixes the length: no hole may reach beyond it.
      const end = last;
      p.end = last + 1;
      if (p.holes.some((x) => x.first > end)) {
        p.holes = p.holes.filter((x) => x.first <= end).map((x) => ({ first: x.first, last: Math.min(x.last, end) }));
      }
      if (p.pieces.some((x) => x.offset + x.data.length - 1 > end)) {
        this.#discard(p);
        this.#events.drop('frag-overlap');
        return undefined;
      }
    }
    p.pieces.push({ offset, data: Buffer.from(buf.subarray(l3 + h, l3 + total)) });
    p.bytes += len;
    this.#held += len;
    if (offset === 0) {
      p.firstHeader = Buffer.from(buf.subarray(l3, l3 + h));
      p.firstFragment = Buffer.from(buf.subarray(l3, l3 + total));
    }
    if (p.holes.length > 0 || p.firstHeader === undefined) return undefined;
    return this.#assemble(p);
  }

  #assemble(p: Pending): Buffer {
    const header = p.firstHeader as Buffer;
    const h = header.length;
    let dataLength = 0;
    for (const piece of p.pieces) dataLength = Math.max(dataLength, piece.offset + piece.data.length);
    const frame = packetPool.alloc(ETHERNET_HEADER + h + dataLength);
    const at = ETHERNET_HEADER;
    header.copy(frame, at);
    for (const piece of p.pieces) piece.data.copy(frame, at + h + piece.offset);
    frame.writeUInt16BE(h + dataLength, at + 2);
    frame.writeUInt16BE(frame.readUInt16BE(at + 6) & 0xc000, at + 6);
    frame.writeUInt16BE(0, at + 10);
    const sum = h === 20 ? ipv4HeaderSum(frame, at) : onesComplementSum(frame, at, at + h);
    frame.writeUInt16BE(~sum & 0xffff, at + 10);
    this.#remove(p);
    return frame;
  }

  #expire(key: string): void {
    const p = this.#pending.get(key);
    if (p === undefined) return;
    this.#remove(p);
    this.#events.drop('frag-timeout');
    this.#events.timeout(p.firstFragment);
  }

  #discard(p: Pending | undefined): void {
    if (p) this.#remove(p);
  }

  #remove(p: Pending): void {
    this.#clock.clearTimeout(p.timer);
    this.#held -= p.bytes;
    this.#pending.delete(p.key);
  }

  close(): void {
    for (const p of [...this.#pending.values()]) this.#remove(p);
  }
}
