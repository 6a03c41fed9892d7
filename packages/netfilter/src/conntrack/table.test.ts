import { describe, expect, it } from 'vitest';
import type { Tuple } from './contract.ts';
import type { ConntrackEntry } from './entry.ts';
import { type Slot, TupleTable, tupleHash } from './table.ts';

const tuple = (srcPort: number, protocol = 17): Tuple => ({ protocol, src: 0x0a000001, dst: 0x0a000002, srcPort, dstPort: 53 });
const entry = (id: number, original: Tuple): ConntrackEntry => ({
  id,
  protocol: original.protocol,
  original,
  reply: original,
  icmpType: 0,
  icmpCode: 0,
  status: 0,
  timeoutAt: 0,
  createdAt: 0,
  mark: 0,
});
const slot = (e: ConntrackEntry, icmpType = 0): Slot => ({ entry: e, dir: 0, tuple: e.original, icmpType });

describe('TupleTable', () => {
  it('finds a tuple only by all of its fields, and ICMP tuples by their type too', () => {
    const t = new TupleTable();
    const e = entry(1, tuple(1000));
    t.add(slot(e));
    expect(t.get(tuple(1000), 0)?.entry).toBe(e);
    expect(t.get(tuple(1001), 0)).toBeUndefined();
    expect(t.get({ ...tuple(1000), dstPort: 54 }, 0)).toBeUndefined();
    expect(t.get(tuple(1000, 6), 0)).toBeUndefined();
    const ping = entry(2, { protocol: 1, src: 1, dst: 2, srcPort: 7, dstPort: 7 });
    t.add(slot(ping, 8));
    expect(t.get(ping.original, 8)?.entry).toBe(ping);
    expect(t.get(ping.original, 0)).toBeUndefined();
  });

  it('keeps entries whose hashes collide apart, and removes only the one asked for', () => {
    // Find two different tuples with the same 32-bit hash by brute force over ports and addresses.
    const seen = new Map<number, Tuple>();
    let pair: [Tuple, Tuple] | undefined;
    for (let a = 0; a < 1 << 20 && pair === undefined; a++) {
      const t = { protocol: 6, src: a, dst: 0x0a000002, srcPort: a & 0xffff, dstPort: 80 };
      const h = tupleHash(t, 0);
      const other = seen.get(h);
      if (other) pair = [other, t];
      else seen.set(h, t);
    }
    expect(pair).toBeDefined();
    const [t1, t2] = pair as [Tuple, Tuple];
    const table = new TupleTable();
    const e1 = entry(1, t1);
    const e2 = entry(2, t2);
    table.add(slot(e1));
    table.add(slot(e2));
    expect(table.get(t1, 0)?.entry).toBe(e1);
    expect(table.get(t2, 0)?.entry).toBe(e2);
    table.remove(t1, 0, e1);
    expect(table.get(t1, 0)).toBeUndefined();
    expect(table.get(t2, 0)?.entry).toBe(e2);
    table.remove(t2, 0, e1); // not that entry's slot: nothing happens
    expect(table.get(t2, 0)?.entry).toBe(e2);
    table.remove(t2, 0, e2);
    expect(table.get(t2, 0)).toBeUndefined();
  });
});
