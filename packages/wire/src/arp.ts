// ARP for IPv4 over Ethernet (RFC 826).
//
//  0       2       4    5    6       8                 14          18                24          28
//  +-------+-------+----+----+-------+-----------------+-----------+-----------------+-----------+
//  | htype | ptype |hlen|plen| oper  | sender MAC      | sender IP | target MAC      | target IP |
//  +-------+-------+----+----+-------+-----------------+-----------+-----------------+-----------+
import type { Ipv4Address, MacAddress } from './address.js';
import { type Codec } from './codec.js';

export const ArpOperation = { Request: 1, Reply: 2 } as const;
export const HTYPE_ETHERNET = 1;
export const PTYPE_IPV4 = 0x0800;
export const LENGTH = 28;

export interface ArpRepr {
  /** Hardware type; 1 (Ethernet). Decode refuses other hlen/plen than 6/4 with a DecodeError. */
  htype: number;
  /** Protocol type; 0x0800 (IPv4). */
  ptype: number;
  /** 1 request, 2 reply; other values kept. */
  operation: number;
  senderMac: MacAddress;
  senderIp: Ipv4Address;
  targetMac: MacAddress;
  targetIp: Ipv4Address;
}

export declare function decode(buf: Buffer, offset?: number, end?: number): ArpRepr;
export declare function encode(repr: ArpRepr, buf?: Buffer, offset?: number): Buffer;
export declare function encodingLength(repr: ArpRepr): number;

export const codec = { name: 'arp', decode, encode, encodingLength } satisfies Codec<ArpRepr>;
