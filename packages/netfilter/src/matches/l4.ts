// The protocol matches -m tcp, -m udp, -m sctp, -m icmp (net/netfilter/xt_tcpudp.c, xt_sctp.c,
// net/ipv4/netfilter/ip_tables.c icmp_match), loaded explicitly or implicitly by `-p tcp --dport`.
// Like the kernel, they never match a non-first fragment (the L4 header is not there).
import { formatPortRange, parsePortRange } from '../address.js';
import { RuleError } from '../errors.js';
import { PROTO_ICMP, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../packet.js';
import { formatIcmpType, type IcmpTypeSpec, parseIcmpType } from '../protocols.js';
import type { MatchModule, OptionSpec, ParsedOption } from '../rule.js';
import { bang, once } from './options.js';

interface PortRange {
  lo: number;
  hi: number;
  inverted: boolean;
}
export interface PortsData {
  sport?: PortRange;
  dport?: PortRange;
  /** --tcp-flags mask comp (also what --syn means: FIN,SYN,RST,ACK SYN). */
  flags?: { mask: number; comp: number; inverted: boolean };
}

const PORT_OPTIONS: Record<string, OptionSpec> = {
  sport: { args: 1, invertible: true },
  'source-port': { args: 1, invertible: true },
  dport: { args: 1, invertible: true },
  'destination-port': { args: 1, invertible: true },
};

// libxt_tcp tcp_flag_names, in the order print_tcpf prints them.
const TCP_FLAGS: ReadonlyArray<readonly [string, number]> = [
  ['FIN', 0x01],
  ['SYN', 0x02],
  ['RST', 0x04],
  ['PSH', 0x08],
  ['ACK', 0x10],
  ['URG', 0x20],
];

function parseTcpFlags(text: string): number {
  let flags = 0;
  for (const word of text.split(',')) {
    const upper = word.toUpperCase();
    if (upper === 'ALL') flags |= 0x3f;
    else if (upper === 'NONE') flags |= 0;
    else {
      const f = TCP_FLAGS.find(([n]) => n === upper);
      if (!f) throw new RuleError(`Unknown TCP flag \`${word}'`, word);
      flags |= f[1];
    }
  }
  return flags;
}

function formatTcpFlags(flags: number): string {
  const names = TCP_FLAGS.filter(([, f]) => (flags & f) !== 0).map(([n]) => n);
  return names.length === 0 ? 'NONE' : names.join(',');
}

const canonical = (name: string) =>
  name === 'source-port' ? 'sport' : name === 'destination-port' ? 'dport' : name === 'syn' ? 'tcp-flags' : name;

function parsePorts(options: ParsedOption[], module: string, withFlags: boolean): PortsData {
  // Each option once, counting the long spellings and --syn (a --tcp-flags) as the same option.
  once(
    options.map((o) => ({ ...o, name: canonical(o.name) })),
    module,
  );
  const data: PortsData = {};
  for (const o of options) {
    const name = canonical(o.name);
    if (name === 'sport' || name === 'dport') {
      const [lo, hi] = parsePortRange(o.args[0] as string);
      data[name] = { lo, hi, inverted: o.inverted };
    } else if (withFlags && o.name === 'syn') {
      // --syn is --tcp-flags FIN,SYN,RST,ACK SYN (libxt_tcp).
      data.flags = { mask: 0x17, comp: 0x02, inverted: o.inverted };
    } else if (withFlags && name === 'tcp-flags') {
      data.flags = { mask: parseTcpFlags(o.args[0] as string), comp: parseTcpFlags(o.args[1] as string), inverted: o.inverted };
    }
  }
  return data;
}

function savePorts(d: PortsData): string {
  let s = '';
  if (d.sport) s += `${bang(d.sport.inverted)} --sport ${formatPortRange(d.sport.lo, d.sport.hi)}`;
  if (d.dport) s += `${bang(d.dport.inverted)} --dport ${formatPortRange(d.dport.lo, d.dport.hi)}`;
  if (d.flags) s += `${bang(d.flags.inverted)} --tcp-flags ${formatTcpFlags(d.flags.mask)} ${formatTcpFlags(d.flags.comp)}`;
  return s;
}

function listPorts(prefix: string, d: PortsData): string {
  const range = (r: PortRange, one: string, many: string) =>
    r.lo === r.hi ? `${one}:${r.inverted ? '!' : ''}${r.lo}` : `${many}:${r.inverted ? '!' : ''}${r.lo}:${r.hi}`;
  const parts = [prefix];
  if (d.sport) parts.push(range(d.sport, 'spt', 'spts'));
  if (d.dport) parts.push(range(d.dport, 'dpt', 'dpts'));
  if (d.flags)
    parts.push(
      `flags:${d.flags.inverted ? '!' : ''}0x${d.flags.mask.toString(16).toUpperCase().padStart(2, '0')}/0x${d.flags.comp.toString(16).toUpperCase().padStart(2, '0')}`,
    );
  return parts.join(' ');
}

function compilePorts(d: PortsData) {
  const s = d.sport;
  const t = d.dport;
  const f = d.flags;
  return (fields: { hasL4: boolean; srcPort: number; dstPort: number; tcpFlags: number }): boolean => {
    if (!fields.hasL4) return false;
    if (s && (fields.srcPort >= s.lo && fields.srcPort <= s.hi) === s.inverted) return false;
    if (t && (fields.dstPort >= t.lo && fields.dstPort <= t.hi) === t.inverted) return false;
    if (f && ((fields.tcpFlags & f.mask) === f.comp) === f.inverted) return false;
    return true;
  };
}

export const tcpMatch: MatchModule<PortsData> = {
  name: 'tcp',
  protocol: PROTO_TCP,
  options: { ...PORT_OPTIONS, 'tcp-flags': { args: 2, invertible: true }, syn: { args: 0, invertible: true } },
  parse: (options) => parsePorts(options, 'tcp', true),
  save: savePorts,
  compile: (d) => compilePorts(d),
  list: (d) => listPorts('tcp', d),
};

export const udpMatch: MatchModule<PortsData> = {
  name: 'udp',
  protocol: PROTO_UDP,
  options: PORT_OPTIONS,
  parse: (options) => parsePorts(options, 'udp', false),
  save: savePorts,
  compile: (d) => compilePorts(d),
  list: (d) => listPorts('udp', d),
};

export const sctpMatch: MatchModule<PortsData> = {
  name: 'sctp',
  protocol: PROTO_SCTP,
  options: PORT_OPTIONS,
  parse: (options) => parsePorts(options, 'sctp', false),
  save: savePorts,
  compile: (d) => compilePorts(d),
  list: (d) => listPorts('sctp', d),
};

export interface IcmpData {
  spec?: IcmpTypeSpec;
  inverted: boolean;
}

export const icmpMatch: MatchModule<IcmpData> = {
  name: 'icmp',
  protocol: PROTO_ICMP,
  options: { 'icmp-type': { args: 1, invertible: true } },
  parse(options) {
    const o = once(options, 'icmp').get('icmp-type');
    return o ? { spec: parseIcmpType(o.args[0] as string), inverted: o.inverted } : { inverted: false };
  },
  save: (d) => (d.spec ? `${bang(d.inverted)} --icmp-type ${formatIcmpType(d.spec)}` : ''),
  compile(d) {
    const spec = d.spec;
    if (!spec) return (f) => f.hasL4;
    // ip_tables.c icmp_type_code_match: type 0xff matches every type.
    return (f) =>
      f.hasL4 &&
      (spec.type === 0xff || (f.icmpType === spec.type && f.icmpCode >= spec.codeMin && f.icmpCode <= spec.codeMax)) !== d.inverted;
  },
  // libxt_icmp print_icmptype: "icmptype T" or "icmptype T code C" (or "icmp !type ...").
  list: (d) => {
    if (!d.spec) return '';
    const code = d.spec.codeMin === 0 && d.spec.codeMax === 0xff ? '' : ` code ${d.spec.codeMin}`;
    const type = d.spec.type === 0xff ? 'any' : String(d.spec.type);
    return `icmp${d.inverted ? ' !' : ''}type ${type}${code}`;
  },
};
