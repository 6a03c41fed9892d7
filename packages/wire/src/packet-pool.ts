// Frames for the data plane, allocated inside the WebAssembly memory of the checksum kernel
// (checksum-simd.ts), so that the Internet checksum of a frame is summed where it lies, with
// no copy. Linux keeps packet data in its own slabs for the same reason (skb heads from
// kmalloc caches); here one fixed-size memory is carved into 2 KiB slots, enough for a
// 1500-byte MTU frame with room for encapsulation headers in front.
//
// A slot must be released once the frame is no longer used; a Buffer that outlives its
// release sees the bytes of whatever frame takes the slot next, so the pool is for the hot
// path that owns its frames, not for frames handed to user code (copy those out).
import { FRAME_ADDRESS, type MaybePoolFrame, POOL_PAGES, SCRATCH_BYTES, simdSum } from './checksum-simd.js';

export const SLOT_BYTES = 2048;
/**
 * A jumbo buffer: a TCP super-frame (TSO/GRO, up to 64 KiB of IPv4 behind its Ethernet header)
 * with room in front. Frames this large come from a free list of whole buffers, as Linux takes a
 * GSO skb's pages from its page pools: a fresh 64 KiB ArrayBuffer per super-frame made garbage
 * collection the largest cost of a bulk sender (47% of its profile).
 */
export const JUMBO_BYTES = 65536 + 64;
/** Jumbo buffers kept for reuse; beyond this, released ones are left to the garbage collector. */
const JUMBO_KEEP = 64;

export class PacketPool {
  private readonly memory: Buffer;
  private readonly free: number[] = [];
  private readonly inUse: Uint8Array;
  private readonly jumboFree: ArrayBuffer[] = [];
  /** Every jumbo ArrayBuffer this pool handed out → whether it is in use. */
  private readonly jumbo = new WeakMap<ArrayBuffer, { inUse: boolean }>();
  /** The kernel-memory address of slot 0, or undefined when the pool is not in kernel memory. */
  private readonly kernelAddress: number | undefined;
  readonly slots: number;

  constructor(memory: Buffer, offset: number, bytes: number) {
    this.memory = memory.subarray(offset, offset + bytes);
    this.kernelAddress = simdSum !== undefined && memory.buffer === simdSum.memory.buffer ? this.memory.byteOffset : undefined;
    this.slots = Math.floor(bytes / SLOT_BYTES);
    this.inUse = new Uint8Array(this.slots);
    for (let i = this.slots - 1; i >= 0; i--) this.free.push(i);
  }

  /** Slots free right now. */
  get available(): number {
    return this.free.length;
  }

  /**
   * A zero-filled frame of `length` bytes from the pool, or from ordinary memory when it is
   * larger than a slot or the pool is exhausted (the checksum then copies, nothing breaks).
   * `zeroed` false skips the fill for a caller that writes every byte (software GSO's segments:
   * the memset was most of a segment's allocation cost).
   */
  alloc(length: number, zeroed = true): Buffer {
    if (length > SLOT_BYTES && length <= JUMBO_BYTES) return this.allocJumbo(length, 0, zeroed);
    const slot = length <= SLOT_BYTES ? this.free.pop() : undefined;
    if (slot === undefined) return zeroed ? Buffer.alloc(length) : Buffer.allocUnsafe(length);
    this.inUse[slot] = 1;
    const start = slot * SLOT_BYTES;
    const view = this.memory.subarray(start, start + length);
    const frame: MaybePoolFrame & Buffer = zeroed ? view.fill(0) : view;
    // Every pool frame carries its address, pool or not, so all frames share one hidden class.
    frame[FRAME_ADDRESS] = this.kernelAddress === undefined ? -1 : this.kernelAddress + start;
    return frame;
  }

  /** True when `buf` lies in this pool's memory. */
  owns(buf: Uint8Array): boolean {
    return (
      buf.buffer === this.memory.buffer &&
      buf.byteOffset >= this.memory.byteOffset &&
      buf.byteOffset < this.memory.byteOffset + this.memory.length
    );
  }

  /**
   * A frame of `length` bytes `offset` bytes into a jumbo buffer, zero-filled unless the caller
   * overwrites all of it (`zeroed` false: 64 KiB of memset per super-frame otherwise). Released
   * with release() like a slot.
   */
  allocJumbo(length: number, offset = 0, zeroed = true): Buffer {
    if (length + offset > JUMBO_BYTES) return Buffer.alloc(length);
    let ab = this.jumboFree.pop();
    if (ab === undefined) {
      ab = new ArrayBuffer(JUMBO_BYTES);
      this.jumbo.set(ab, { inUse: true });
    } else (this.jumbo.get(ab) as { inUse: boolean }).inUse = true;
    const frame = Buffer.from(ab, offset, length);
    return zeroed ? frame.fill(0) : frame;
  }

  /** Gives a frame's slot back. Frames from ordinary memory are left to the garbage collector. */
  release(buf: Uint8Array): void {
    if (!this.owns(buf)) {
      if (buf.length > SLOT_BYTES) this.releaseJumbo(buf);
      return;
    }
    const slot = Math.floor((buf.byteOffset - this.memory.byteOffset) / SLOT_BYTES);
    if (this.inUse[slot] !== 1) throw new Error(`packet pool: slot ${slot} released twice (a frame used after release?)`);
    this.inUse[slot] = 0;
    this.free.push(slot);
  }

  private releaseJumbo(buf: Uint8Array): void {
    const ab = buf.buffer as ArrayBuffer;
    const state = this.jumbo.get(ab);
    if (state === undefined) return;
    if (!state.inUse) throw new Error('packet pool: jumbo buffer released twice (a frame used after release?)');
    state.inUse = false;
    if (this.jumboFree.length < JUMBO_KEEP) this.jumboFree.push(ab);
  }
}

/** The process's pool, or a pool over ordinary memory where WebAssembly SIMD is unavailable. */
export const packetPool: PacketPool =
  simdSum !== undefined
    ? new PacketPool(simdSum.memory, SCRATCH_BYTES, POOL_PAGES * 65536)
    : new PacketPool(Buffer.alloc(POOL_PAGES * 65536), 0, POOL_PAGES * 65536);
