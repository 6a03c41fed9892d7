// The conntrack hash table (nf_conntrack_hash): both directions' tuples of every confirmed entry,
// keyed by a 32-bit hash of the tuple's five numbers with the tuple compared on lookup, so a
// lookup builds no string and costs the same at 1k or 100k entries. ICMP queries hash their type
// too (an echo request and its reply are different tuples).
import type { Tuple } from './contract.js';
import type { ConntrackEntry, Dir } from './entry.js';
import { PROTO_ICMP } from './tuple.js';

export interface Slot {
  entry: ConntrackEntry;
  dir: Dir;
  /** The tuple this slot is filed under and, for ICMP, its query type. */
  tuple: Tuple;
  icmpType: number;
}

/** A murmur3-style mix of the tuple's fields (the key is only an index: tuples are compared on lookup). */
export function tupleHash(t: Tuple, icmpType: number): number {
  let h = Math.imul(t.src ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ t.dst, 0xc2b2ae35);
  const last = t.protocol === PROTO_ICMP ? icmpType : t.dstPort;
  h = Math.imul(h ^ (h >>> 16) ^ ((t.srcPort << 16) | last), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ t.protocol, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function matches(s: Slot, t: Tuple, icmpType: number): boolean {
  const u = s.tuple;
  return (
    u.src === t.src &&
    u.dst === t.dst &&
    u.srcPort === t.srcPort &&
    u.protocol === t.protocol &&
    (t.protocol === PROTO_ICMP ? s.icmpType === icmpType : u.dstPort === t.dstPort)
  );
}

export class TupleTable {
  readonly #buckets = new Map<number, Slot | Slot[]>();

  get(t: Tuple, icmpType: number): Slot | undefined {
    const b = this.#buckets.get(tupleHash(t, icmpType));
    if (b === undefined) return undefined;
    if (!Array.isArray(b)) return matches(b, t, icmpType) ? b : undefined;
    for (const s of b) if (matches(s, t, icmpType)) return s;
    return undefined;
  }

  add(slot: Slot): void {
    const h = tupleHash(slot.tuple, slot.icmpType);
    const b = this.#buckets.get(h);
    if (b === undefined) this.#buckets.set(h, slot);
    else if (Array.isArray(b)) b.push(slot);
    else this.#buckets.set(h, [b, slot]);
  }

  /** Removes the slot of `entry` filed under this tuple. */
  remove(t: Tuple, icmpType: number, entry: ConntrackEntry): void {
    const h = tupleHash(t, icmpType);
    const b = this.#buckets.get(h);
    if (b === undefined) return;
    if (!Array.isArray(b)) {
      if (b.entry === entry) this.#buckets.delete(h);
      return;
    }
    const rest = b.filter((s) => s.entry !== entry);
    if (rest.length === 0) this.#buckets.delete(h);
    else this.#buckets.set(h, rest.length === 1 ? (rest[0] as Slot) : rest);
  }
}
