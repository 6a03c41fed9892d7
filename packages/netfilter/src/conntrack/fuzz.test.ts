// Conntrack and NAT take whatever bytes the stack hands them: malformed headers, truncated
// transports, ICMP errors quoting garbage. They must never throw, only call such packets INVALID.
import { internetChecksum, SeededRng } from '@podnet/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../wire/src/testing/fake-clock.ts';
import type { HookPacket, PacketState } from '../hook.ts';
import { Nat } from '../nat/nat-engine.ts';
import { context } from '../testing/conntrack-packets.ts';
import { listText } from './listing.ts';
import { Conntrack } from './tracker.ts';

/** An IPv4 header (valid checksum, maybe a lying length or IHL) in front of arbitrary bytes. */
const packet = fc
  .record({
    protocol: fc.constantFrom(1, 6, 17, 132, 47, 255),
    ihl: fc.constantFrom(5, 5, 5, 6, 4, 15),
    src: fc.integer({ min: 0, max: 0xffffffff }),
    dst: fc.integer({ min: 0, max: 0xffffffff }),
    fragment: fc.constantFrom(0, 0, 0, 0x2000, 0x0010),
    body: fc.uint8Array({ maxLength: 80 }),
    lie: fc.integer({ min: -30, max: 30 }),
  })
  .map(({ protocol, ihl, src, dst, fragment, body, lie }): HookPacket => {
    const headerLength = Math.max(20, ihl * 4);
    const buf = Buffer.alloc(headerLength + body.length);
    buf[0] = 0x40 | ihl;
    buf.writeUInt16BE(Math.max(0, Math.min(0xffff, buf.length + lie)), 2);
    buf.writeUInt16BE(fragment, 6);
    buf[8] = 64;
    buf[9] = protocol;
    buf.writeUInt32BE(src, 12);
    buf.writeUInt32BE(dst, 16);
    buf.writeUInt16BE(internetChecksum(buf, 0, 20), 10);
    Buffer.from(body).copy(buf, headerLength);
    return { buf, l3Offset: 0, end: buf.length };
  });

describe('conntrack and NAT on arbitrary packets', () => {
  it('never throw; every packet gets a state and the table stays consistent', () => {
    const clock = new FakeClock();
    const ct = new Conntrack({ clock, gcIntervalMs: 0, max: 64, checksum: false });
    const nat = new Nat(ct, { rng: new SeededRng(5) });
    const range = { minAddress: 0x0a000001, maxAddress: 0x0a000003, minPort: 1000, maxPort: 1002 };
    fc.assert(
      fc.property(fc.array(packet, { minLength: 1, maxLength: 20 }), (packets) => {
        for (const p of packets) {
          const state: PacketState = { mark: 0, trace: false };
          const pre = context('PREROUTING', 'eth0');
          const post = context('POSTROUTING', undefined, 'eth1', { interfaces: { eth1: '172.18.0.2' } });
          const dropped = ct.track('PREROUTING', p, pre, state);
          if (dropped) continue;
          expect(ct.info(state)?.state).toMatch(/^(NEW|ESTABLISHED|RELATED|INVALID)$/);
          if (nat.needsLookup('PREROUTING', state)) nat.setup('DST', range, p, pre, state);
          nat.apply('PREROUTING', p, pre, state);
          if (nat.needsLookup('POSTROUTING', state)) nat.masquerade({}, p, post, state);
          nat.apply('POSTROUTING', p, post, state);
          ct.confirm(state);
          clock.advance(500);
        }
        ct.gc(); // expired entries count until swept, as nf_conntrack_count does
        expect(ct.counters.entries).toBe(ct.entries().length);
        expect(listText(ct).length).toBe(ct.counters.entries);
      }),
      { numRuns: 300 },
    );
  });
});
