// ARP for IPv4 over Ethernet (RFC 826).
//
//  0       2       4    5    6       8                 14          18                24          28
//  +-------+-------+----+----+-------+-----------------+-----------+-----------------+-----------+
//  | htype | ptype |hlen|plen| oper  | sender MAC      | sender IP | target MAC      | target IP |
//  +-------+-------+----+----+-------+-----------------+-----------+-----------------+-----------+

import type { Ipv4Address, MacAddress } from './address.js';
import { readIpv4, readMac, writeIpv4, writeMac } from './address.js';
import { put16, u16 } from './bytes.js';
import { type Codec, outputBuffer } from './codec.js';
import { checkBounds, DecodeError, EncodeError, needBytes } from './errors.js';

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

const HTYPE_OFFSET = 0;
const PTYPE_OFFSET = 2;
const HLEN_OFFSET = 4;
const PLEN_OFFSET = 5;
const OPER_OFFSET = 6;
const SHA_OFFSET = 8;
const SPA_OFFSET = 14;
const THA_OFFSET = 18;
const TPA_OFFSET = 24;

export function decode(buf: Buffer, offset = 0, end?: number): ArpRepr {
  const e = checkBounds('arp', buf, offset, end);
  needBytes('arp', offset, e, 8);
  const hlen = buf[offset + HLEN_OFFSET] as number;
  const plen = buf[offset + PLEN_OFFSET] as number;
  // RFC 826 is generic over hardware and protocol sizes; podnet carries only Ethernet/IPv4.
  if (hlen !== 6 || plen !== 4) {
    throw new DecodeError('arp', offset + HLEN_OFFSET, `hardware/protocol address lengths ${hlen}/${plen} are not Ethernet/IPv4 (6/4)`);
  }
  needBytes('arp', offset, e, LENGTH);
  return {
    htype: u16(buf, offset + HTYPE_OFFSET),
    ptype: u16(buf, offset + PTYPE_OFFSET),
    operation: u16(buf, offset + OPER_OFFSET),
    senderMac: readMac(buf, offset + SHA_OFFSET),
    senderIp: readIpv4(buf, offset + SPA_OFFSET),
    targetMac: readMac(buf, offset + THA_OFFSET),
    targetIp: readIpv4(buf, offset + TPA_OFFSET),
  };
}

export function encodingLength(_repr: ArpRepr): number {
  return LENGTH;
}

export function encode(repr: ArpRepr, buf?: Buffer, offset = 0): Buffer {
  const out = outputBuffer('arp', LENGTH, buf, offset);
  for (const [name, v] of [
    ['htype', repr.htype],
    ['ptype', repr.ptype],
    ['operation', repr.operation],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new EncodeError('arp', `${name} ${v} is not a 16-bit number`);
  }
  put16(out, offset + HTYPE_OFFSET, repr.htype);
  put16(out, offset + PTYPE_OFFSET, repr.ptype);
  out[offset + HLEN_OFFSET] = 6;
  out[offset + PLEN_OFFSET] = 4;
  put16(out, offset + OPER_OFFSET, repr.operation);
  writeMac(out, offset + SHA_OFFSET, repr.senderMac);
  writeIpv4(out, offset + SPA_OFFSET, repr.senderIp);
  writeMac(out, offset + THA_OFFSET, repr.targetMac);
  writeIpv4(out, offset + TPA_OFFSET, repr.targetIp);
  return out;
}

export const codec = { name: 'arp', decode, encode, encodingLength } satisfies Codec<ArpRepr>;
