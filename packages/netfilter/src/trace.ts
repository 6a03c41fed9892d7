// Packet tracing (net/netfilter/nf_tables_trace.c's ancestor, nf_log_trace in ip_tables.c): a packet
// whose state.trace is set reports every rule it hits, the return from a user chain and the policy
// of a built-in chain, like the kernel's "TRACE: nat:KUBE-SERVICES:rule:3 IN=eth0 ..." log lines.
import { formatIpv4 } from '@podnet/wire';
import type { HookName } from './hook.js';
import type { PacketFields } from './packet.js';
import { protocolName } from './protocols.js';
import type { TableName } from './rule.js';

export interface TraceEvent {
  hook: HookName;
  table: TableName;
  chain: string;
  /** rule: a rule matched; return: the end of a user chain (or -j RETURN); policy: a built-in chain's policy applied. */
  kind: 'rule' | 'return' | 'policy';
  /** 1-based rule number; for return and policy, one past the last rule (as the kernel counts). */
  ruleNumber: number;
  /** The rule as iptables-save prints it (`-A CHAIN ...`), for rule events. */
  rule?: string;
  /** The target: a verdict, a chain name, an extension (DNAT, MARK, ...) or '' for a rule without target. */
  target: string;
  traceId?: string;
  inInterface?: string;
  outInterface?: string;
  src: string;
  dst: string;
  protocol: string;
  srcPort?: number;
  dstPort?: number;
  mark: number;
}

export type TraceSink = (event: TraceEvent) => void;

export function describeFields(fields: PacketFields): Pick<TraceEvent, 'src' | 'dst' | 'protocol' | 'srcPort' | 'dstPort'> {
  const d: Pick<TraceEvent, 'src' | 'dst' | 'protocol' | 'srcPort' | 'dstPort'> = {
    src: formatIpv4(fields.src),
    dst: formatIpv4(fields.dst),
    protocol: protocolName(fields.protocol).toUpperCase(),
  };
  if (fields.hasL4 && fields.protocol !== 1) {
    d.srcPort = fields.srcPort;
    d.dstPort = fields.dstPort;
  }
  return d;
}

/** One event as the kernel's TRACE log line. */
export function formatTrace(e: TraceEvent): string {
  const ports = e.srcPort !== undefined ? ` SPT=${e.srcPort} DPT=${e.dstPort}` : '';
  const mark = e.mark ? ` MARK=0x${e.mark.toString(16)}` : '';
  const what = e.kind === 'rule' ? ` (${e.rule})` : '';
  return `TRACE: ${e.table}:${e.chain}:${e.kind}:${e.ruleNumber} IN=${e.inInterface ?? ''} OUT=${e.outInterface ?? ''} SRC=${e.src} DST=${e.dst} PROTO=${e.protocol}${ports}${mark}${what}`;
}
