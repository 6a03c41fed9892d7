// The Internet checksum (RFC 1071) used by IPv4, ICMP, UDP and TCP, and its incremental
// update (RFC 1624), which NAT uses to rewrite an address or port without re-summing.

import { FRAME_ADDRESS, type MaybePoolFrame, SCRATCH_BYTES, MAX_LENGTH as SIMD_MAX_LENGTH, simdSum } from './checksum-simd.js';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Below this many bytes the plain byte loop is faster than setting up a word view. */
const WORD_LOOP_MIN = 64;
const wordViews = new WeakMap<ArrayBufferLike, Int32Array>();

let lastBuffer: ArrayBufferLike | undefined;
let lastView: Int32Array | undefined;

function wordView(buffer: ArrayBufferLike): Int32Array {
  // Frames of one flow share a pool slab: a one-entry cache saves the WeakMap lookup.
  if (buffer === lastBuffer) return lastView as Int32Array;
  let view = wordViews.get(buffer);
  if (view === undefined) {
    view = new Int32Array(buffer, 0, Math.floor(buffer.byteLength / 4));
    wordViews.set(buffer, view);
  }
  lastBuffer = buffer;
  lastView = view;
  return view;
}

/**
 * One's-complement sum of the 16-bit big-endian words of buf[start, end), added to `initial`.
 * An odd trailing byte is padded with zero on the right (RFC 1071 §4.1). The result is folded
 * to 16 bits but not complemented, so partial sums can be chained (pseudo-header + segment).
 *
 * The data plane sums every payload twice (verify on receive, compute on send), so long
 * ranges are read 32 bits at a time through an Int32Array over the whole ArrayBuffer, each
 * word split into its two native 16-bit halves (small integers: no per-byte shifts, no heap
 * numbers; measured about twice as fast as the byte loop here). That is sound because the
 * one's-complement sum is independent of byte order (RFC 1071 §2(B)): a little-endian half
 * b0 + 256·b1 at an even address sums, over the range, to E + 256·O for the bytes at even (E)
 * and odd (O) absolute addresses, and the big-endian sum relative to `start` is that value
 * when `start` is odd, or that value times 256 (a byte swap) when it is even.
 */
export function onesComplementSum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  const length = end - start;
  if (length < WORD_LOOP_MIN || !LITTLE_ENDIAN_HOST) return fold(byteSum(buf, start, end) + initial);
  if (simdSum !== undefined && length <= SIMD_MAX_LENGTH) {
    // A packet-pool frame lies in the kernel's memory and knows where: summed in place, with no
    // copy and no buffer/byteOffset lookups, from WORD_LOOP_MIN bytes on.
    const address = (buf as MaybePoolFrame)[FRAME_ADDRESS];
    if (address !== undefined && address >= 0) return swapAndAdd(simdSum.sum(address + start, length), initial);
    if (length >= SIMD_MIN_LENGTH) return simdOnesComplementSum(buf, start, end, initial);
  }
  const base = buf.byteOffset;
  const absStart = base + start;
  const absEnd = base + end;
  const firstWord = (absStart + 3) >>> 2;
  const lastWord = absEnd >>> 2;
  // Sum in absolute-parity form: a byte at an even address counts 1, at an odd address 256.
  let sum = 0;
  for (let a = absStart; a < firstWord * 4; a++) sum += (buf[a - base] as number) * (a & 1 ? 256 : 1);
  const words = wordView(buf.buffer);
  let w = firstWord;
  while (w < lastWord) {
    // Partial sums stay below 2^31: at most 2 × 0xffff per word, folded every 8192 words.
    const stop = Math.min(lastWord, w + 8192);
    let lo = 0;
    let hi = 0;
    for (; w + 3 < stop; w += 4) {
      const v0 = words[w] as number;
      const v1 = words[w + 1] as number;
      const v2 = words[w + 2] as number;
      const v3 = words[w + 3] as number;
      lo += (v0 & 0xffff) + (v1 & 0xffff) + (v2 & 0xffff) + (v3 & 0xffff);
      hi += (v0 >>> 16) + (v1 >>> 16) + (v2 >>> 16) + (v3 >>> 16);
    }
    for (; w < stop; w++) {
      const v = words[w] as number;
      lo += v & 0xffff;
      hi += v >>> 16;
    }
    sum += fold(lo + hi);
  }
  for (let a = lastWord * 4; a < absEnd; a++) sum += (buf[a - base] as number) * (a & 1 ? 256 : 1);
  let folded = fold(sum);
  if ((absStart & 1) === 0) folded = ((folded & 0xff) << 8) | (folded >>> 8);
  return fold(folded + initial);
}

/** Bytes outside the range that may be copied along with it rather than making a subarray. */
const WHOLE_COPY_SLACK = 128;

/** From this many bytes on, copying into WebAssembly memory and summing 32 bytes a step wins. */
const SIMD_MIN_LENGTH = 256;

/**
 * The same sum through the WebAssembly SIMD kernel (checksum-simd.ts), which pairs bytes from
 * the range's first byte on: its little-endian word sum is E + 256·O for the bytes at even (E)
 * and odd (O) offsets relative to `start`, so the big-endian sum is that value byte-swapped
 * (RFC 1071 §2(B)), whatever the range's absolute alignment. A frame from the packet pool
 * already lies in the kernel's memory and is summed in place; other bytes are copied to the
 * scratch page at address 0 first.
 */
function simdOnesComplementSum(buf: Uint8Array, start: number, end: number, initial: number): number {
  const kernel = simdSum as NonNullable<typeof simdSum>;
  let at = 0;
  if (buf.buffer === kernel.memory.buffer) at = buf.byteOffset + start;
  else if (buf.length - (end - start) <= WHOLE_COPY_SLACK && buf.length <= SCRATCH_BYTES) {
    // Most callers sum (nearly) all of a Buffer (a segment, a datagram): copying all of it with
    // TypedArray#set skips the subarray object and Buffer#copy's argument checks (about 67 ns
    // for 1,416 bytes here, against 47 ns), and the range then starts at `start`.
    kernel.memory.set(buf, 0);
    at = start;
  } else kernel.memory.set(buf.subarray(start, end), 0);
  return swapAndAdd(kernel.sum(at, end - start), initial);
}

/** The kernel's folded little-endian sum as the big-endian sum (a byte swap), plus `initial`. */
function swapAndAdd(sum: number, initial: number): number {
  return fold((((sum & 0xff) << 8) | (sum >>> 8)) + initial);
}

/** The kernel's memory as native 16-bit words, for headers of packet-pool frames (little-endian hosts). */
const kernelWords = simdSum !== undefined && LITTLE_ENDIAN_HOST ? new Uint16Array(simdSum.memory.buffer) : undefined;

/**
 * The sum of a 20-byte IPv4 header without options, unrolled: routers and NAT touch this
 * header on every packet, so it gets a straight-line version of the loop below. A header of a
 * packet-pool frame at an even address is read as ten native 16-bit words from the kernel's
 * memory and byte-swapped once (RFC 1071 §2(B)); otherwise the bytes at even offsets are the
 * high bytes of the words: ten and ten byte loads, one multiply. Both sums stay below 2^20,
 * so two end-around carries fold them (≤ 0xffff + 0xf, then ≤ 0xffff).
 */
export function ipv4HeaderSum(buf: Uint8Array, at: number): number {
  return header20Sum(buf, at, false);
}

/**
 * The header checksum field value for the 20-byte IPv4 header at buf[at], as computed with the
 * field zero (RFC 791 §3.1), without writing the zero first: the plain sum minus the field's
 * word is exactly the sum with the field zero. Zeroing it with byte stores and then reading it
 * back as a 16-bit word would also stall store-to-load forwarding.
 */
export function ipv4HeaderChecksum(buf: Uint8Array, at: number): number {
  return ~header20Sum(buf, at, true) & 0xffff;
}

/** IPv4 header checksum field: bytes 10-11 of the header (RFC 791 §3.1). */
const IPV4_CHECKSUM_WORD = 5;

function header20Sum(buf: Uint8Array, at: number, withoutChecksum: boolean): number {
  const address = (buf as MaybePoolFrame)[FRAME_ADDRESS];
  if (kernelWords !== undefined && address !== undefined && address >= 0 && ((address + at) & 1) === 0) {
    const w = kernelWords;
    const i = (address + at) >>> 1;
    let plain =
      (w[i] as number) +
      (w[i + 1] as number) +
      (w[i + 2] as number) +
      (w[i + 3] as number) +
      (w[i + 4] as number) +
      (w[i + 5] as number) +
      (w[i + 6] as number) +
      (w[i + 7] as number) +
      (w[i + 8] as number) +
      (w[i + 9] as number);
    if (withoutChecksum) plain -= w[i + IPV4_CHECKSUM_WORD] as number;
    const native = fold2(plain);
    return ((native & 0xff) << 8) | (native >>> 8);
  }
  let plain = headerBytesSum(buf, at);
  const c = at + 2 * IPV4_CHECKSUM_WORD;
  if (withoutChecksum) plain -= ((buf[c] as number) << 8) | (buf[c + 1] as number);
  return fold2(plain);
}

/**
 * The big-endian word sum of buf[at, at + 20) from byte loads: the bytes at even offsets are the
 * high bytes. Written out rather than through a helper closure, which would capture buf and at
 * and so allocate a context on every call, even on the pool path.
 */
function headerBytesSum(buf: Uint8Array, at: number): number {
  const high =
    (buf[at] as number) +
    (buf[at + 2] as number) +
    (buf[at + 4] as number) +
    (buf[at + 6] as number) +
    (buf[at + 8] as number) +
    (buf[at + 10] as number) +
    (buf[at + 12] as number) +
    (buf[at + 14] as number) +
    (buf[at + 16] as number) +
    (buf[at + 18] as number);
  const low =
    (buf[at + 1] as number) +
    (buf[at + 3] as number) +
    (buf[at + 5] as number) +
    (buf[at + 7] as number) +
    (buf[at + 9] as number) +
    (buf[at + 11] as number) +
    (buf[at + 13] as number) +
    (buf[at + 15] as number) +
    (buf[at + 17] as number) +
    (buf[at + 19] as number);
  return high * 256 + low;
}

/** Two end-around carries: enough for any sum below 2^20. */
function fold2(sum: number): number {
  const s = (sum & 0xffff) + (sum >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** The plain RFC 1071 loop over big-endian 16-bit words, unfolded. */
function byteSum(buf: Uint8Array, start: number, end: number): number {
  let sum = 0;
  let i = start;
  const last = end - 1;
  for (; i < last; i += 2) sum += ((buf[i] as number) << 8) | (buf[i + 1] as number);
  if (i === last) sum += (buf[i] as number) << 8;
  return sum;
}

/** Folds carries into the low 16 bits (end-around carry). */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value for buf[start, end): the complement of the folded sum. */
export function internetChecksum(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  return ~onesComplementSum(buf, start, end, initial) & 0xffff;
}

/**
 * Sum of the IPv4 pseudo-header used by TCP and UDP (RFC 9293 §3.1, RFC 768):
 * source address, destination address, zero, protocol, and the TCP/UDP length.
 */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return fold((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length);
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word m changed to m'.
 * Returns the new checksum field value.
 */
export function updateChecksum16(checksum: number, oldWord: number, newWord: number): number {
  const sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(sum) & 0xffff;
}

/** RFC 1624 update for a 32-bit value (an IPv4 address) changed from old to new. */
export function updateChecksum32(checksum: number, oldValue: number, newValue: number): number {
  const c = updateChecksum16(checksum, oldValue >>> 16, newValue >>> 16);
  return updateChecksum16(c, oldValue & 0xffff, newValue & 0xffff);
}
