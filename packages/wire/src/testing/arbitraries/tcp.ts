import fc from 'fast-check';
import type { TcpOption, TcpRepr } from '../../tcp.js';
import { arbBytes, arbU8, arbU16, arbU32 } from './common.js';

const arbOption = (): fc.Arbitrary<TcpOption> =>
  fc.oneof(
    fc.constant({ kind: 'nop' as const }),
    arbU16().map((value) => ({ kind: 'mss' as const, value })),
    arbU8().map((shift) => ({ kind: 'window-scale' as const, shift })),
    fc.constant({ kind: 'sack-permitted' as const }),
    fc
      .array(fc.record({ left: arbU32(), right: arbU32() }), { minLength: 1, maxLength: 3 })
      .map((blocks) => ({ kind: 'sack' as const, blocks })),
    fc.record({ tsval: arbU32(), tsecr: arbU32() }).map((t) => ({ kind: 'timestamps' as const, ...t })),
    // Kinds podnet does not interpret (or known kinds at lengths their RFC does not allow).
    fc
      .record({ type: arbU8().filter((t) => t > 8 || t === 6 || t === 7), data: arbBytes(6) })
      .map((o) => ({ kind: 'unknown' as const, ...o })),
  );

function length(o: TcpOption): number {
  switch (o.kind) {
    case 'nop':
      return 1;
    case 'mss':
      return 4;
    case 'window-scale':
      return 3;
    case 'sack-permitted':
      return 2;
    case 'sack':
      return 2 + 8 * o.blocks.length;
    case 'timestamps':
      return 10;
    case 'unknown':
      return 2 + o.data.length;
    case 'eol':
      return 1 + o.rest.length;
  }
}

/**
 * Option lists as they appear on the wire: at most 40 bytes, and filling the header to a
 * 32-bit boundary with an EOL whose rest (padding) is zeros — what decode gives back.
 */
export const arbTcpOptions = (): fc.Arbitrary<TcpOption[]> =>
  fc.array(arbOption(), { maxLength: 6 }).map((list) => {
    const kept: TcpOption[] = [];
    let n = 0;
    for (const o of list) {
      if (n + length(o) > 40) break;
      kept.push(o);
      n += length(o);
    }
    if (n % 4 !== 0) kept.push({ kind: 'eol', rest: Buffer.alloc(3 - (n % 4)) });
    return kept;
  });

export const arbTcpRepr = (): fc.Arbitrary<TcpRepr> =>
  fc.record({
    srcPort: arbU16(),
    dstPort: arbU16(),
    seq: arbU32(),
    ack: arbU32(),
    reserved: fc.integer({ min: 0, max: 15 }),
    flags: arbU8(),
    window: arbU16(),
    checksum: arbU16(),
    urgentPointer: arbU16(),
    options: arbTcpOptions(),
    payload: arbBytes(100),
  });
