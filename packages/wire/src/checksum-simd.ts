// A WebAssembly SIMD kernel for the Internet checksum's long sums. JavaScript reads memory at
// best 4 bytes per step (about 0.25 ns/byte here); WebAssembly's 128-bit lanes sum 64 bytes per
// step, several times faster even after copying the bytes into the module's memory.
//
// The module is assembled below from its instructions (WebAssembly core spec §5, binary format;
// SIMD opcodes from the fixed-width SIMD proposal's BinarySIMD.md). In text form:
//
//   (module
//     (memory (export "memory") 65 65)   ;; the scratch page and the packet pool (below)
//     (func (export "sum") (param $ptr i32) (param $len i32) (result i32)
//       (local $acc v128) (local $acc2 v128) (local $bias v128) (local $ones v128) (local $end i32) (local $s i32)
//       (local.set $bias (v128.const i16x8 0x8000 ...)) (local.set $ones (v128.const i16x8 1 ...))
//       ;; 64 bytes a step into two accumulators, so consecutive adds do not wait on each other.
//       ;; widen(v) = (i32x4.dot_i16x8_s (v128.xor v $bias) $ones): each unsigned 16-bit word w
//       ;; becomes the signed w - 32768 (the xor flips its top bit), and the dot product with ones
//       ;; (one pmaddwd on x64) adds them in pairs into four 32-bit lanes. Three instructions per
//       ;; 16 bytes instead of i32x4.extadd_pairwise_i16x8_u's four (measured about 25% faster
//       ;; here); the -32768 per word is added back once at the end, from the length alone.
//       (local.set $end (i32.add (local.get $ptr) (i32.and (local.get $len) (i32.const -64))))
//       (block (loop
//         (br_if 1 (i32.ge_u (local.get $ptr) (local.get $end)))
//         (local.set $acc  (acc + widen(load ptr+0)  + widen(load ptr+16)))
//         (local.set $acc2 (acc2 + widen(load ptr+32) + widen(load ptr+48)))
//         (local.set $ptr (i32.add (local.get $ptr) (i32.const 64)))
//         (br 0)))
//       (if (i32.and (local.get $len) (i32.const 32)) (then acc += widen(load ptr) + widen(load ptr+16); ptr += 32))
//       (if (i32.and (local.get $len) (i32.const 16)) (then acc2 += widen(load ptr); ptr += 16))
//       (local.set $s (the four lanes of (i32x4.add $acc $acc2), plus 32768 for each of the
//                      (len & -16) / 2 words summed so far: (i32.shl (i32.and $len -16) 14)))
//       ;; the < 16 trailing bytes: 16-bit words, then an odd last byte as a low byte
//       (local.set $end (i32.add (local.get $ptr) (i32.and (local.get $len) (i32.const 14))))
//       (block (loop
//         (br_if 1 (i32.ge_u (local.get $ptr) (local.get $end)))
//         (local.set $s (i32.add (local.get $s) (i32.load16_u (local.get $ptr))))
//         (local.set $ptr (i32.add (local.get $ptr) (i32.const 2)))
//         (br 0)))
//       (if (i32.and (local.get $len) (i32.const 1)) (then $s += (i32.load8_u (local.get $ptr))))
//       ;; end-around carry, three times: s < 2^31 → < 0x17ffe → <= 0x10000 → <= 0xffff
//       fold(fold(fold($s))))
//
// It returns the one's-complement sum of the little-endian 16-bit words of memory[ptr, ptr +
// len), folded to 16 bits, an odd last byte counting as the low byte of a last word. Callers
// pass at most MAX_LENGTH bytes: each lane then stays within ±2^27, and the true sum of at most
// MAX_LENGTH / 2 words of at most 0xffff is below 2^31, so the i32 arithmetic (exact modulo
// 2^32) gives it exactly.

export const MAX_LENGTH = 65536;

/** The first page is the scratch area callers copy into; the pages after it hold the packet pool. */
export const SCRATCH_BYTES = 65536;
/** Packet pool pages (64 KiB each): 64 pages = 4 MiB = 2,048 slots of 2 KiB (packet-pool.ts). */
export const POOL_PAGES = 64;

function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
const section = (id: number, bytes: number[]) => [id, ...uleb(bytes.length), ...bytes];
const name = (s: string) => [...uleb(s.length), ...Buffer.from(s)];
const simd = (op: number) => [0xfd, ...uleb(op)];

/** Signed LEB128 (i32.const immediates): 64 needs two bytes, since 0x40 alone means -64. */
function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const I32_CONST = 0x41;
const I32_ADD = 0x6a;
const I32_AND = 0x71;
const I32_SHR_U = 0x76;
const I32_GE_U = 0x4f;
const I32_LOAD8_U = 0x2d;
const I32_LOAD16_U = 0x2f;
const BLOCK = 0x02;
const LOOP = 0x03;
const IF = 0x04;
const BR = 0x0c;
const BR_IF = 0x0d;
const END = 0x0b;
const EMPTY = 0x40;
const V128_LOAD = 0x00;
const I32X4_EXTRACT_LANE = 0x1b;
const I32X4_ADD = 0xae;
const [PTR, LEN, ACC, ACC2, BIAS, ONES, END_PTR, S] = [0, 1, 2, 3, 4, 5, 6, 7];
const V128_CONST = 0x0c;
const V128_XOR = 0x51;
const I32X4_DOT_I16X8_S = 0xba;
const I32_SHL = 0x74;
const i16x8Splat = (v: number) => [...simd(V128_CONST), ...Array.from({ length: 8 }, () => [v & 0xff, v >>> 8]).flat()];

const i32 = (n: number) => [I32_CONST, ...sleb(n)];
/** Pushes the pairwise-widened 16-byte load at $ptr + offset (memarg: align 2^4, offset). */
const widenedLoad = (offset: number) => [
  LOCAL_GET,
  PTR,
  ...simd(V128_LOAD),
  0x04,
  ...uleb(offset),
  LOCAL_GET,
  BIAS,
  ...simd(V128_XOR),
  LOCAL_GET,
  ONES,
  ...simd(I32X4_DOT_I16X8_S),
];
/** $acc = $acc + widened(ptr + o0) + widened(ptr + o1) ... */
const accumulate = (acc: number, offsets: number[]) => [
  LOCAL_GET,
  acc,
  ...offsets.flatMap((o) => [...widenedLoad(o), ...simd(I32X4_ADD)]),
  LOCAL_SET,
  acc,
];
const advance = (n: number) => [LOCAL_GET, PTR, ...i32(n), I32_ADD, LOCAL_SET, PTR];
const ifLenBit = (bit: number, then: number[]) => [LOCAL_GET, LEN, ...i32(bit), I32_AND, IF, EMPTY, ...then, END];
const lane = (i: number) => [LOCAL_GET, ACC, ...simd(I32X4_EXTRACT_LANE), i];
const foldS = [LOCAL_GET, S, ...i32(0xffff), I32_AND, LOCAL_GET, S, ...i32(16), I32_SHR_U, I32_ADD, LOCAL_SET, S];
// biome-ignore format: one instruction group per line reads better as a listing
const body = [
  0x02, 0x04, 0x7b, 0x02, 0x7f, // locals: four v128 ($acc, $acc2, $bias, $ones), two i32 ($end, $s)
  ...i16x8Splat(0x8000), LOCAL_SET, BIAS, ...i16x8Splat(1), LOCAL_SET, ONES,
  LOCAL_GET, PTR, LOCAL_GET, LEN, ...i32(-64), I32_AND, I32_ADD, LOCAL_SET, END_PTR,
  BLOCK, EMPTY, LOOP, EMPTY,
  LOCAL_GET, PTR, LOCAL_GET, END_PTR, I32_GE_U, BR_IF, 1,
  ...accumulate(ACC, [0, 16]),
  ...accumulate(ACC2, [32, 48]),
  ...advance(64),
  BR, 0, END, END,
  ...ifLenBit(32, [...accumulate(ACC, [0, 16]), ...advance(32)]),
  ...ifLenBit(16, [...accumulate(ACC2, [0]), ...advance(16)]),
  LOCAL_GET, ACC, LOCAL_GET, ACC2, ...simd(I32X4_ADD), LOCAL_SET, ACC,
  ...lane(0), ...lane(1), I32_ADD, ...lane(2), I32_ADD, ...lane(3), I32_ADD,
  LOCAL_GET, LEN, ...i32(-16), I32_AND, ...i32(14), I32_SHL, I32_ADD, LOCAL_SET, S,
  LOCAL_GET, PTR, LOCAL_GET, LEN, ...i32(14), I32_AND, I32_ADD, LOCAL_SET, END_PTR,
  BLOCK, EMPTY, LOOP, EMPTY,
  LOCAL_GET, PTR, LOCAL_GET, END_PTR, I32_GE_U, BR_IF, 1,
  LOCAL_GET, S, LOCAL_GET, PTR, I32_LOAD16_U, 0x01 /* align 2 */, 0x00, I32_ADD, LOCAL_SET, S,
  ...advance(2),
  BR, 0, END, END,
  ...ifLenBit(1, [LOCAL_GET, S, LOCAL_GET, PTR, I32_LOAD8_U, 0x00, 0x00, I32_ADD, LOCAL_SET, S]),
  ...foldS, ...foldS, ...foldS,
  LOCAL_GET, S, END,
];
const MODULE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00, // "\0asm", version 1
  ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]), // type: (i32, i32) -> i32
  ...section(3, [0x01, 0x00]), // one function of type 0
  // One memory of fixed size (minimum = maximum), so it never grows: growing would detach the
  // ArrayBuffer under every Buffer handed out by the packet pool.
  ...section(5, [0x01, 0x01, ...uleb(1 + POOL_PAGES), ...uleb(1 + POOL_PAGES)]),
  ...section(7, [0x02, ...name('sum'), 0x00, 0x00, ...name('memory'), 0x02, 0x00]),
  ...section(10, [0x01, ...uleb(body.length), ...body]),
]);

/**
 * The property under which a packet-pool frame carries its own address in the kernel's memory.
 * Reading a typed array's `buffer` and `byteOffset` is a builtin call on Node 20's V8 (about
 * 13 and 8 ns here, not inlined, against 0.5 ns for `length`), which cost more than summing a
 * 20-byte header; the pool writes the address once when it hands the frame out (packet-pool.ts),
 * and the checksum reads it back as an ordinary property. Only the exact Buffer `alloc` returned
 * carries it: a subarray of a frame is an ordinary Buffer and takes the general path.
 */
export const FRAME_ADDRESS: unique symbol = Symbol('podnet.frameAddress');

/** A Buffer that may be a packet-pool frame. */
export type MaybePoolFrame = Uint8Array & { [FRAME_ADDRESS]?: number };

export interface SimdSum {
  /** The module's memory, where callers copy the bytes to sum. */
  memory: Buffer;
  /**
   * One's-complement sum, folded to 16 bits, of the little-endian 16-bit words of
   * memory[ptr, ptr + len) (an odd last byte is a low byte); len at most MAX_LENGTH.
   */
  sum(ptr: number, len: number): number;
}

/** The little of the WebAssembly JS API this needs (the project's lib settings carry no DOM types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (
    module: object,
    imports: object,
  ) => { exports: { memory: { buffer: ArrayBuffer }; sum: (ptr: number, len: number) => number } };
}

function instantiate(): SimdSum | undefined {
  // Without WebAssembly SIMD (an old or restricted runtime) the JavaScript loop is used.
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined || !wasm.validate(MODULE)) return undefined;
  const { exports } = new wasm.Instance(new wasm.Module(MODULE), {});
  return { memory: Buffer.from(exports.memory.buffer), sum: exports.sum };
}

export const simdSum: SimdSum | undefined = process.env.PODNET_NO_WASM_CHECKSUM ? undefined : instantiate();
