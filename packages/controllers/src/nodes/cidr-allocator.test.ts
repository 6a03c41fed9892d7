import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CidrAllocator, formatCidr, parseCidr } from './cidr-allocator.js';

describe('CidrAllocator', () => {
  it('gives node-N the subnet N, others the next free one, never 10.244.0.0/24 before the rest', () => {
    const a = new CidrAllocator('10.244.0.0/16', 24);
    expect(a.allocate('node-1')).toBe('10.244.1.0/24');
    expect(a.allocate('node-3')).toBe('10.244.3.0/24');
    expect(a.allocate('worker-a')).toBe('10.244.2.0/24');
    expect(a.allocate('worker-b')).toBe('10.244.4.0/24');
    expect(a.allocate('node-1')).toBe('10.244.1.0/24'); // idempotent
  });
  it('rebuilds from existing nodes, refuses double allocation, releases on delete', () => {
    const a = new CidrAllocator();
    expect(a.occupy('node-7', '10.244.2.0/24')).toBe(true);
    expect(a.occupy('node-8', '10.244.2.0/24')).toBe(false);
    expect(a.occupy('node-9', '10.245.0.0/24')).toBe(false);
    expect(a.allocate('node-2')).toBe('10.244.1.0/24'); // subnet 2 is taken by node-7
    a.release('node-7');
    expect(a.allocate('node-x')).toBe('10.244.2.0/24');
  });
  it('reports a full range and validates its configuration', () => {
    const a = new CidrAllocator('10.0.0.0/30', 30);
    expect(a.allocate('a')).toBe('10.0.0.0/30');
    expect(a.allocate('b')).toBeUndefined();
    expect(() => new CidrAllocator('10.244.0.0/16', 8)).toThrow(/between the cluster prefix/);
    expect(() => parseCidr('10.244.0.0')).toThrow(/not an IPv4 CIDR/);
    expect(formatCidr(parseCidr('10.244.7.9/24'))).toBe('10.244.7.0/24');
  });
  it('never hands one subnet to two nodes under any sequence of allocations and releases', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 20 })), { maxLength: 200 }), (ops) => {
        const a = new CidrAllocator('10.244.0.0/26', 28); // 4 subnets: forces exhaustion
        const live = new Set<string>();
        for (const [alloc, n] of ops) {
          const name = n % 2 ? `node-${n}` : `w${n}`;
          if (alloc) {
            if (a.allocate(name)) live.add(name);
          } else {
            a.release(name);
            live.delete(name);
          }
          const cidrs = [...live].map((x) => a.cidrOf(x));
          expect(new Set(cidrs).size).toBe(cidrs.length);
          expect(a.allocated).toBe(live.size);
        }
      }),
    );
  });
});
