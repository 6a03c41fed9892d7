// The jump rules from the built-in chains into kube-proxy's chains (pkg/proxy/iptables
// iptablesJumpChains, iptablesKubeletJumpChains). Real kube-proxy cannot put them in its
// iptables-restore input — that would mean owning (and flushing) PREROUTING, INPUT, ... — so it
// ensures each with `iptables -C` / `iptables -I` on every full sync. podnet models them as a
// separate small payload, applied with --noflush after the main payload has created the target
// chains: `-I` lines only (no chain lines, so nothing is flushed, built-in policies untouched),
// in kube-proxy's order, each prepended, so the chain ends up in the order a real node shows.
// Applying it twice would insert duplicates (there is no `-C` in a restore payload), so the
// Proxier checks which rules already exist in `iptables-save` output (as `iptables -C` would) when
// it can read it, and otherwise applies the payload once per process and after a flush.
import { Chains } from './chain-names.js';
import { quoteComment as q } from './line-buffer.js';

export interface JumpRule {
  table: 'filter' | 'nat';
  /** The built-in chain the rule goes in. */
  source: string;
  /** The kube-proxy chain it jumps to. */
  target: string;
  comment: string;
  extraArgs: readonly string[];
}

const NEW = ['-m', 'conntrack', '--ctstate', 'NEW'] as const;

export const JUMP_RULES: readonly JumpRule[] = [
  {
    table: 'filter',
    target: Chains.externalServices,
    source: 'INPUT',
    comment: 'kubernetes externally-visible service portals',
    extraArgs: NEW,
  },
  {
    table: 'filter',
    target: Chains.externalServices,
    source: 'FORWARD',
    comment: 'kubernetes externally-visible service portals',
    extraArgs: NEW,
  },
  { table: 'filter', target: Chains.nodePorts, source: 'INPUT', comment: 'kubernetes health check service ports', extraArgs: [] },
  { table: 'filter', target: Chains.services, source: 'FORWARD', comment: 'kubernetes service portals', extraArgs: NEW },
  { table: 'filter', target: Chains.services, source: 'OUTPUT', comment: 'kubernetes service portals', extraArgs: NEW },
  { table: 'filter', target: Chains.forward, source: 'FORWARD', comment: 'kubernetes forwarding rules', extraArgs: [] },
  { table: 'filter', target: Chains.proxyFirewall, source: 'INPUT', comment: 'kubernetes load balancer firewall', extraArgs: NEW },
  { table: 'filter', target: Chains.proxyFirewall, source: 'OUTPUT', comment: 'kubernetes load balancer firewall', extraArgs: NEW },
  { table: 'filter', target: Chains.proxyFirewall, source: 'FORWARD', comment: 'kubernetes load balancer firewall', extraArgs: NEW },
  { table: 'nat', target: Chains.services, source: 'OUTPUT', comment: 'kubernetes service portals', extraArgs: [] },
  { table: 'nat', target: Chains.services, source: 'PREROUTING', comment: 'kubernetes service portals', extraArgs: [] },
  { table: 'nat', target: Chains.postrouting, source: 'POSTROUTING', comment: 'kubernetes postrouting rules', extraArgs: [] },
];

/** kubelet's KUBE-FIREWALL jumps, which kube-proxy duplicates (only present with localhost NodePorts). */
export const KUBELET_JUMP_RULES: readonly JumpRule[] = [
  { table: 'filter', target: Chains.kubeletFirewall, source: 'INPUT', comment: '', extraArgs: [] },
  { table: 'filter', target: Chains.kubeletFirewall, source: 'OUTPUT', comment: '', extraArgs: [] },
];

function ruleWords(rule: JumpRule): string {
  const words = [rule.source, ...rule.extraArgs];
  if (rule.comment !== '') words.push('-m', 'comment', '--comment', q(rule.comment));
  words.push('-j', rule.target);
  return words.join(' ');
}

/** The jump rules kube-proxy ensures (with kubelet's KUBE-FIREWALL jumps under localhost NodePorts). */
export function jumpRulesFor(options: { localhostNodePorts?: boolean } = {}): JumpRule[] {
  return [...JUMP_RULES, ...(options.localhostNodePorts ? KUBELET_JUMP_RULES : [])];
}

/**
 * The jump rules missing from `iptables-save` output: the `-C` check of EnsureRule, done on the
 * saved text. iptables-save prints a rule as `-A CHAIN` plus its words in the order kube-proxy
 * writes them (comments quoted only when they contain spaces), so the comparison is textual.
 */
export function missingJumpRules(saved: string, rules: readonly JumpRule[]): JumpRule[] {
  const present = new Set<string>();
  let table = '';
  for (const raw of saved.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith('-A ')) present.add(`${table} ${line.slice(3)}`);
  }
  return rules.filter((r) => !present.has(`${r.table} ${ruleWords(r)}`));
}

/** The jump-rules payload, for iptables-restore --noflush after the main payload. */
export function renderJumpRules(options: { localhostNodePorts?: boolean } = {}, only?: readonly JumpRule[]): string {
  const rules = only ?? jumpRulesFor(options);
  let out = '';
  for (const table of ['filter', 'nat'] as const) {
    out += `*${table}\n`;
    for (const rule of rules) if (rule.table === table) out += `-I ${ruleWords(rule)}\n`;
    out += 'COMMIT\n';
  }
  return out;
}
