// Protocol names as iptables reads and prints them (libxtables xtables_chain_protos and
// /etc/protocols on Debian: iptables-save prints `-p gre` for 47). The table is fixed here so
// that output does not depend on the machine's /etc/protocols.
import { RuleError } from './errors.js';

const NAMES: ReadonlyArray<readonly [string, number]> = [
  ['icmp', 1],
  ['igmp', 2],
  ['ipencap', 4],
  ['tcp', 6],
  ['egp', 8],
  ['udp', 17],
  ['ipv6', 41],
  ['rsvp', 46],
  ['gre', 47],
  ['esp', 50],
  ['ah', 51],
  ['ipv6-icmp', 58],
  ['ospf', 89],
  ['ipip', 94],
  ['pim', 103],
  ['vrrp', 112],
  ['l2tp', 115],
  ['sctp', 132],
  ['udplite', 136],
  ['mpls-in-ip', 137],
];
const BY_NAME = new Map(NAMES);
const BY_NUMBER = new Map(NAMES.map(([n, v]) => [v, n] as const));

/** `-p` value: a name, a number 0-255, or `all` (= 0). */
export function parseProtocol(text: string): number {
  const lower = text.toLowerCase();
  if (lower === 'all') return 0;
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n <= 255) return n;
  }
  const n = BY_NAME.get(lower);
  if (n === undefined) throw new RuleError(`unknown protocol "${text}" specified`, text);
  return n;
}

export function protocolName(n: number): string {
  return BY_NUMBER.get(n) ?? String(n);
}

// ICMP type names (libxt_icmp icmp_codes): [name, type, code range].
const ICMP_NAMES: ReadonlyArray<readonly [string, number, number, number]> = [
  ['any', 0xff, 0, 0xff],
  ['echo-reply', 0, 0, 0xff],
  ['pong', 0, 0, 0xff],
  ['destination-unreachable', 3, 0, 0xff],
  ['network-unreachable', 3, 0, 0],
  ['host-unreachable', 3, 1, 1],
  ['protocol-unreachable', 3, 2, 2],
  ['port-unreachable', 3, 3, 3],
  ['fragmentation-needed', 3, 4, 4],
  ['source-route-failed', 3, 5, 5],
  ['network-unknown', 3, 6, 6],
  ['host-unknown', 3, 7, 7],
  ['network-prohibited', 3, 9, 9],
  ['host-prohibited', 3, 10, 10],
  ['TOS-network-unreachable', 3, 11, 11],
  ['TOS-host-unreachable', 3, 12, 12],
  ['communication-prohibited', 3, 13, 13],
  ['host-precedence-violation', 3, 14, 14],
  ['precedence-cutoff', 3, 15, 15],
  ['source-quench', 4, 0, 0xff],
  ['redirect', 5, 0, 0xff],
  ['network-redirect', 5, 0, 0],
  ['host-redirect', 5, 1, 1],
  ['TOS-network-redirect', 5, 2, 2],
  ['TOS-host-redirect', 5, 3, 3],
  ['echo-request', 8, 0, 0xff],
  ['ping', 8, 0, 0xff],
  ['router-advertisement', 9, 0, 0xff],
  ['router-solicitation', 10, 0, 0xff],
  ['time-exceeded', 11, 0, 0xff],
  ['ttl-exceeded', 11, 0, 0xff],
  ['ttl-zero-during-transit', 11, 0, 0],
  ['ttl-zero-during-reassembly', 11, 1, 1],
  ['parameter-problem', 12, 0, 0xff],
  ['ip-header-bad', 12, 0, 0],
  ['required-option-missing', 12, 1, 1],
  ['timestamp-request', 13, 0, 0xff],
  ['timestamp-reply', 14, 0, 0xff],
  ['address-mask-request', 17, 0, 0xff],
  ['address-mask-reply', 18, 0, 0xff],
];

export interface IcmpTypeSpec {
  type: number;
  codeMin: number;
  codeMax: number;
}

/** `--icmp-type` value: a name, `type`, or `type/code`. */
export function parseIcmpType(text: string): IcmpTypeSpec {
  const named = ICMP_NAMES.find(([name]) => name.toLowerCase() === text.toLowerCase());
  if (named) return { type: named[1], codeMin: named[2], codeMax: named[3] };
  const m = /^(\d{1,3})(?:\/(\d{1,3}))?$/.exec(text);
  if (!m || Number(m[1]) > 255 || (m[2] !== undefined && Number(m[2]) > 255)) {
    throw new RuleError(`Invalid ICMP type \`${text}'`, text);
  }
  const type = Number(m[1]);
  return m[2] === undefined ? { type, codeMin: 0, codeMax: 0xff } : { type, codeMin: Number(m[2]), codeMax: Number(m[2]) };
}

/** iptables-save spelling: the bare type, or type/code (libxt_icmp icmp_save prints numbers). */
export function formatIcmpType(spec: IcmpTypeSpec): string {
  if (spec.type === 0xff && spec.codeMin === 0 && spec.codeMax === 0xff) return 'any';
  return spec.codeMin === 0 && spec.codeMax === 0xff ? String(spec.type) : `${spec.type}/${spec.codeMin}`;
}
