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
