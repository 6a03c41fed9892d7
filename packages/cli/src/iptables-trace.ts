// `podnet iptables trace`: loads an iptables-save file, sends one NEW packet through it the way a
// node's kernel would (PREROUTING, or OUTPUT for a local source; then INPUT or FORWARD and
// POSTROUTING), explores every `-m statistic` branch, and prints each possible outcome with its
// probability, verdict, NAT and the rules it hit — like `iptables -j TRACE` output, or as JSON.
import { readFileSync, statSync } from 'node:fs';
import { explore, formatTrace, IptablesError, Netfilter, type TraceOutcome } from '@podnet/netfilter';
import { formatIpv4, isIpv4, parseIpv4 } from '@podnet/wire';
import type { Output } from './pcap-read.js';
import { UsageError } from './usage.js';

export interface TraceArgs {
  rules: string;
  src: string;
  dst: string;
  dport?: string;
  sport?: string;
  proto: string;
  localIps: string[];
  json: boolean;
}

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, icmp: 1 };
const USAGE =
  'usage: podnet iptables trace --rules FILE --src IP --dst IP --dport N [--sport N] [--proto tcp|udp|sctp|icmp] [--local-ip IP ...] [--json]';

function address(flag: string, text: string): number {
  if (!isIpv4(text)) throw new UsageError(`podnet iptables trace: ${flag} "${text}" is not an IPv4 address`, USAGE);
  return parseIpv4(text);
}

function port(flag: string, text: string | undefined, fallback: number | undefined): number {
  if (text === undefined) {
    if (fallback === undefined) throw new UsageError(`podnet iptables trace: missing ${flag}`, USAGE);
    return fallback;
  }
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535 || Number(text) === 0) {
    throw new UsageError(`podnet iptables trace: ${flag} "${text}" is not a port (1-65535)`, USAGE);
  }
  return Number(text);
}

function describe(o: TraceOutcome): string {
  const verdict = o.verdict === 'reject' ? `REJECT (${o.rejectWith})` : o.verdict.toUpperCase();
  const where = o.disposition === 'local' ? 'delivered locally' : o.disposition === 'sent' ? 'sent on' : `stopped at ${o.hook}`;
  const nat = [
    o.dnat ? `DNAT to ${o.dnat.address}${o.dnat.port === undefined ? '' : `:${o.dnat.port}`}` : undefined,
    o.masquerade
      ? `MASQUERADE to ${o.snat?.address ?? '?'}`
      : o.snat
        ? `SNAT to ${o.snat.address}${o.snat.port === undefined ? '' : `:${o.snat.port}`}`
        : undefined,
  ].filter((x) => x !== undefined);
  return `${verdict}, ${where}${nat.length ? `; ${nat.join(', ')}` : '; no NAT'}; final ${o.final.src}:${o.final.srcPort} > ${o.final.dst}:${o.final.dstPort}`;
}

export function iptablesTrace(args: TraceArgs, io: Output): number {
  const protocol = PROTOCOLS[args.proto];
  if (protocol === undefined)
    throw new UsageError(`podnet iptables trace: --proto "${args.proto}" is not one of tcp, udp, sctp, icmp`, USAGE);
  const src = address('--src', args.src);
  const dst = address('--dst', args.dst);
  const dstPort = protocol === 1 ? port('--dport', args.dport, 0) : port('--dport', args.dport, undefined);
  const srcPort = port('--sport', args.sport, protocol === 1 ? 1 : 40000);
  const localAddresses = args.localIps.map((ip) => address('--local-ip', ip));

  let text: string;
  try {
    if (statSync(args.rules).isDirectory()) {
      io.err(`podnet iptables trace: ${args.rules}: is a directory, not an iptables-save file`);
      return 1;
    }
    text = readFileSync(args.rules, 'utf8');
  } catch (error) {
    io.err(
      `podnet iptables trace: cannot read ${args.rules}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
    return 1;
  }
  const nf = new Netfilter();
  try {
    nf.restore(text);
  } catch (error) {
    if (!(error instanceof IptablesError)) throw error;
    io.err(`podnet iptables trace: ${args.rules}: ${error.message}${error.word === undefined ? '' : ` (at "${error.word}")`}`);
    io.err('the rules file must be iptables-restore input, such as the output of iptables-save');
    return 1;
  }
  const result = explore(nf.ruleSet, { src, dst, protocol, srcPort, dstPort }, { localAddresses });
  if (args.json) {
    io.out(
      JSON.stringify({
        packet: { src: formatIpv4(src), dst: formatIpv4(dst), protocol: args.proto, srcPort, dstPort },
        localAddresses: localAddresses.map(formatIpv4),
        truncated: result.truncated,
        outcomes: result.outcomes.map((o) => ({
          probability: o.probability,
          verdict: o.verdict,
          ...(o.rejectWith ? { rejectWith: o.rejectWith } : {}),
          disposition: o.disposition,
          hook: o.hook,
          ...(o.dnat ? { dnat: o.dnat } : {}),
          ...(o.snat ? { snat: o.snat } : {}),
          masquerade: o.masquerade,
          final: o.final,
          rules: o.events,
        })),
      }),
    );
    return 0;
  }
  const n = result.outcomes.length;
  io.out(
    `${formatIpv4(src)}:${srcPort} > ${formatIpv4(dst)}:${dstPort} ${args.proto.toUpperCase()} (NEW): ${n} possible outcome${n === 1 ? '' : 's'}`,
  );
  result.outcomes.forEach((o, i) => {
    io.out('');
    io.out(`outcome ${i + 1}/${n}: probability ${o.probability.toFixed(4)} (${(o.probability * 100).toFixed(2)}%): ${describe(o)}`);
    for (const e of o.events) io.out(`  ${e.hook.padEnd(11)} ${formatTrace(e)}`);
  });
  if (result.truncated) io.out(`\n(stopped after ${n} outcomes)`);
  return 0;
}
