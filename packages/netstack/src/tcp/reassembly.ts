// Out-of-order segments held until the hole before them is filled (RFC 9293 §3.10.7.4, "seventh,
// process the segment text"; RFC 5681 §4.2 asks for an immediate duplicate ACK for each). Kept
// sorted by sequence number; overlaps are trimmed when the data is delivered, so a retransmitted
// segment that overlaps a held one costs nothing extra.
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from './seq.js';

interface Held {
  seq: number;
  data: Buffer;
  fin: boolean;
}

export class ReassemblyQueue {
  #held: Held[] = [];
  #bytes = 0;
  /** Where the most recent segment began: its block goes first in a SACK option (RFC 2018 §4). */
  #latest = 0;

  /** Bytes held (counted against the receive buffer). */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#held.length;
  }

  /** Keeps a copy of data (the caller's buffer is only valid during the receive call). */
  insert(seq: number, data: Buffer, fin: boolean): void {
    const end = seqAdd(seq, data.length);
    this.#latest = seq;
    let i = this.#held.length;
    while (i > 0 && seqGt((this.#held[i - 1] as Held).seq, seq)) i--;
    // Already fully held by the previous entry: nothing new (a duplicate from a retransmission).
    const prev = this.#held[i - 1];
    if (prev && seqLe(end, seqAdd(prev.seq, prev.data.length)) && !fin) return;
    const same = this.#held[i];
    if (same && same.seq === seq && same.data.length >= data.length && (same.fin || !fin)) return;
    this.#held.splice(i, 0, { seq, data: Buffer.from(data), fin });
    this.#bytes += data.length;
  }

  /**
   * Takes what now follows rcvNxt in order: calls deliver for each new piece of data and
   * returns the new rcvNxt and whether an in-order FIN was reached.
   */
  drain(rcvNxt: number, deliver: (data: Buffer) => void): { rcvNxt: number; fin: boolean } {
    let next = rcvNxt;
    let fin = false;
    while (this.#held.length > 0) {
      const h = this.#held[0] as Held;
      if (seqGt(h.seq, next)) break;
      this.#held.shift();
      this.#bytes -= h.data.length;
      const skip = seqDiff(next, h.seq);
      if (skip < h.data.length) {
        const piece = skip > 0 ? h.data.subarray(skip) : h.data;
        deliver(piece);
        next = seqAdd(next, piece.length);
      }
      if (h.fin && seqLe(seqAdd(h.seq, h.data.length), next)) {
        fin = true;
        break;
      }
    }
    return { rcvNxt: next, fin };
  }

  /**
   * The held data as SACK blocks [left, right) flattened (RFC 2018 §3-4): contiguous pieces
   * merged, the block holding the latest arrival first, then the others in order, at most max.
   */
  sackBlocks(max: number): number[] {
    const merged: number[] = [];
    for (const h of this.#held) {
      const left = h.seq;
      const right = seqAdd(h.seq, h.data.length);
      const n = merged.length;
      if (n > 0 && seqLe(left, merged[n - 1] as number)) {
        if (seqGt(right, merged[n - 1] as number)) merged[n - 1] = right;
      } else if (right !== left) {
        merged.push(left, right);
      }
    }
    const out: number[] = [];
    for (let i = 0; i < merged.length; i += 2) {
      const l = merged[i] as number;
      const r = merged[i + 1] as number;
      if (seqLe(l, this.#latest) && seqLt(this.#latest, r)) out.push(l, r);
    }
    for (let i = 0; i < merged.length && out.length < 2 * max; i += 2) {
      const l = merged[i] as number;
      if (out[0] !== l) out.push(l, merged[i + 1] as number);
    }
    return out.slice(0, 2 * max);
  }

  /** The highest sequence number held (the right edge of the last block), for diagnostics. */
  highest(): number | undefined {
    let top: number | undefined;
    for (const h of this.#held) {
      const e = seqAdd(h.seq, h.data.length);
      if (top === undefined || seqLt(top, e)) top = e;
    }
    return top;
  }

  clear(): void {
    this.#held = [];
    this.#bytes = 0;
  }
}
