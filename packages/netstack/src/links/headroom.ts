// Encapsulation headroom, as Linux reserves it: a tunnel device declares dev->needed_headroom
// (vxlan: the outer headers, drivers/net/vxlan/vxlan_core.c), the IP output path allocates each
// skb with LL_RESERVED_SPACE in front of the packet (ip_finish_output2 / __ip_append_data), and
// the tunnel pushes its header into that space instead of copying the packet (skb_push after
// skb_cow_head). Here the space lets flannel.1 hand the kernel one buffer (VXLAN header + frame)
// per datagram: a list of two makes Node's dgram copy the list and make a view per element
// (fixBufferList) and the kernel gather two iovecs, per frame.
//
// Only the frames this module allocates have headroom. A pooled frame owns its whole packetPool
// slot (one slot per frame: link.ts "Frame ownership"), so the bytes between the slot's start and
// the frame are the frame holder's, and releasing the frame frees the slot as usual.
import { packetPool, SLOT_BYTES } from '@podnet/wire';

/** The room left in front of locally built frames: the 8-byte VXLAN header (RFC 7348 §5). */
export const ENCAP_HEADROOM = 8;

// Every slot starts at the same residue modulo SLOT_BYTES (slots are SLOT_BYTES apart in one
// region): learnt once from a probe, so a frame's offset into its slot is one subtraction.
const SLOT_PHASE = (() => {
  const probe = packetPool.alloc(1);
  const phase = packetPool.owns(probe) ? probe.byteOffset % SLOT_BYTES : -1;
  packetPool.release(probe);
  return phase;
})();

/**
 * A zero-filled frame of `length` bytes with ENCAP_HEADROOM bytes reserved in front of it, or a
 * plain pool frame when the two do not fit in one slot (headroomOf then says 0, and a tunnel
 * sends its header as a separate buffer).
 */
export function allocFrameWithHeadroom(length: number, zeroed = true): Buffer {
  if (SLOT_PHASE < 0 || length + ENCAP_HEADROOM > SLOT_BYTES) return packetPool.alloc(length, zeroed);
  const slot = packetPool.alloc(length + ENCAP_HEADROOM, zeroed);
  // The pool fell back to ordinary memory (exhausted): that memory has the room too.
  return slot.subarray(ENCAP_HEADROOM);
}

/** How many bytes in front of `frame` belong to it (0 unless allocFrameWithHeadroom made it). */
export function headroomOf(frame: Buffer): number {
  if (SLOT_PHASE < 0 || !packetPool.owns(frame)) return 0;
  return (((frame.byteOffset - SLOT_PHASE) % SLOT_BYTES) + SLOT_BYTES) % SLOT_BYTES;
}

/** A view of `frame` with `bytes` of its headroom in front, or undefined when it has less. */
export function expandIntoHeadroom(frame: Buffer, bytes: number): Buffer | undefined {
  if (headroomOf(frame) < bytes) return undefined;
  return Buffer.from(frame.buffer, frame.byteOffset - bytes, frame.length + bytes);
}
