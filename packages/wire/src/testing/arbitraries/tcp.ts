// TCP Reprs as decode returns them, for property tests (RFC 9293 §3.1-3.2, RFC 7323, RFC 2018).
import fc from 'fast-check';
import { optionLength, type TcpOption, type TcpRepr } from '../../tcp.js';
import { arbBytes, arbU8, arbU16, arbU32 } from './common.js';

/** The option kinds tcp.ts interprets, with the only length each may have on the wire. */
const KNOWN_LENGTH: Record<number, (len: number) => boolean> = {
  2: (len) => len === 4,
  3: (len) => len === 3,
  4: (len) => len === 2,
  5: (len) => len > 2 && (len - 2) % 8 === 0,
  8: (len) => len === 10,
};

/** A kind podnet does not interpret, or a known kind at a length its RFC does not allow. */
const arbUnknownOption = (): fc.Arbitrary<TcpOption> =>
  fc
    .record({ type: fc.integer({ min: 2, max: 255 }), data: arbBytes(10) })
    .filter(({ type, data }) => !(KNOWN_LENGTH[type]?.(2 + data.length) ?? false))
    .map((o) => ({ kind: 'unknown' as const, ...o }));

export const arbTcpOption = (): fc.Arbitrary<TcpOption> =>
  fc.oneof(
    fc.constant({ kind: 'nop' as const }),
    arbU16().map((value) => ({ kind: 'mss' as const, value })),
    arbU8().map((shift) => ({ kind: 'window-scale' as const, shift })),
    fc.constant({ kind: 'sack-permitted' as const }),
    fc
      .array(fc.record({ left: arbU32(), right: arbU32() }), { minLength: 1, maxLength: 4 })
      .map((blocks) => ({ kind: 'sack' as const, blocks })),
    fc.record({ tsval: arbU32(), tsecr: arbU32() }).map((t) => ({ kind: 'timestamps' as const, ...t })),
    arbUnknownOption(),
  );

/** Bytes an option takes on the wire (the codec's own count). */
export const tcpOptionLength = optionLength;

/**
 * Option lists as they appear on the wire: at most 40 bytes, in wire order. When the list does
 * not end on a 32-bit boundary it ends with an EOL whose rest fills the header (usually zeros,
 * as Linux pads, sometimes other bytes, which decode must keep); a list that does end on one
 * may still carry an explicit EOL word.
 */
export const arbTcpOptions = (): fc.Arbitrary<TcpOption[]> =>
  fc
    .record({
      list: fc.array(arbTcpOption(), { maxLength: 8 }),
      padding: fc.oneof(fc.constant('zeros' as const), fc.constant('bytes' as const)),
      explicitEol: fc.boolean(),
      fill: fc.uint8Array({ minLength: 3, maxLength: 3 }),
    })
    .map(({ list, padding, explicitEol, fill }) => {
      const kept: TcpOption[] = [];
      let n = 0;
      for (const o of list) {
        const len = tcpOptionLength(o);
        if (n + len > 40) break;
        kept.push(o);
        n += len;
      }
      let restLength = (4 - (n % 4)) % 4;
      if (restLength === 0 && explicitEol && n <= 36) restLength = 4;
      if (restLength > 0) {
        const rest = padding === 'zeros' ? Buffer.alloc(restLength - 1) : Buffer.from(fill.subarray(0, restLength - 1));
        kept.push({ kind: 'eol', rest });
      }
      return kept;
    });

/** A segment as decode gives it back: every field in range, the checksum a number as read. */
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
