// A one-line-per-frame printer in the style of `tcpdump -n -r FILE` (tcpdump 4.99: print-ip.c,
// print-tcp.c, print-udp.c, print-icmp.c, print-arp.c, print-vxlan.c), so what podnet shows
// reads like what a Linux user already knows. A VXLAN frame prints its outer line, then its
// inner frame on the next line, as tcpdump does. Printing never throws: a layer that failed to
// decode ends the line with tcpdump's truncation marker, e.g. " [|tcp]".
//
// Like tcpdump, TCP sequence numbers are shown relative to the first segment that carried an
// ACK in each conversation, so the printer keeps per-connection state: use one TcpdumpPrinter
// per capture. Timestamps are printed in UTC (tcpdump uses local time; run it with TZ=UTC to compare).
import { formatIpv4, formatMac, type Ipv4Address } from './address.js';
import { ArpOperation } from './arp.js';
import type { Dissection, Layer } from './dissect.js';
import { EtherType, etherTypeName } from './ethernet.js';
import { IcmpType, type Icmpv4Repr, UnreachableCode } from './icmpv4.js';
import { IpProtocol, protocolName } from './ipv4.js';
import { ChunkType } from './sctp.js';
import { flagsString, TcpFlags, type TcpOption, type TcpRepr } from './tcp.js';
import { FLAG_I } from './vxlan.js';

export interface Timestamp {
  seconds: number;
  nanoseconds: number;
}

export interface PrintOptions {
  timestamp?: Timestamp;
  /** Print nanoseconds (tcpdump --nano) instead of microseconds. */
  nanoseconds?: boolean;
}

/** HH:MM:SS.ffffff in UTC, as tcpdump's default timestamp format. */
export function formatTimestamp(ts: Timestamp, nanoseconds = false): string {
  const day = ts.seconds % 86400;
  const hh = String(Math.floor(day / 3600)).padStart(2, '0');
  const mm = String(Math.floor((day % 3600) / 60)).padStart(2, '0');
  const ss = String(day % 60).padStart(2, '0');
  const frac = nanoseconds ? String(ts.nanoseconds).padStart(9, '0') : String(Math.floor(ts.nanoseconds / 1000)).padStart(6, '0');
  return `${hh}:${mm}:${ss}.${frac}`;
}

interface Conversation {
  /** Address and port of the side whose segment created the entry. */
  src: string;
  seq: number;
  ack: number;
}

const HTTP_PORTS = new Set([80, 8080]);
const HTTP_START = /^(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS|CONNECT|TRACE|HTTP\/\d)/;

export class TcpdumpPrinter {
  private readonly conversations = new Map<string, Conversation>();

  /** Formats one dissected frame; never throws. */
  format(d: Dissection, options: PrintOptions = {}): string {
    let text: string;
    try {
      text = this.layers(d, 0);
    } catch (error) {
      // A printer bug must not hide the frame: say so and carry on with the next one.
      text = `[podnet printer error: ${(error as Error).message}]`;
    }
    return options.timestamp ? `${formatTimestamp(options.timestamp, options.nanoseconds)} ${text}` : text;
  }

  /** Prints d.layers from index i (an Ethernet layer) to the end. */
  private layers(d: Dissection, i: number): string {
    const eth = d.layers[i];
    if (eth === undefined) return d.error ? `[|${d.error.protocol}]` : '';
    if (eth.protocol !== 'ethernet') return `[|${eth.protocol}]`;
    const next = d.layers[i + 1];
    const l2Length = eth.repr.payload.length;
    if (eth.repr.etherType === EtherType.ARP) {
      if (next?.protocol !== 'arp') return `ARP, length ${l2Length} [|arp]`;
      return `${arpLine(next)}, length ${l2Length}`;
    }
    if (eth.repr.etherType === EtherType.IPv4) {
      if (next?.protocol !== 'ipv4') return `IP [|ip]`;
      return this.ipv4(d, i + 1);
    }
    return `ethertype ${etherTypeName(eth.repr.etherType)} (0x${eth.repr.etherType.toString(16).padStart(4, '0')}), length ${l2Length + 14}`;
  }

  private ipv4(d: Dissection, i: number): string {
    const ipLayer = d.layers[i] as Extract<Layer, { protocol: 'ipv4' }>;
    const ip = ipLayer.repr;
    const src = formatIpv4(ip.src);
    const dst = formatIpv4(ip.dst);
    const l4 = d.layers[i + 1];
    const length = ip.payload.length;
    if (ip.fragmentOffset !== 0) return `IP ${src} > ${dst}: ip-proto-${ip.protocol}`;
    switch (ip.protocol) {
      case IpProtocol.TCP:
        if (l4?.protocol !== 'tcp') return `IP ${src} > ${dst}: [|tcp]`;
        return `IP ${src}.${l4.repr.srcPort} > ${dst}.${l4.repr.dstPort}: ${this.tcp(ip.src, ip.dst, l4.repr)}`;
      case IpProtocol.UDP: {
        if (l4?.protocol !== 'udp') return `IP ${src} > ${dst}: [|udp]`;
        const head = `IP ${src}.${l4.repr.srcPort} > ${dst}.${l4.repr.dstPort}:`;
        const vx = d.layers[i + 2];
        if (vx?.protocol === 'vxlan') {
          const flags = vx.repr.flags & FLAG_I ? 'I' : '.';
          const inner = d.layers[i + 3] ? this.layers(d, i + 3) : '[|ether]';
          return `${head} VXLAN, flags [${flags}] (0x${vx.repr.flags.toString(16).padStart(2, '0')}), vni ${vx.repr.vni}\n${inner}`;
        }
        if (d.error?.protocol === 'vxlan') return `${head} VXLAN [|vxlan]`;
        return `${head} UDP, length ${l4.repr.payload.length}`;
      }
      case IpProtocol.ICMP:
        if (l4?.protocol !== 'icmp') return `IP ${src} > ${dst}: ICMP [|icmp]`;
        return `IP ${src} > ${dst}: ICMP ${icmpText(l4.repr)}, length ${length}`;
      case IpProtocol.SCTP: {
        if (l4?.protocol !== 'sctp') return `IP ${src} > ${dst}: sctp [|sctp]`;
        const chunks = l4.repr.chunks.map((c, n) => `${n + 1}) [${chunkName(c.type)}]`).join(' ');
        return `IP ${src}.${l4.repr.srcPort} > ${dst}.${l4.repr.dstPort}: sctp (${l4.repr.chunks.length}) ${chunks}`.trimEnd();
      }
      default:
        return `IP ${src} > ${dst}: ip-proto-${ip.protocol} ${length}`;
    }
  }

  private tcp(srcIp: Ipv4Address, dstIp: Ipv4Address, seg: TcpRepr): string {
    let seq = seg.seq;
    let ack = seg.ack;
    // tcpdump's relative sequence numbers (print-tcp.c): a conversation is recorded at its
    // first segment carrying an ACK; later segments print offsets from those numbers.
    if (seg.flags & TcpFlags.ACK) {
      const a = `${srcIp}:${seg.srcPort}`;
      const b = `${dstIp}:${seg.dstPort}`;
      const key = a < b ? `${a}-${b}` : `${b}-${a}`;
      const conv = this.conversations.get(key);
      if (conv === undefined) {
        this.conversations.set(key, { src: a, seq: seg.seq, ack: (seg.ack - 1) >>> 0 });
      } else if (conv.src === a) {
        seq = (seq - conv.seq) >>> 0;
        ack = (ack - conv.ack) >>> 0;
      } else {
        seq = (seq - conv.ack) >>> 0;
        ack = (ack - conv.seq) >>> 0;
      }
    }
    const length = seg.payload.length;
    let s = `Flags [${flagsString(seg.flags)}]`;
    if (length > 0 || seg.flags & (TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST)) {
      s += `, seq ${seq}`;
      if (length > 0) s += `:${(seq + length) >>> 0}`;
    }
    if (seg.flags & TcpFlags.ACK) s += `, ack ${ack}`;
    s += `, win ${seg.window}`;
    if (seg.flags & TcpFlags.URG) s += `, urg ${seg.urgentPointer}`;
    if (seg.options.length > 0) s += `, options [${seg.options.map(tcpOptionText).join(',')}]`;
    s += `, length ${length}`;
    if (length > 0 && (HTTP_PORTS.has(seg.srcPort) || HTTP_PORTS.has(seg.dstPort))) s += httpText(seg.payload);
    return s;
  }
}

function tcpOptionText(o: TcpOption): string {
  switch (o.kind) {
    case 'eol':
      return 'eol';
    case 'nop':
      return 'nop';
    case 'mss':
      return `mss ${o.value}`;
    case 'window-scale':
      return `wscale ${o.shift}`;
    case 'sack-permitted':
      return 'sackOK';
    case 'sack':
      return `sack ${o.blocks.length} ${o.blocks.map((b) => `{${b.left}:${b.right}}`).join('')}`;
    case 'timestamps':
      return `TS val ${o.tsval} ecr ${o.tsecr}`;
    case 'unknown':
      return `unknown-${o.type} 0x${o.data.toString('hex')}`;
  }
}

function httpText(payload: Buffer): string {
  const head = payload.subarray(0, Math.min(payload.length, 256)).toString('latin1');
  const firstLine = head.split('\r\n', 1)[0] ?? '';
  return HTTP_START.test(firstLine) ? `: HTTP: ${firstLine}` : ': HTTP';
}

function arpLine(layer: Extract<Layer, { protocol: 'arp' }>): string {
  const r = layer.repr;
  if (r.operation === ArpOperation.Request) {
    const tha = r.targetMac === 0 ? '' : ` (${formatMac(r.targetMac)})`;
    return `ARP, Request who-has ${formatIpv4(r.targetIp)}${tha} tell ${formatIpv4(r.senderIp)}`;
  }
  if (r.operation === ArpOperation.Reply) return `ARP, Reply ${formatIpv4(r.senderIp)} is-at ${formatMac(r.senderMac)}`;
  return `ARP, Unknown (${r.operation})`;
}

/** The quoted datagram's destination, protocol and port, for "port unreachable". */
function quoted(quote: Buffer): { dst: string; protocol: number; dstPort?: number } | undefined {
  if (quote.length < 20 || (quote[0] as number) >>> 4 !== 4) return undefined;
  const ihl = ((quote[0] as number) & 0x0f) * 4;
  const dst = formatIpv4(quote.readUInt32BE(16));
  const protocol = quote[9] as number;
  const dstPort = quote.length >= ihl + 4 ? quote.readUInt16BE(ihl + 2) : undefined;
  return dstPort === undefined ? { dst, protocol } : { dst, protocol, dstPort };
}

function icmpText(r: Icmpv4Repr): string {
  switch (r.kind) {
    case 'echo-request':
    case 'echo-reply':
      return `echo ${r.kind === 'echo-request' ? 'request' : 'reply'}, id ${r.identifier}, seq ${r.sequence}`;
    case 'destination-unreachable': {
      const q = quoted(r.quote);
      const dst = q?.dst ?? '?';
      switch (r.code) {
        case UnreachableCode.Net:
          return `net ${dst} unreachable`;
        case UnreachableCode.Host:
          return `host ${dst} unreachable`;
        case UnreachableCode.Protocol:
          return `${dst} protocol ${q?.protocol ?? '?'} unreachable`;
        case UnreachableCode.Port:
          return `${dst} ${protocolName(q?.protocol ?? 0).toLowerCase()} port ${q?.dstPort ?? '?'} unreachable`;
        case UnreachableCode.FragmentationNeeded:
          return `${dst} unreachable - need to frag (mtu ${r.nextHopMtu})`;
        case UnreachableCode.AdminProhibited:
          return `host ${dst} unreachable - admin prohibited filter`;
        default:
          return `${dst} unreachable - code ${r.code}`;
      }
    }
    case 'time-exceeded':
      return r.code === 0 ? 'time exceeded in-transit' : 'ip reassembly time exceeded';
    case 'other':
      return r.type === IcmpType.Redirect ? 'redirect' : `type-#${r.type}`;
  }
}

function chunkName(type: number): string {
  const entry = Object.entries(ChunkType).find(([, v]) => v === type);
  return entry ? entry[0].replace('_', ' ') : `chunk-type ${type}`;
}

/** Formats one dissection without connection state (absolute TCP sequence numbers after the first ACK). */
export function formatDissection(d: Dissection, options: PrintOptions = {}): string {
  return new TcpdumpPrinter().format(d, options);
}
