// The generated decoders must give what protobufjs' decode + toObject({longs: Number}) gives
// (with IntOrString as a bare value), for every field shape protobuf has, and skip what they do
// not know. The reference here is protobufjs itself on the same schema.
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { encodeWatchEvent } from './proto.ts';
import { compileDecoders } from './proto-json-decoder.ts';

const SCHEMA = `
syntax = "proto3";
package t;
message IntOrString { oneof value { int32 intVal = 1; string strVal = 2; } }
enum Colour { RED = 0; GREEN = 1; }
message Inner { string name = 1; optional bool ready = 2; Inner child = 3; }
message All {
  string s = 1;
  optional bool b = 2;
  optional int32 i32 = 3;
  optional int64 i64 = 4;
  optional uint32 u32 = 5;
  optional sint32 s32 = 6;
  optional sint64 s64 = 7;
  optional double d = 8;
  optional float f = 9;
  bytes raw = 10;
  Colour colour = 11;
  map<string, string> labels = 12;
  map<string, Inner> byName = 13;
  repeated int32 packed = 14;
  repeated string words = 15;
  repeated Inner items = 16;
  IntOrString port = 17;
  repeated IntOrString ports = 18;
  Inner inner = 19;
  optional fixed32 fx32 = 20;
  optional sfixed64 sfx64 = 21;
}
// All, plus a field the decoder's schema does not have (a newer sender).
message AllPlus {
  string s = 1;
  string future = 99;
  repeated int32 packed = 14;
}
`;

const root = protobuf.parse(SCHEMA, { keepCase: true }).root;
root.resolveAll();
const All = root.lookupType('t.All');
const AllPlus = root.lookupType('t.AllPlus');
const IntOrString = root.lookupType('t.IntOrString');
const decoderOf = compileDecoders(All, IntOrString);

type Json = Record<string, unknown>;
const decode = (bytes: Uint8Array): Json => decoderOf(All)(new protobuf.Reader(bytes), bytes.length, {});

/** protobufjs' own decode, toObject, then IntOrString messages → bare values (the previous watch decoder). */
function reference(bytes: Uint8Array): Json {
  const o = All.toObject(All.decode(bytes), { longs: Number, bytes: Uint8Array as unknown as typeof Buffer }) as Json;
  const bare = (x: unknown) => (x as Json).intVal ?? (x as Json).strVal;
  if (o.port !== undefined) {
    const v = bare(o.port);
    if (v === undefined) delete o.port;
    else o.port = v;
  }
  if (Array.isArray(o.ports)) o.ports = o.ports.map(bare);
  return o;
}

const encode = (payload: Json) => All.encode(All.fromObject(payload)).finish();

const inner: fc.Arbitrary<Json> = fc.letrec((tie) => ({
  node: fc.record(
    {
      name: fc.string(),
      ready: fc.boolean(),
      child: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.constant(undefined), tie('node')),
    },
    { requiredKeys: [] },
  ),
})).node as fc.Arbitrary<Json>;

const intOrString = fc.oneof(fc.record({ intVal: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }), fc.record({ strVal: fc.string() }));

const all: fc.Arbitrary<Json> = fc.record(
  {
    s: fc.string(),
    b: fc.boolean(),
    i32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    i64: fc.maxSafeInteger(),
    u32: fc.nat({ max: 2 ** 32 - 1 }),
    s32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    s64: fc.maxSafeInteger(),
    d: fc.double({ noNaN: true }),
    f: fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).map((x) => Math.fround(x)),
    raw: fc.uint8Array({ maxLength: 8 }),
    colour: fc.constantFrom(0, 1),
    labels: fc.dictionary(fc.string(), fc.string(), { maxKeys: 4 }),
    byName: fc.dictionary(fc.string(), inner, { maxKeys: 3 }),
    packed: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 6 }),
    words: fc.array(fc.string(), { maxLength: 4 }),
    items: fc.array(inner, { maxLength: 3 }),
    port: intOrString,
    ports: fc.array(intOrString, { maxLength: 3 }),
    inner,
    fx32: fc.nat({ max: 2 ** 32 - 1 }),
    sfx64: fc.maxSafeInteger(),
  },
  { requiredKeys: [] },
);

describe('generated protobuf → JSON decoders', () => {
  it('decode exactly what protobufjs decode + toObject gives, for every field shape (property)', () => {
    fc.assert(
      fc.property(all, (payload) => {
        const bytes = encode(payload);
        expect(decode(bytes)).toEqual(reference(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it('keep a map key "__proto__" as an own entry, never as the prototype', () => {
    const decoded = decode(encode({ labels: JSON.parse('{"__proto__":"x","app":"web"}') }));
    const labels = decoded.labels as Record<string, string>;
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
    expect(Object.keys(labels).sort()).toEqual(['__proto__', 'app']);
    expect(Object.getOwnPropertyDescriptor(labels, '__proto__')?.value).toBe('x');
  });

  it('turn IntOrString into the bare number or string, and leave an empty one out', () => {
    expect(decode(encode({ port: { intVal: 8080 }, ports: [{ strVal: 'http' }, { intVal: 0 }] }))).toEqual({
      port: 8080,
      ports: ['http', 0],
    });
    expect(decode(encode({ port: {} }))).toEqual({});
  });

  it('keep zero values that were sent, empty sub-messages as {}, and 64-bit integers as numbers', () => {
    expect(decode(encode({ b: false, i32: 0, inner: {}, i64: 2 ** 40 + 3 }))).toEqual({ b: false, i32: 0, inner: {}, i64: 2 ** 40 + 3 });
  });

  it('read packed and unpacked repeated scalars alike, and skip unknown fields (a newer sender)', () => {
    const bytes = AllPlus.encode(AllPlus.fromObject({ s: 'x', future: 'ignored', packed: [1, -2, 300] })).finish();
    expect(decode(bytes)).toEqual({ s: 'x', packed: [1, -2, 300] });
    // Unpacked: each element its own varint-tagged field (what proto2 senders write).
    const w = protobuf.Writer.create();
    for (const v of [5, 6]) w.uint32((14 << 3) | 0).int32(v);
    expect(decode(w.finish())).toEqual({ packed: [5, 6] });
  });

  it('refuse a truncated message with a RangeError instead of returning half an object', () => {
    const bytes = encode({ s: 'hello', items: [{ name: 'a' }, { name: 'b' }] });
    expect(() => decode(bytes.subarray(0, bytes.length - 2))).toThrow(RangeError);
  });

  it('decode the watch schema messages the API server encodes (one EndpointSlice frame)', async () => {
    const { decodeWatchEvent } = await import('./proto.ts');
    const object = {
      kind: 'EndpointSlice',
      apiVersion: 'discovery.k8s.io/v1',
      metadata: { name: 's', namespace: 'default', resourceVersion: '7', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-1' }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    };
    const frame = encodeWatchEvent({ type: 'MODIFIED', object });
    expect(decodeWatchEvent(frame)).toEqual({ type: 'MODIFIED', resourceVersion: '7', object });
    // A WebSocket frame arrives as a Buffer: the same result.
    expect(decodeWatchEvent(Buffer.from(frame))).toEqual({ type: 'MODIFIED', resourceVersion: '7', object });
  });
});
