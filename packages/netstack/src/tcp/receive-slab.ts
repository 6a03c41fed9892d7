// Where received payload is copied before the application gets it. The frame a segment arrived in
// goes back to the packet pool (or is the link's own datagram buffer), so the data must be copied
// once; Buffer.from() would take each copy from Node's 8 KiB pool, a new ArrayBuffer every five
// full-sized segments, and at hundreds of thousands of segments a second those allocations (and
// the garbage collection they bring) cost more than the rest of the receive path. Instead the
// payloads of consecutive segments are laid one after another in a 64 KiB slab, as Node's own
// net.Socket reads up to 64 KiB into one buffer and hands out slices of it (stream_base_commons).

/** Slab size: what Node's net.Socket reads at once (kReadBytesOrError, 64 KiB). */
export const RECEIVE_SLAB_BYTES = 64 * 1024;

export class ReceiveSlab {
  #slab: Buffer = Buffer.allocUnsafeSlow(0);
  #used = 0;

  /** A copy of `source[start, end)` that the caller may keep: it shares no bytes with any other copy. */
  copy(source: Buffer, start: number, end: number): Buffer {
    const length = end - start;
    if (length > RECEIVE_SLAB_BYTES >>> 2) {
      // Large pieces (reassembled or jumbo) get their own buffer rather than wasting a slab's tail.
      const own = Buffer.allocUnsafeSlow(length);
      source.copy(own, 0, start, end);
      return own;
    }
    if (this.#slab.length - this.#used < length) {
      this.#slab = Buffer.allocUnsafeSlow(RECEIVE_SLAB_BYTES);
      this.#used = 0;
    }
    const at = this.#used;
    source.copy(this.#slab, at, start, end);
    this.#used = at + length;
    return this.#slab.subarray(at, at + length);
  }
}
