// ARP (RFC 826; net/ipv4/arp.c): answering requests for our addresses, learning from what we
// hear, and building the requests the neighbour cache sends.
import { arp, type Ipv4Address, MAC_BROADCAST, MAC_ZERO, type MacAddress, packetPool, writeIpv4, writeMac } from '@podnet/wire';

export const ETHERTYPE_ARP = 0x0806;
const ARP_AT = 14;
const FRAME_LENGTH = ARP_AT + arp.LENGTH;

/** An Ethernet frame carrying an ARP packet (not padded to 60 bytes: the padding is a NIC's job). */
export function arpFrame(
  operation: number,
  senderMac: MacAddress,
  senderIp: Ipv4Address,
  targetMac: MacAddress,
  targetIp: Ipv4Address,
  dstMac: MacAddress,
): Buffer {
  const f = packetPool.alloc(FRAME_LENGTH);
  writeMac(f, 0, dstMac);
  writeMac(f, 6, senderMac);
  f.writeUInt16BE(ETHERTYPE_ARP, 12);
  f.writeUInt16BE(arp.HTYPE_ETHERNET, ARP_AT);
  f.writeUInt16BE(arp.PTYPE_IPV4, ARP_AT + 2);
  f[ARP_AT + 4] = 6;
  f[ARP_AT + 5] = 4;
  f.writeUInt16BE(operation, ARP_AT + 6);
  writeMac(f, ARP_AT + 8, senderMac);
  writeIpv4(f, ARP_AT + 14, senderIp);
  writeMac(f, ARP_AT + 18, targetMac);
  writeIpv4(f, ARP_AT + 24, targetIp);
  return f;
}

/** A who-has request (target MAC zero, RFC 826), broadcast unless `to` is given (a unicast re-probe). */
export function arpRequest(senderMac: MacAddress, senderIp: Ipv4Address, targetIp: Ipv4Address, to?: MacAddress): Buffer {
  return arpFrame(arp.ArpOperation.Request, senderMac, senderIp, MAC_ZERO, targetIp, to ?? MAC_BROADCAST);
}
