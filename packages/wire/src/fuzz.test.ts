// Robustness (DESIGN §6.3): random and mutated bytes fed to every decoder give a typed
// DecodeError (PcapError for pcap files) and nothing else: no RangeError from a Buffer read,
// no TypeError, no hang. `npm test` runs a bounded loop; `npm run fuzz` a long one
// (PODNET_FUZZ_RUNS, default 200,000 per target there).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as arp from './arp.js';
import type { Codec } from './codec.js';
import { dissect, reassemble } from './dissect.js';
import { DecodeError, PodnetError } from './errors.js';
import * as ethernet from './ethernet.js';
import * as icmpv4 from './icmpv4.js';
import * as ipv4 from './ipv4.js';
import * as pcap from './pcap.js';
import { formatDissection } from './print.js';
import * as sctp from './sctp.js';
import * as tcp from './tcp.js';
import { arbArpRepr } from './testing/arbitraries/arp.js';
import { arbEthernetRepr } from './testing/arbitraries/ethernet.js';
import { arbIcmpv4Repr } from './testing/arbitraries/icmpv4.js';
import { arbIpv4Repr } from './testing/arbitraries/ipv4.js';
import { arbSctpRepr } from './testing/arbitraries/sctp.js';
import { arbTcpRepr } from './testing/arbitraries/tcp.js';
import { arbUdpRepr } from './testing/arbitraries/udp.js';
import { arbVxlanRepr } from './testing/arbitraries/vxlan.js';
import * as udp from './udp.js';
import * as vxlan from './vxlan.js';

const RUNS = Number(process.env.PODNET_FUZZ_RUNS ?? 1500);
const PSEUDO = { src: 0x0af40102, dst: 0x0af40203 };

/** Calls fn; anything thrown must be one of the typed errors. */
function onlyTypedErrors(fn: () => unknown, allowed: (e: unknown) => boolean = (e) => e instanceof DecodeError): void {
  try {
    fn();
  } catch (error) {
    if (!allowed(error)) {
      throw new Error(`decoder threw an untyped error: ${(error as Error)?.stack ?? String(error)}`);
    }
  }
}

/** Byte mutations: flip, overwrite, truncate, extend, splice. */
const arbMutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ maxLength: 16 }) }),
  fc.record({ kind: fc.constant('word' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0xff, 0xffff, 0x7fff, 0x8000) }),
);
type Mutation = typeof arbMutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(input: Buffer, mutations: Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    if (b.length === 0 && m.kind !== 'extend') continue;
    switch (m.kind) {
      case 'flip':
        b[m.at % b.length] = (b[m.at % b.length] as number) ^ (1 << m.bit);
        break;
      case 'set':
        b[m.at % b.length] = m.value;
        break;
      case 'truncate':
        b = b.subarray(0, m.at % b.length);
        break;
      case 'extend':
        b = Buffer.concat([b, m.extra]);
        break;
      case 'word': {
        const at = m.at % b.length;
        if (at + 1 < b.length) b.writeUInt16BE(m.value, at);
        break;
      }
    }
  }
  return b;
}

interface Target<R> {
  codec: Codec<R>;
  arb: fc.Arbitrary<R>;
  encode: (r: R) => Buffer;
}
const target = <R>(codec: Codec<R>, arb: fc.Arbitrary<R>, encode: (r: R) => Buffer = (r) => codec.encode(r)): Target<R> => ({
  codec,
  arb,
  encode,
});

const targets = [
  target(ethernet.codec, arbEthernetRepr()),
  target(arp.codec, arbArpRepr()),
  target(ipv4.codec, arbIpv4Repr()),
  target(icmpv4.codec, arbIcmpv4Repr()),
  target(udp.codec, arbUdpRepr(), (r) => udp.encode(r, undefined, 0, PSEUDO)),
  target(tcp.codec, arbTcpRepr(), (r) => tcp.encode(r, undefined, 0, PSEUDO)),
  target(sctp.codec, arbSctpRepr()),
  target(vxlan.codec, arbVxlanRepr()),
] as Target<unknown>[];

describe('decoders on random and mutated bytes', () => {
  for (const t of targets) {
    it(`${t.codec.name}: random bytes at random offsets give DecodeError or a repr`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (bytes, a, b) => {
          const buf = Buffer.from(bytes);
          const offset = buf.length === 0 ? 0 : a % (buf.length + 1);
          const end = offset + (buf.length - offset === 0 ? 0 : b % (buf.length - offset + 1));
          onlyTypedErrors(() => t.codec.decode(buf, offset, end));
          onlyTypedErrors(() => t.codec.decode(buf));
        }),
        { numRuns: RUNS },
      );
    });

    it(`${t.codec.name}: mutated valid encodings give DecodeError, or a repr that re-encodes`, () => {
      fc.assert(
        fc.property(t.arb, fc.array(arbMutation, { minLength: 1, maxLength: 4 }), (repr, mutations) => {
          const bytes = mutate(t.encode(repr), mutations);
          let decoded: unknown;
          onlyTypedErrors(() => {
            decoded = t.codec.decode(bytes);
          });
          // Whatever decodes must encode again without an untyped failure.
          if (decoded !== undefined)
            onlyTypedErrors(
              () => t.codec.encode(decoded),
              (e) => e instanceof PodnetError,
            );
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('dissect, reassemble and the printer never throw on mutated frames', () => {
    const arbFrame = fc.tuple(arbEthernetRepr(), arbIpv4Repr(), arbTcpRepr()).map(([eth, ip, seg]) => {
      const l4 = tcp.encode(seg, undefined, 0, { src: ip.src, dst: ip.dst });
      const l3 = ipv4.encode({ ...ip, protocol: ipv4.IpProtocol.TCP, fragmentOffset: 0, moreFragments: false, payload: l4 });
      return ethernet.encode({ ...eth, vlans: [], etherType: ethernet.EtherType.IPv4, payload: l3 });
    });
    fc.assert(
      fc.property(arbFrame, fc.array(arbMutation, { maxLength: 4 }), (frame, mutations) => {
        const bytes = mutate(frame, mutations);
        const d = dissect(bytes);
        expect(typeof formatDissection(d)).toBe('string');
        if (d.error === undefined) expect(reassemble(d).equals(bytes)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('pcap: random and mutated files give PcapError or records', () => {
    const isPcapError = (e: unknown) => e instanceof PodnetError && e.code === 'PODNET_ERR_PCAP';
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        onlyTypedErrors(() => pcap.decode(Buffer.from(bytes)), isPcapError);
      }),
      { numRuns: RUNS },
    );
    const valid = pcap.encode({
      header: pcap.defaultHeader(),
      records: [
        { seconds: 1, nanoseconds: 1000, originalLength: 4, data: Buffer.from([1, 2, 3, 4]) },
        { seconds: 2, nanoseconds: 2000, originalLength: 60, data: Buffer.alloc(60, 7) },
      ],
    });
    fc.assert(
      fc.property(fc.array(arbMutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        onlyTypedErrors(() => pcap.decode(mutate(valid, mutations)), isPcapError);
      }),
      { numRuns: RUNS },
    );
  });
});
