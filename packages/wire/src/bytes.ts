// Big-endian reads and writes by hand, shared by every codec: V8 inlines these, unlike
// Buffer#readUInt16BE and friends, which cost several times more per call on the data plane.
// Callers check bounds first (the codecs' validate functions do).
import { EncodeError } from './errors.js';

export function u16(buf: Uint8Array, at: number): number {
  return ((buf[at] as number) << 8) | (buf[at + 1] as number);
}

export function u24(buf: Uint8Array, at: number): number {
  return ((buf[at] as number) << 16) | ((buf[at + 1] as number) << 8) | (buf[at + 2] as number);
}

export function u32(buf: Uint8Array, at: number): number {
  return (((buf[at] as number) << 24) | ((buf[at + 1] as number) << 16) | ((buf[at + 2] as number) << 8) | (buf[at + 3] as number)) >>> 0;
}

export function put16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 8;
  buf[at + 1] = v & 0xff;
}

export function put24(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 16;
  buf[at + 1] = (v >>> 8) & 0xff;
  buf[at + 2] = v & 0xff;
}

export function put32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = (v >>> 16) & 0xff;
  buf[at + 2] = (v >>> 8) & 0xff;
  buf[at + 3] = v & 0xff;
}

/** Copies a few bytes (an option, a pad) without Buffer#copy's native-call overhead. */
export function copySmall(src: Uint8Array, out: Uint8Array, at: number): void {
  // A view into the output itself may overlap its destination: let set() move it safely.
  if (src.buffer === out.buffer) out.set(src, at);
  else for (let k = 0; k < src.length; k++) out[at + k] = src[k] as number;
}

/** Throws EncodeError unless `value` is an integer in 0..max (a Repr field about to be written). */
export function checkField(protocol: string, name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new EncodeError(protocol, `${name} ${value} is out of range 0..${max}`);
}
