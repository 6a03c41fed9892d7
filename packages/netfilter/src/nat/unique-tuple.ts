// Choosing the NAT'ed tuple (nf_nat_core.c get_unique_tuple, find_best_ips_proto,
// nf_nat_l4proto_unique_tuple): the new reply tuple must be unique in the table, so a source port
// that clashes is reallocated; addresses in a range are chosen by a hash of the addresses, so the
// same client keeps the same mapped address.
import type { Rng } from '@podnet/wire';
import type { NatManip, NatRange, Tuple } from '../conntrack/contract.js';
import { hasPorts, PROTO_ICMP } from '../conntrack/tuple.js';

/** NF_NAT_MAX_ATTEMPTS: at most this many ports are tried per round (softirq lockup guard). */
const MAX_ATTEMPTS = 128;

/** Is this tuple (after NAT, original direction) already taken by another connection? */
export type TupleUsed = (tuple: Tuple) => boolean;

function addressOf(t: Tuple, manip: NatManip): number {
  return manip === 'SRC' ? t.src : t.dst;
}

function portOf(t: Tuple, manip: NatManip): number {
  if (t.protocol === PROTO_ICMP) return t.srcPort;
  return manip === 'SRC' ? t.srcPort : t.dstPort;
}

function withAddress(t: Tuple, manip: NatManip, address: number): Tuple {
  return manip === 'SRC' ? { ...t, src: address } : { ...t, dst: address };
}

function withPort(t: Tuple, manip: NatManip, port: number): Tuple {
  if (t.protocol === PROTO_ICMP) return { ...t, srcPort: port, dstPort: port };
  return manip === 'SRC' ? { ...t, srcPort: port } : { ...t, dstPort: port };
}

function protoSpecified(range: NatRange): boolean {
  return range.minPort !== undefined && range.maxPort !== undefined;
}

function portRange(range: NatRange): [number, number] {
  const a = range.minPort ?? 0;
  const b = range.maxPort ?? a;
  return a <= b ? [a, b] : [b, a];
}

function addressRange(range: NatRange): [number, number] {
  const a = range.minAddress >>> 0;
  const b = range.maxAddress >>> 0;
  return a <= b ? [a, b] : [b, a];
}

/** The protocol part is inside the range (or the protocol has none). */
function l4InRange(t: Tuple, manip: NatManip, range: NatRange): boolean {
  if (!hasPorts(t.protocol) && t.protocol !== PROTO_ICMP) return true;
  const [lo, hi] = portRange(range);
  const p = portOf(t, manip);
  return p >= lo && p <= hi;
}

function inRange(t: Tuple, manip: NatManip, range: NatRange): boolean {
  const [lo, hi] = addressRange(range);
  const a = addressOf(t, manip) >>> 0;
  if (a < lo || a > hi) return false;
  return !protoSpecified(range) || l4InRange(t, manip, range);
}

/** Tuples the same original source is already mapped to (newest first), for SNAT's reuse of a mapping. */
export type SourceMappings = (current: Tuple) => Tuple[];

export interface UniqueTupleInput {
  /** The original-direction tuple as it stands after the bindings made so far (invert of the reply tuple). */
  current: Tuple;
  range: NatRange;
  manip: NatManip;
  used: TupleUsed;
  rng: Rng;
  /** Original-direction tuples (after NAT) of other connections from the same source. */
  mappings?: SourceMappings;
}

/** get_unique_tuple: the original-direction tuple after this NAT binding. */
export function uniqueTuple({ current, range, manip, used, rng, mappings }: UniqueTupleInput): Tuple {
  const randomAll = range.random === true || range.randomFully === true;
  if (manip === 'SRC' && !randomAll) {
    // 1) SNAT keeps the source as it is when that is allowed and free; a source outside the range
    // that is already mapped keeps that mapping when it is unique (find_appropriate_src), so one
    // client's port looks the same to every server.
    if (inRange(current, manip, range)) {
      if (!used(current)) return current;
    } else {
      for (const mapped of mappings?.(current) ?? []) {
        const candidate: Tuple = {
          ...mapped,
          dst: current.dst,
          dstPort: current.protocol === PROTO_ICMP ? mapped.dstPort : current.dstPort,
        };
        if (inRange(candidate, manip, range)) {
          if (!used(candidate)) return candidate;
          break;
        }
      }
    }
  }
  // 2) The address: the only one, or a hash-chosen one of the range.
  const t = withAddress(current, manip, bestAddress(current, range));
  // 3) The port: kept when in range and unique, else searched for.
  if (!randomAll) {
    if (protoSpecified(range)) {
      const [lo, hi] = portRange(range);
      if (l4InRange(t, manip, range) && (lo === hi || !used(t))) return t;
    } else if (!used(t)) return t;
  }
  return uniquePort(t, range, manip, used, rng);
}

/** find_best_ips_proto: a stable choice in an address range, by a hash of the connection's addresses. */
function bestAddress(t: Tuple, range: NatRange): number {
  const [lo, hi] = addressRange(range);
  if (lo === hi) return lo;
  // jhash2 over the source address (as the kernel stores it: network order read as a native word),
  // seeded with the destination address unless --persistent, scaled into the range.
  const srcWord = bswap32(t.src);
  const seed = range.persistent ? 0 : bswap32(t.dst);
  const j = jhash2([srcWord, 0, 0, 0], seed);
  const dist = hi - lo + 1;
  return (lo + reciprocalScale(j, dist)) >>> 0;
}

/** nf_nat_l4proto_unique_tuple: a free port (or ICMP id) in the range, from a random offset. */
function uniquePort(t: Tuple, range: NatRange, manip: NatManip, used: TupleUsed, rng: Rng): Tuple {
  let min: number;
  let size: number;
  if (t.protocol === PROTO_ICMP) {
    if (!protoSpecified(range)) {
      min = 0;
      size = 65536;
    } else {
      const [lo, hi] = portRange(range);
      min = lo;
      size = hi - lo + 1;
    }
  } else if (hasPorts(t.protocol)) {
    if (!protoSpecified(range)) {
      // "If it's dst rewrite, can't change port."
      if (manip === 'DST') return t;
      const port = portOf(t, manip);
      // Keep the class of the port: < 512, 512-1023 ("credential passing"), else unprivileged.
      if (port < 1024) {
        if (port < 512) {
          min = 1;
          size = 511;
        } else {
          min = 600;
          size = 1023 - 600 + 1;
        }
      } else {
        min = 1024;
        size = 65535 - 1024 + 1;
      }
    } else {
      const [lo, hi] = portRange(range);
      min = lo;
      size = hi - lo + 1;
    }
  } else return t; // no ports: nothing more to vary

  const randomAll = range.random === true || range.randomFully === true;
  let off = randomAll || manip !== 'DST' ? rng.nextUint32() & 0xffff : 0;
  let attempts = Math.min(size, MAX_ATTEMPTS);
  let candidate = t;
  for (;;) {
    for (let i = 0; i < attempts; i++, off++) {
      candidate = withPort(t, manip, min + (off % size));
      if (!used(candidate)) return candidate;
    }
    if (attempts >= size || attempts < 16) return candidate;
    attempts = Math.floor(attempts / 2);
    off = rng.nextUint32() & 0xffff;
  }
}

export function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

/** reciprocal_scale: maps a 32-bit value into [0, range) by multiplication. */
export function reciprocalScale(value: number, range: number): number {
  return Math.floor(((value >>> 0) * range) / 2 ** 32);
}

const rol32 = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

/** Bob Jenkins' lookup3 hash of 32-bit words (include/linux/jhash.h jhash2). */
export function jhash2(words: readonly number[], initval: number): number {
  let a = (0xdeadbeef + (words.length << 2) + initval) >>> 0;
  let b = a;
  let c = a;
  let i = 0;
  let length = words.length;
  while (length > 3) {
    a = (a + (words[i] as number)) >>> 0;
    b = (b + (words[i + 1] as number)) >>> 0;
    c = (c + (words[i + 2] as number)) >>> 0;
    // __jhash_mix
    a = (a - c) >>> 0;
    a = (a ^ rol32(c, 4)) >>> 0;
    c = (c + b) >>> 0;
    b = (b - a) >>> 0;
    b = (b ^ rol32(a, 6)) >>> 0;
    a = (a + c) >>> 0;
    c = (c - b) >>> 0;
    c = (c ^ rol32(b, 8)) >>> 0;
    b = (b + a) >>> 0;
    a = (a - c) >>> 0;
    a = (a ^ rol32(c, 16)) >>> 0;
    c = (c + b) >>> 0;
    b = (b - a) >>> 0;
    b = (b ^ rol32(a, 19)) >>> 0;
    a = (a + c) >>> 0;
    c = (c - b) >>> 0;
    c = (c ^ rol32(b, 4)) >>> 0;
    b = (b + a) >>> 0;
    length -= 3;
    i += 3;
  }
  if (length === 0) return c;
  if (length >= 3) c = (c + (words[i + 2] as number)) >>> 0;
  if (length >= 2) b = (b + (words[i + 1] as number)) >>> 0;
  a = (a + (words[i] as number)) >>> 0;
  // __jhash_final
  c = ((c ^ b) - rol32(b, 14)) >>> 0;
  a = ((a ^ c) - rol32(c, 11)) >>> 0;
  b = ((b ^ a) - rol32(a, 25)) >>> 0;
  c = ((c ^ b) - rol32(b, 16)) >>> 0;
  a = ((a ^ c) - rol32(c, 4)) >>> 0;
  b = ((b ^ a) - rol32(a, 14)) >>> 0;
  c = ((c ^ b) - rol32(b, 24)) >>> 0;
  return c;
}
