// A WebAssembly SIMD kernel for the Internet checksum's long sums. JavaScript reads memory at
// best 4 bytes per step (about 0.25 ns/byte here); WebAssembly's 128-bit lanes sum 32 bytes per
// step, several times faster even after copying the bytes into the module's memory.
//
// The module is assembled below from its instructions (WebAssembly core spec §5, binary format;
// SIMD opcodes from the fixed-width SIMD proposal's BinarySIMD.md). In text form:
//
//   (module
//     (memory (export "memory") 1)
//     (func (export "sum") (param $ptr i32) (param $len i32) (result f64)
//       (local $acc v128) (local $end i32)
//       (local.set $end (i32.add (local.get $ptr) (i32.and (local.get $len) (i32.const -32))))
//       (block (loop
//         (br_if 1 (i32.ge_u (local.get $ptr) (local.get $end)))
//         ;; two 16-byte loads a step: widen each one's eight little-endian 16-bit words
//         ;; pairwise into four 32-bit lanes, and add them to the accumulator
//         (local.set $acc (i32x4.add (i32x4.add (local.get $acc)
//                           (i32x4.extadd_pairwise_i16x8_u (v128.load offset=0 (local.get $ptr))))
//                           (i32x4.extadd_pairwise_i16x8_u (v128.load offset=16 (local.get $ptr)))))
//         (local.set $ptr (i32.add (local.get $ptr) (i32.const 32)))
//         (br 0)))
//       (f64.convert_i64_u (i64.add (i64.add (lane 0) (lane 1)) (i64.add (lane 2) (lane 3))))))
//
// It returns the plain sum of the little-endian 16-bit words of memory[ptr, ptr + (len & ~31)).
// Each lane grows by at most 4 × 0xffff per 32 bytes, so lanes cannot overflow below 512 KiB;
// callers pass at most MAX_LENGTH bytes.

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

const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const I32_CONST = 0x41;
const I32_ADD = 0x6a;
const I32_AND = 0x71;
const I32_GE_U = 0x4f;
const I64_ADD = 0x7c;
const I64_EXTEND_I32_U = 0xad;
const F64_CONVERT_I64_U = 0xba;
const BLOCK = 0x02;
const LOOP = 0x03;
const BR = 0x0c;
const BR_IF = 0x0d;
const END = 0x0b;
const EMPTY = 0x40;
const V128_LOAD = 0x00;
const I32X4_EXTRACT_LANE = 0x1b;
const I32X4_EXTADD_PAIRWISE_I16X8_U = 0x7f;
const I32X4_ADD = 0xae;
const [PTR, LEN, ACC, END_PTR] = [0, 1, 2, 3];

const lane = (i: number) => [LOCAL_GET, ACC, ...simd(I32X4_EXTRACT_LANE), i, I64_EXTEND_I32_U];
// biome-ignore format: one instruction per line reads better as a listing
const body = [
  0x02, 0x01, 0x7b, 0x01, 0x7f, // locals: one v128 ($acc), one i32 ($end)
  LOCAL_GET, PTR, LOCAL_GET, LEN, I32_CONST, 0x60 /* -32 */, I32_AND, I32_ADD, LOCAL_SET, END_PTR,
  BLOCK, EMPTY, LOOP, EMPTY,
  LOCAL_GET, PTR, LOCAL_GET, END_PTR, I32_GE_U, BR_IF, 1,
  LOCAL_GET, ACC,
  LOCAL_GET, PTR, ...simd(V128_LOAD), 0x04 /* align 16 */, 0x00 /* offset 0 */,
  ...simd(I32X4_EXTADD_PAIRWISE_I16X8_U), ...simd(I32X4_ADD),
  LOCAL_GET, PTR, ...simd(V128_LOAD), 0x04 /* align 16 */, 0x10 /* offset 16 */,
  ...simd(I32X4_EXTADD_PAIRWISE_I16X8_U), ...simd(I32X4_ADD),
  LOCAL_SET, ACC,
  LOCAL_GET, PTR, I32_CONST, 0x20, I32_ADD, LOCAL_SET, PTR,
  BR, 0, END, END,
  ...lane(0), ...lane(1), I64_ADD, ...lane(2), I64_ADD, ...lane(3), I64_ADD,
  F64_CONVERT_I64_U, END,
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
  ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7c]), // type: (i32, i32) -> f64
  ...section(3, [0x01, 0x00]), // one function of type 0
  // One memory of fixed size (minimum = maximum), so it never grows: growing would detach the
  // ArrayBuffer under every Buffer handed out by the packet pool.
  ...section(5, [0x01, 0x01, ...uleb(1 + POOL_PAGES), ...uleb(1 + POOL_PAGES)]),
  ...section(7, [0x02, ...name('sum'), 0x00, 0x00, ...name('memory'), 0x02, 0x00]),
  ...section(10, [0x01, ...uleb(body.length), ...body]),
]);

export interface SimdSum {
  /** The module's memory, where callers copy the bytes to sum. */
  memory: Buffer;
  /** Sum of the little-endian 16-bit words of memory[0, len & ~31). */
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
