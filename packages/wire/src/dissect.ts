// Layered decoding of one Ethernet frame: Ethernet → ARP | IPv4 → ICMP | UDP | TCP | SCTP, and
// UDP to a VXLAN port → VXLAN → the inner Ethernet frame, again. Used by the printer, the
// `podnet pcap read` command and tests. It never throws on bad bytes: decoding stops at the
// first DecodeError, which is recorded with everything decoded before it.
import { formatIpv4, formatMac } from './address.js';
import * as arp from './arp.js';
import { DecodeError } from './errors.js';
import * as ethernet from './ethernet.js';
import * as icmpv4 from './icmpv4.js';
import * as ipv4 from './ipv4.js';
import * as sctp from './sctp.js';
import * as tcp from './tcp.js';
import * as udp from './udp.js';
import * as vxlan from './vxlan.js';

export type Layer =
  | { protocol: 'ethernet'; offset: number; repr: ethernet.EthernetRepr }
  | { protocol: 'arp'; offset: number; repr: arp.ArpRepr }
  | { protocol: 'ipv4'; offset: number; repr: ipv4.Ipv4Repr; checksumOk: boolean; trailer: Buffer }
  | { protocol: 'icmp'; offset: number; repr: icmpv4.Icmpv4Repr; checksumOk: boolean }
  | { protocol: 'udp'; offset: number; repr: udp.UdpRepr; checksumOk: boolean | 'none' }
  | { protocol: 'tcp'; offset: number; repr: tcp.TcpRepr; checksumOk: boolean }
  | { protocol: 'sctp'; offset: number; repr: sctp.SctpRepr; checksumOk: boolean }
  | { protocol: 'vxlan'; offset: number; repr: vxlan.VxlanRepr };

export interface Dissection {
  frame: Buffer;
  layers: Layer[];
  /** The decode error that stopped dissection, if any (e.g. a truncated TCP header). */
  error?: DecodeError;
}

export interface DissectOptions {
  /** UDP destination ports decoded as VXLAN (default: the IANA port 4789). */
  vxlanPorts?: readonly number[];
}

const DEFAULT_VXLAN_PORTS = [vxlan.UDP_PORT] as const;
/** Nesting bound: a VXLAN frame inside a VXLAN frame inside ... stops here. */
const MAX_DEPTH = 8;

export function dissect(frame: Buffer, options: DissectOptions = {}): Dissection {
  const layers: Layer[] = [];
  const d: Dissection = { frame, layers };
  const vxlanPorts = options.vxlanPorts ?? DEFAULT_VXLAN_PORTS;
  try {
    dissectEthernet(frame, 0, frame.length, layers, vxlanPorts, 0);
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
    d.error = error;
  }
  return d;
}

/** Decoders report offsets relative to the view they were given; make them frame offsets. */
function at<T>(protocol: string, base: number, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof DecodeError && base !== 0) throw new DecodeError(protocol, base + error.offset, error.reason);
    throw error;
  }
}

function dissectEthernet(frame: Buffer, offset: number, end: number, layers: Layer[], vxlanPorts: readonly number[], depth: number): void {
  const eth = ethernet.decode(frame, offset, end);
  layers.push({ protocol: 'ethernet', offset, repr: eth });
  const next = end - eth.payload.length;
  if (eth.etherType === ethernet.EtherType.ARP) {
    layers.push({ protocol: 'arp', offset: next, repr: arp.decode(frame, next, end) });
  } else if (eth.etherType === ethernet.EtherType.IPv4) {
    dissectIpv4(frame, next, end, layers, vxlanPorts, depth);
  }
}

function dissectIpv4(frame: Buffer, offset: number, end: number, layers: Layer[], vxlanPorts: readonly number[], depth: number): void {
  const ip = ipv4.decode(frame, offset, end);
  const headerLen = ipv4.headerLength(ip);
  const l4 = offset + headerLen;
  const l4End = l4 + ip.payload.length;
  layers.push({ protocol: 'ipv4', offset, repr: ip, checksumOk: ipv4.checksumValid(frame, offset), trailer: frame.subarray(l4End, end) });
  // Only a first fragment carries the transport header (RFC 791 §3.2).
  if (ip.fragmentOffset !== 0) return;
  const whole = !ip.moreFragments;
  switch (ip.protocol) {
    case ipv4.IpProtocol.ICMP: {
      const repr = at('icmp', 0, () => icmpv4.decode(frame, l4, l4End));
      layers.push({ protocol: 'icmp', offset: l4, repr, checksumOk: whole && icmpv4.checksumValid(frame, l4, l4End) });
      return;
    }
    case ipv4.IpProtocol.UDP: {
      const repr = udp.decode(frame, l4, l4End);
      const checksumOk = repr.checksum === 0 ? 'none' : whole && udp.checksumValid(frame, l4, l4End, ip);
      layers.push({ protocol: 'udp', offset: l4, repr, checksumOk });
      if (whole && vxlanPorts.includes(repr.dstPort) && depth < MAX_DEPTH) {
        const vxAt = l4 + udp.HEADER_LENGTH;
        const vxEnd = vxAt + repr.payload.length;
        const vx = vxlan.decode(frame, vxAt, vxEnd);
        layers.push({ protocol: 'vxlan', offset: vxAt, repr: vx });
        dissectEthernet(frame, vxAt + vxlan.HEADER_LENGTH, vxEnd, layers, vxlanPorts, depth + 1);
      }
      return;
    }
    case ipv4.IpProtocol.TCP: {
      const repr = tcp.decode(frame, l4, l4End);
      layers.push({ protocol: 'tcp', offset: l4, repr, checksumOk: whole && tcp.checksumValid(frame, l4, l4End, ip) });
      return;
    }
    case ipv4.IpProtocol.SCTP: {
      const repr = sctp.decode(frame, l4, l4End);
      layers.push({ protocol: 'sctp', offset: l4, repr, checksumOk: whole && sctp.checksumValid(frame, l4, l4End) });
      return;
    }
  }
}

/**
 * Re-encodes a dissection from its innermost layer out, each layer's payload being the bytes
 * of the layer inside it. For a dissection without error this gives back `d.frame` exactly:
 * it is how tests prove that decoding lost nothing.
 */
export function reassemble(d: Dissection): Buffer {
  let inner: Buffer | undefined;
  for (let i = d.layers.length - 1; i >= 0; i--) {
    const layer = d.layers[i] as Layer;
    inner = encodeLayer(layer, inner, d.layers[i - 1]);
  }
  return inner ?? Buffer.alloc(0);
}

function encodeLayer(layer: Layer, inner: Buffer | undefined, outer: Layer | undefined): Buffer {
  switch (layer.protocol) {
    case 'ethernet':
      return ethernet.encode({ ...layer.repr, payload: inner ?? layer.repr.payload });
    case 'arp':
      return arp.encode(layer.repr);
    case 'ipv4': {
      const payload = inner ?? layer.repr.payload;
      const datagram = ipv4.encode({ ...layer.repr, payload });
      return layer.trailer.length > 0 ? Buffer.concat([datagram, layer.trailer]) : datagram;
    }
    case 'icmp':
      return icmpv4.encode(layer.repr);
    case 'udp': {
      const pseudo = outer?.protocol === 'ipv4' ? outer.repr : undefined;
      return udp.encode({ ...layer.repr, payload: inner ?? layer.repr.payload }, undefined, 0, pseudo);
    }
    case 'tcp': {
      const pseudo = outer?.protocol === 'ipv4' ? outer.repr : undefined;
      return tcp.encode(layer.repr, undefined, 0, pseudo);
    }
    case 'sctp':
      return sctp.encode(layer.repr);
    case 'vxlan':
      return vxlan.encode({ ...layer.repr, payload: inner ?? layer.repr.payload });
  }
}

const hex = (b: Buffer) => b.toString('hex');

/** Every decoded field as plain JSON: addresses as text, flags by name, payloads as lengths and hex. */
export function dissectionToJson(d: Dissection): unknown {
  return {
    length: d.frame.length,
    layers: d.layers.map(layerToJson),
    ...(d.error ? { error: { protocol: d.error.protocol, offset: d.error.offset, reason: d.error.reason } } : {}),
  };
}

function layerToJson(layer: Layer): Record<string, unknown> {
  const base = { protocol: layer.protocol, offset: layer.offset };
  switch (layer.protocol) {
    case 'ethernet': {
      const r = layer.repr;
      return {
        ...base,
        dst: formatMac(r.dst),
        src: formatMac(r.src),
        vlans: r.vlans,
        etherType: r.etherType,
        etherTypeName: ethernet.etherTypeName(r.etherType),
        payloadLength: r.payload.length,
      };
    }
    case 'arp': {
      const r = layer.repr;
      return {
        ...base,
        htype: r.htype,
        ptype: r.ptype,
        operation: r.operation === 1 ? 'request' : r.operation === 2 ? 'reply' : r.operation,
        senderMac: formatMac(r.senderMac),
        senderIp: formatIpv4(r.senderIp),
        targetMac: formatMac(r.targetMac),
        targetIp: formatIpv4(r.targetIp),
      };
    }
    case 'ipv4': {
      const r = layer.repr;
      let options: unknown = [];
      try {
        options = ipv4
          .parseOptions(r.options)
          .map((o) =>
            o.kind === 'record-route' ? { ...o, addresses: o.addresses.map(formatIpv4) } : 'data' in o ? { ...o, data: hex(o.data) } : o,
          );
      } catch {
        options = { malformed: hex(r.options) };
      }
      return {
        ...base,
        headerLength: ipv4.headerLength(r),
        totalLength: ipv4.headerLength(r) + r.payload.length,
        dscp: r.dscp,
        ecn: r.ecn,
        identification: r.identification,
        flags: { reserved: r.reservedFlag, dontFragment: r.dontFragment, moreFragments: r.moreFragments },
        fragmentOffset: r.fragmentOffset,
        ttl: r.ttl,
        // "protocol" names the layer; the IPv4 field is "proto", as tshark calls it (ip.proto).
        proto: r.protocol,
        protoName: ipv4.protocolName(r.protocol),
        checksum: r.checksum,
        checksumOk: layer.checksumOk,
        src: formatIpv4(r.src),
        dst: formatIpv4(r.dst),
        options,
        ...(layer.trailer.length > 0 ? { trailer: hex(layer.trailer) } : {}),
      };
    }
    case 'icmp': {
      const r = layer.repr;
      const fields: Record<string, unknown> = {
        ...base,
        type: icmpv4.typeOf(r),
        kind: r.kind,
        code: r.code,
        checksum: r.checksum,
        checksumOk: layer.checksumOk,
      };
      if (r.kind === 'echo-request' || r.kind === 'echo-reply')
        Object.assign(fields, { identifier: r.identifier, sequence: r.sequence, dataLength: r.data.length });
      else if (r.kind === 'destination-unreachable')
        Object.assign(fields, { unused: r.unused, nextHopMtu: r.nextHopMtu, quote: hex(r.quote) });
      else if (r.kind === 'time-exceeded') Object.assign(fields, { unused: r.unused, quote: hex(r.quote) });
      else if (r.kind === 'other') Object.assign(fields, { rest: r.rest, data: hex(r.data) });
      return fields;
    }
    case 'udp': {
      const r = layer.repr;
      return {
        ...base,
        srcPort: r.srcPort,
        dstPort: r.dstPort,
        length: udp.HEADER_LENGTH + r.payload.length,
        checksum: r.checksum,
        checksumOk: layer.checksumOk,
        payloadLength: r.payload.length,
      };
    }
    case 'tcp': {
      const r = layer.repr;
      return {
        ...base,
        srcPort: r.srcPort,
        dstPort: r.dstPort,
        seq: r.seq,
        ack: r.ack,
        headerLength: tcp.headerLength(r),
        reserved: r.reserved,
        flags: r.flags,
        flagNames: Object.entries(tcp.TcpFlags)
          .filter(([, bit]) => (r.flags & bit) !== 0)
          .map(([name]) => name),
        window: r.window,
        checksum: r.checksum,
        checksumOk: layer.checksumOk,
        urgentPointer: r.urgentPointer,
        options: r.options.map((o) =>
          o.kind === 'eol' ? { kind: 'eol', rest: hex(o.rest) } : o.kind === 'unknown' ? { ...o, data: hex(o.data) } : o,
        ),
        payloadLength: r.payload.length,
      };
    }
    case 'sctp': {
      const r = layer.repr;
      return {
        ...base,
        srcPort: r.srcPort,
        dstPort: r.dstPort,
        verificationTag: r.verificationTag,
        checksum: r.checksum,
        checksumOk: layer.checksumOk,
        chunks: r.chunks.map((c) => ({ type: c.type, flags: c.flags, length: 4 + c.value.length, value: hex(c.value) })),
      };
    }
    case 'vxlan': {
      const r = layer.repr;
      return {
        ...base,
        flags: r.flags,
        vniValid: (r.flags & vxlan.FLAG_I) !== 0,
        reserved1: r.reserved1,
        vni: r.vni,
        reserved2: r.reserved2,
      };
    }
  }
}
