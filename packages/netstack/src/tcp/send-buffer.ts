// The bytes a connection has accepted from the application and not yet had acknowledged:
// everything from SND.UNA on (RFC 9293 §3.3.1). Kept as the list of the caller's own chunks
// (no copy on write) with a read offset into the first; a segment copies its slice straight
// into the outgoing frame, and an ACK drops whole chunks from the front.

export class SendBuffer {
  #chunks: Buffer[] = [];
  /** Bytes of chunks[0] already acknowledged. */
  #head = 0;
  #length = 0;
  // A cursor for sequential copyOut calls (segments go out in order): the chunk index and the
  // buffer offset at which that chunk starts.
  #cursorIndex = 0;
  #cursorStart = 0;

  /** Unacknowledged bytes held (in flight and not yet sent). */
  get length(): number {
    return this.#length;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** Copies `length` bytes starting `offset` bytes after SND.UNA into target at `at`. */
  copyOut(offset: number, length: number, target: Buffer, at: number): void {
    if (offset < 0 || offset + length > this.#length) {
      throw new RangeError(`send buffer holds ${this.#length} bytes; cannot copy [${offset}, ${offset + length})`);
    }
    let index: number;
    let chunkStart: number; // buffer offset (relative to SND.UNA) of chunks[index][head or 0]
    if (this.#cursorStart <= offset && this.#cursorIndex < this.#chunks.length) {
      index = this.#cursorIndex;
      chunkStart = this.#cursorStart;
    } else {
      index = 0;
      chunkStart = 0;
    }
    let remaining = length;
    let pos = offset;
    let out = at;
    while (remaining > 0) {
      const chunk = this.#chunks[index] as Buffer;
      const begin = index === 0 ? this.#head : 0;
      const usable = chunk.length - begin;
      if (pos >= chunkStart + usable) {
        chunkStart += usable;
        index++;
        continue;
      }
      const from = begin + (pos - chunkStart);
      const n = Math.min(remaining, chunk.length - from);
      chunk.copy(target, out, from, from + n);
      out += n;
      pos += n;
      remaining -= n;
      if (from + n === chunk.length) {
        chunkStart += usable;
        index++;
      }
    }
    this.#cursorIndex = index;
    this.#cursorStart = chunkStart;
  }

  /** Drops n acknowledged bytes from the front. */
  consume(n: number): void {
    let left = Math.min(n, this.#length);
    this.#length -= left;
    while (left > 0) {
      const chunk = this.#chunks[0] as Buffer;
      const avail = chunk.length - this.#head;
      if (left < avail) {
        this.#head += left;
        left = 0;
      } else {
        left -= avail;
        this.#chunks.shift();
        this.#head = 0;
      }
    }
    this.#cursorIndex = 0;
    this.#cursorStart = 0;
  }

  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#length = 0;
    this.#cursorIndex = 0;
    this.#cursorStart = 0;
  }
}
