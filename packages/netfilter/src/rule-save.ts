// A rule in iptables-save's words (iptables/iptables.c print_rule4 / save_ipv4_addr): -s, -d, -i,
// -o, -p, -f in that order whatever the input order, `/32` kept, `0.0.0.0/0` and `-p all` dropped,
// then each match as `-m NAME` and its options in the module's order, then `-j`/`-g` and the
// target's options.
import { formatAddressMask } from './address.js';
import { formatInterface } from './interface.js';
import { protocolName } from './protocols.js';
import type { AddressMatch, Rule } from './rule.js';

const addr = (flag: string, a: AddressMatch | undefined) =>
  a === undefined || (a.mask === 0 && !a.inverted) ? '' : ` ${a.inverted ? '! ' : ''}${flag} ${formatAddressMask(a.address, a.mask)}`;

export function saveRuleText(rule: Rule): string {
  let s = addr('-s', rule.src) + addr('-d', rule.dst);
  if (rule.inInterface) s += ` ${rule.inInterface.inverted ? '! ' : ''}-i ${formatInterface(rule.inInterface)}`;
  if (rule.outInterface) s += ` ${rule.outInterface.inverted ? '! ' : ''}-o ${formatInterface(rule.outInterface)}`;
  if (rule.protocol !== 0) s += ` ${rule.protocolInverted ? '! ' : ''}-p ${protocolName(rule.protocol)}`;
  if (rule.fragment !== 0) s += ` ${rule.fragment < 0 ? '! ' : ''}-f`;
  for (const m of rule.matches) s += ` -m ${m.module.name}${m.module.save(m.data)}`;
  s += targetText(rule);
  return s.slice(1);
}

/** The ` -j TARGET [options]` / ` -g CHAIN` part of the rule's text (empty for a rule without target). */
export function targetText(rule: Rule): string {
  const t = rule.target;
  if (t.kind === 'verdict') return ` -j ${t.verdict}`;
  if (t.kind === 'jump') return ` -j ${t.chain}`;
  if (t.kind === 'goto') return ` -g ${t.chain}`;
  if (t.kind === 'extension') return ` -j ${t.module.name}${t.module.save(t.data)}`;
  return '';
}

/** The rule's iptables-save text (computed once, then kept on the rule). */
export function ruleText(rule: Rule): string {
  if (rule.text === undefined) rule.text = saveRuleText(rule);
  return rule.text;
}

/** The name -L and traces show in the target column. */
export function targetName(rule: Rule): string {
  const t = rule.target;
  return t.kind === 'none' ? '' : t.kind === 'verdict' ? t.verdict : t.kind === 'extension' ? t.module.name : t.chain;
}
