// -i/-o and --physdev-in/out names (IFNAMSIZ 16 with the NUL; a trailing `+` matches every name
// with that prefix, a lone `+` matches every interface).
import { RuleError } from './errors.js';
import type { InterfaceMatch } from './rule.js';

export function parseInterface(text: string, inverted: boolean): InterfaceMatch {
  if (text.length > 15) throw new RuleError(`interface name \`${text}' must be shorter than 16 characters`, text);
  if (text.length === 0 || /[\s/]/.test(text)) throw new RuleError(`Warning: weird character in interface \`${text}'`, text);
  const wildcard = text.endsWith('+');
  return { name: wildcard ? text.slice(0, -1) : text, wildcard, inverted };
}

export function interfaceMatches(m: InterfaceMatch, name: string | undefined): boolean {
  const n = name ?? '';
  const hit = m.wildcard ? n.startsWith(m.name) : n === m.name;
  return hit !== m.inverted;
}

export const formatInterface = (m: InterfaceMatch): string => `${m.name}${m.wildcard ? '+' : ''}`;
