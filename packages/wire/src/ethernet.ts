// Ethernet II framing (IEEE 802.3 clause 3.2.6 / RFC 894), with IEEE 802.1Q VLAN tags.
//
//  0                   6                   12      14
//  +-------------------+-------------------+-------+----------------
//  | destination MAC   | source MAC        | type  | payload ...
//  +-------------------+-------------------+-------+----------------
//  With 802.1Q, each tag (TPID 0x8100 or 0x88a8, then PCP:3 DEI:1 VID:12) sits before the type.
import type { MacAddress } from './address.js';
import { type Codec } from './codec.js';

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

export declare function decode(buf: Buffer, offset?: number, end?: number): EthernetRepr;
export declare function encode(repr: EthernetRepr, buf?: Buffer, offset?: number): Buffer;
export declare function encodingLength(repr: EthernetRepr): number;
/** "IPv4", "ARP", "802.1Q", "IPv6", or "0x88cc" for others. */
export declare function etherTypeName(etherType: number): string;

export const codec = { name: 'ethernet', decode, encode, encodingLength } satisfies Codec<EthernetRepr>;
