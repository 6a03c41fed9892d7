// -j REJECT (net/ipv4/netfilter/ipt_REJECT.c): only in the filter table and only reachable from
// INPUT, FORWARD and OUTPUT; tcp-reset only for `-p tcp` rules (reject_tg_check). The stack sends
// the ICMP error or RST (nf_reject_ipv4).
import { RuleError } from '../errors.js';
import type { RejectWith, Verdict } from '../hook.js';
import { once } from '../matches/options.js';
import type { TargetModule } from '../rule.js';

// libipt_REJECT reject_table: every spelling it accepts, and the name it prints.
const ALIASES: Record<string, RejectWith> = {
  'icmp-net-unreachable': 'icmp-net-unreachable',
  'net-unreach': 'icmp-net-unreachable',
  'icmp-host-unreachable': 'icmp-host-unreachable',
  'host-unreach': 'icmp-host-unreachable',
  'icmp-proto-unreachable': 'icmp-proto-unreachable',
  'proto-unreach': 'icmp-proto-unreachable',
  'icmp-port-unreachable': 'icmp-port-unreachable',
  'port-unreach': 'icmp-port-unreachable',
  'icmp-net-prohibited': 'icmp-net-prohibited',
  'net-prohib': 'icmp-net-prohibited',
  'icmp-host-prohibited': 'icmp-host-prohibited',
  'host-prohib': 'icmp-host-prohibited',
  'icmp-admin-prohibited': 'icmp-admin-prohibited',
  'admin-prohib': 'icmp-admin-prohibited',
  'tcp-reset': 'tcp-reset',
  'tcp-rst': 'tcp-reset',
};

export const rejectTarget: TargetModule<{ with: RejectWith }> = {
  name: 'REJECT',
  terminal: true,
  tables: ['filter'],
  hooks: ['INPUT', 'FORWARD', 'OUTPUT'],
  options: { 'reject-with': { args: 1 } },
  parse(options) {
    const o = once(options, 'REJECT').get('reject-with');
    if (!o) return { with: 'icmp-port-unreachable' };
    const w = ALIASES[o.args[0] as string];
    if (!w) throw new RuleError(`unknown reject type "${o.args[0]}"`, o.args[0]);
    return { with: w };
  },
  check: (d, rule) =>
    d.with === 'tcp-reset' && (rule.protocol !== 6 || rule.protocolInverted) ? 'REJECT: TCP_RESET invalid for non-tcp' : undefined,
  save: (d) => ` --reject-with ${d.with}`,
  compile(d) {
    const verdict: Verdict = Object.freeze({ kind: 'reject', with: d.with });
    return () => verdict;
  },
  list: (d) => `reject-with ${d.with}`,
};
