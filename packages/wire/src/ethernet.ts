// Ethernet II framing (IEEE 802.3 clause 3.2.6 / RFC 894), with IEEE 802.1Q VLAN tags.
//
//  0                   6                   12      14
//  +-------------------+-------------------+-------+----------------
//  | destination MAC   | source MAC        | type  | payload ...
//  +-------------------+-------------------+-------+----------------
//  With 802.1Q, each tag (TPID 0x8100 or 0x88a8, then PCP:3 DEI:1 VID:12) sits before the type.

import { type MacAddress, readMac, writeMac } from './address.js';
import { put16, u16 } from './bytes.js';
import { type Codec, outputBuffer, writePayload } from './codec.js';
import { checkBounds, EncodeError, needBytes } from './errors.js';

export const EtherType = {
  IPv4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  QinQ: 0x88a8,
  IPv6: 0x86dd,
} as const;

export const DST_OFFSET = 0;
export const SRC_OFFSET = 6;
export const TYPE_OFFSET = 12;
export const HEADER_LENGTH = 14;
export const VLAN_TAG_LENGTH = 4;
/** Minimum frame without FCS (64 - 4): shorter frames are padded on the wire. */
export const MIN_FRAME_LENGTH = 60;

export interface VlanTag {
  /** Tag protocol identifier: 0x8100 (802.1Q) or 0x88a8 (802.1ad). */
  tpid: number;
  /** Priority code point, 3 bits. */
  pcp: number;
  /** Drop eligible indicator. */
  dei: boolean;
  /** VLAN identifier, 12 bits. */
  vid: number;
}

export interface EthernetRepr {
  dst: MacAddress;
  src: MacAddress;
  /** 802.1Q/802.1ad tags, outermost first; empty for an untagged frame. */
  vlans: VlanTag[];
  /** The EtherType after the tags; unknown values are kept as numbers. */
  etherType: number;
  /** Everything after the header, including any padding (a view, not a copy). */
  payload: Buffer;
}

const NAMES: Record<number, string> = { 2048: 'IPv4', 2054: 'ARP', 33024: '802.1Q', 34984: '802.1ad', 34525: 'IPv6' };

function isVlanTpid(type: number): boolean {
  return type === EtherType.VLAN || type === EtherType.QinQ;
}

export function decode(buf: Buffer, offset = 0, end?: number): EthernetRepr {
  const e = checkBounds('ethernet', buf, offset, end);
  needBytes('ethernet', offset, e, HEADER_LENGTH);
  const dst = readMac(buf, offset + DST_OFFSET);
  const src = readMac(buf, offset + SRC_OFFSET);
  let at = offset + TYPE_OFFSET;
  let type = u16(buf, at);
  const vlans: VlanTag[] = [];
  // 802.1Q §9.6: a tag is the TPID followed by the TCI; 802.1ad stacks them (QinQ).
  while (isVlanTpid(type)) {
    needBytes('ethernet', at, e, VLAN_TAG_LENGTH + 2, '802.1Q tag');
    const tci = u16(buf, at + 2);
    vlans.push({ tpid: type, pcp: tci >>> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0x0fff });
    at += VLAN_TAG_LENGTH;
    type = u16(buf, at);
  }
  return { dst, src, vlans, etherType: type, payload: buf.subarray(at + 2, e) };
}

export function encodingLength(repr: EthernetRepr): number {
  return HEADER_LENGTH + repr.vlans.length * VLAN_TAG_LENGTH + repr.payload.length;
}

export function encode(repr: EthernetRepr, buf?: Buffer, offset = 0): Buffer {
  const out = outputBuffer('ethernet', encodingLength(repr), buf, offset);
  if (!(repr.etherType >= 0 && repr.etherType <= 0xffff && Number.isInteger(repr.etherType))) {
    throw new EncodeError('ethernet', `EtherType ${repr.etherType} is not a 16-bit number`);
  }
  writeMac(out, offset + DST_OFFSET, repr.dst);
  writeMac(out, offset + SRC_OFFSET, repr.src);
  let at = offset + TYPE_OFFSET;
  for (const tag of repr.vlans) {
    if (tag.vid < 0 || tag.vid > 0xfff || tag.pcp < 0 || tag.pcp > 7 || !isVlanTpid(tag.tpid)) {
      throw new EncodeError('ethernet', `bad VLAN tag (tpid 0x${tag.tpid.toString(16)}, pcp ${tag.pcp}, vid ${tag.vid})`);
    }
    put16(out, at, tag.tpid);
    out.writeUInt16BE((tag.pcp << 13) | (tag.dei ? 0x1000 : 0) | tag.vid, at + 2);
    at += VLAN_TAG_LENGTH;
  }
  put16(out, at, repr.etherType);
  writePayload(repr.payload, out, at + 2);
  return out;
}

export function etherTypeName(etherType: number): string {
  return NAMES[etherType] ?? `0x${etherType.toString(16).padStart(4, '0')}`;
}

export const codec = { name: 'ethernet', decode, encode, encodingLength } satisfies Codec<EthernetRepr>;

/**
 * A zero-copy view of the Ethernet header at buf[offset]: the data plane reads and rewrites
 * fields in place instead of building a Repr (DESIGN §6.1). `at` validates like decode.
 */
export class EthernetView {
  private constructor(
    readonly buf: Buffer,
    readonly offset: number,
    readonly end: number,
    /** Offset of the EtherType after any 802.1Q tags. */
    readonly typeOffset: number,
  ) {}

  static at(buf: Buffer, offset = 0, end?: number): EthernetView {
    const e = checkBounds('ethernet', buf, offset, end);
    needBytes('ethernet', offset, e, HEADER_LENGTH);
    let at = offset + TYPE_OFFSET;
    while (isVlanTpid(u16(buf, at))) {
      needBytes('ethernet', at, e, VLAN_TAG_LENGTH + 2, '802.1Q tag');
      at += VLAN_TAG_LENGTH;
    }
    return new EthernetView(buf, offset, e, at);
  }

  get dst(): MacAddress {
    return readMac(this.buf, this.offset + DST_OFFSET);
  }
  set dst(mac: MacAddress) {
    writeMac(this.buf, this.offset + DST_OFFSET, mac);
  }
  get src(): MacAddress {
    return readMac(this.buf, this.offset + SRC_OFFSET);
  }
  set src(mac: MacAddress) {
    writeMac(this.buf, this.offset + SRC_OFFSET, mac);
  }
  get etherType(): number {
    return u16(this.buf, this.typeOffset);
  }
  /** Where the payload starts in buf. */
  get payloadOffset(): number {
    return this.typeOffset + 2;
  }
}
