// The shape every wire codec has (DESIGN §6.1): a plain Repr object, and
//   encode(repr, buf?, offset?) → buf   (writes encodingLength(repr) bytes at offset)
//   decode(buf, offset?, end?)  → repr  (throws DecodeError on malformed input)
//   encodingLength(repr)        → number
// Each codec module exports `codec = { name, decode, encode, encodingLength } satisfies Codec<R>`.

export interface Codec<R> {
  /** Protocol name as used in errors and printed output ("ipv4", "tcp", ...). */
  readonly name: string;
  decode(buf: Buffer, offset?: number, end?: number): R;
  encode(repr: R, buf?: Buffer, offset?: number): Buffer;
  encodingLength(repr: R): number;
}

/** Allocates the output buffer when the caller gave none, and checks room when it did. */
export function outputBuffer(protocol: string, need: number, buf: Buffer | undefined, offset: number): Buffer {
  if (buf === undefined) return Buffer.alloc(offset + need);
  if (offset < 0 || offset + need > buf.length) {
    throw new RangeError(`${protocol}: encode needs ${need} bytes at offset ${offset}, buffer has ${buf.length}`);
  }
  return buf;
}

/**
 * Copies a layer's payload after its header, unless it is already there: encoding a stack
 * innermost-first into one buffer leaves each payload in place, and re-copying it for every
 * layer would cost more than all the headers together.
 */
export function writePayload(payload: Uint8Array, out: Buffer, at: number): void {
  if (payload.length === 0) return;
  if (payload.buffer === out.buffer && payload.byteOffset === out.byteOffset + at) return;
  // Buffer#copy (memmove, overlap-safe) is about twice as fast as TypedArray#set for a frame.
  if (Buffer.isBuffer(payload)) payload.copy(out, at);
  else out.set(payload, at);
}
