// Rewriting a packet in place to a NAT target tuple (nf_nat_proto.c nf_nat_ipv4_manip_pkt and the
// l4proto manip functions), keeping every checksum right with RFC 1624 incremental updates: the
// IPv4 header checksum for the address, the TCP/UDP checksum for the pseudo-header address and the
// port, the ICMP checksum for a query identifier; SCTP's CRC32c has no pseudo-header and is
// recomputed over the packet when a port changes (RFC 9260 §6.8).
import { internetChecksum, sctp, updateChecksum16, updateChecksum32 } from '@podnet/wire';
import type { NatManip, Tuple } from '../conntrack/contract.js';
import { PROTO_ICMP, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../conntrack/tuple.js';

const ICMP_QUERY_TYPES: ReadonlySet<number> = new Set([0, 8, 13, 14, 15, 16, 17, 18]);

const u16 = (b: Buffer, at: number): number => ((b[at] as number) << 8) | (b[at + 1] as number);
const put16 = (b: Buffer, at: number, v: number): void => {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
};

/**
 * Rewrites the source (SRC) or destination (DST) address and port of the IPv4 packet at
 * buf[l3, end) to those of `target`. `quoted` marks a packet quoted inside an ICMP error, whose
 * transport header may be cut after 8 bytes: its checksum is then left alone, as Linux does
 * ("we cannot update the checksum field since it is outside of the 8 bytes ... we are guaranteed").
 */
export function manipPacket(buf: Buffer, l3: number, end: number, target: Tuple, manip: NatManip, quoted: boolean): void {
  const ihl = ((buf[l3] as number) & 0x0f) * 4;
  const protocol = buf[l3 + 9] as number;
  const addrAt = l3 + (manip === 'SRC' ? 12 : 16);
  const oldAddr = buf.readUInt32BE(addrAt);
  const newAddr = (manip === 'SRC' ? target.src : target.dst) >>> 0;
  const l4 = l3 + ihl;
  const available = end - l4;
  const nonFirstFragment = (u16(buf, l3 + 6) & 0x1fff) !== 0;
  if (!nonFirstFragment) manipL4(buf, protocol, l4, available, end, oldAddr, newAddr, target, manip, quoted);
  if (oldAddr !== newAddr) {
    put16(buf, l3 + 10, updateChecksum32(u16(buf, l3 + 10), oldAddr, newAddr));
    buf.writeUInt32BE(newAddr, addrAt);
  }
}

function manipL4(
  buf: Buffer,
  protocol: number,
  l4: number,
  available: number,
  end: number,
  oldAddr: number,
  newAddr: number,
  target: Tuple,
  manip: NatManip,
  quoted: boolean,
): void {
  const portAt = l4 + (manip === 'SRC' ? 0 : 2);
  const newPort = manip === 'SRC' ? target.srcPort : target.dstPort;
  switch (protocol) {
    case PROTO_TCP: {
      if (available < 4) return;
      const oldPort = u16(buf, portAt);
      put16(buf, portAt, newPort);
      if (available < 20) return; // a quote cut after 8 bytes: the checksum is not there
      let c = u16(buf, l4 + 16);
      c = updateChecksum32(c, oldAddr, newAddr);
      c = updateChecksum16(c, oldPort, newPort);
      put16(buf, l4 + 16, c);
      return;
    }
    case PROTO_UDP: {
      if (available < 8) return;
      const oldPort = u16(buf, portAt);
      put16(buf, portAt, newPort);
      const old = u16(buf, l4 + 6);
      if (old === 0) return; // no checksum (RFC 768): stays none
      let c = updateChecksum32(old, oldAddr, newAddr);
      c = updateChecksum16(c, oldPort, newPort);
      put16(buf, l4 + 6, c === 0 ? 0xffff : c); // CSUM_MANGLED_0: 0 would mean "no checksum"
      return;
    }
    case PROTO_SCTP: {
      if (available < 4) return;
      const oldPort = u16(buf, portAt);
      put16(buf, portAt, newPort);
      if (quoted || available < 12 || oldPort === newPort) return;
      buf.writeUInt32LE(0, l4 + 8);
      buf.writeUInt32LE(sctp.crc32c(buf, l4, end), l4 + 8);
      return;
    }
    case PROTO_ICMP: {
      if (available < 8 || !ICMP_QUERY_TYPES.has(buf[l4] as number)) return;
      // icmp_manip_pkt: the query identifier is the "port" of both directions.
      const oldId = u16(buf, l4 + 4);
      const newId = target.srcPort;
      if (oldId === newId) return;
      put16(buf, l4 + 2, updateChecksum16(u16(buf, l4 + 2), oldId, newId));
      put16(buf, l4 + 4, newId);
      return;
    }
    default:
      return;
  }
}

/** Recomputes an ICMP message's checksum over buf[l4, end) (after its quoted packet was rewritten). */
export function recomputeIcmpChecksum(buf: Buffer, l4: number, end: number): void {
  put16(buf, l4 + 2, 0);
  put16(buf, l4 + 2, internetChecksum(buf, l4, end));
}
