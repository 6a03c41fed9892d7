// Helpers shared by match and target option parsers.
import { RuleError } from '../errors.js';
import type { ParsedOption } from '../rule.js';

/** The prefix `! ` iptables-save prints before an inverted option. */
export const bang = (inverted: boolean): string => (inverted ? ' !' : '');

/** Refuses a second occurrence of an option, as libxtables does ("multiple -m x --y flags not allowed"). */
export function once(options: ParsedOption[], module: string): Map<string, ParsedOption> {
  const seen = new Map<string, ParsedOption>();
  for (const o of options) {
    if (seen.has(o.name)) throw new RuleError(`${module}: "--${o.name}" option may only be specified once`, `--${o.name}`);
    seen.set(o.name, o);
  }
  return seen;
}

/** `0x4000`, `16`, `0` (strtoul with base 0: hex, octal or decimal). */
export function parseUint32(text: string, what: string): number {
  let n: number;
  if (/^0x[0-9a-f]+$/i.test(text)) n = Number.parseInt(text.slice(2), 16);
  else if (/^0[0-7]+$/.test(text)) n = Number.parseInt(text.slice(1), 8);
  else if (/^\d+$/.test(text)) n = Number(text);
  else throw new RuleError(`Bad ${what} value "${text}"`, text);
  if (n > 0xffffffff) throw new RuleError(`Bad ${what} value "${text}"`, text);
  return n >>> 0;
}

/** `value[/mask]` as MARK and -m mark read it. */
export function parseValueMask(text: string, what: string): { value: number; mask: number | undefined } {
  const slash = text.indexOf('/');
  if (slash < 0) return { value: parseUint32(text, what), mask: undefined };
  return { value: parseUint32(text.slice(0, slash), what), mask: parseUint32(text.slice(slash + 1), what) };
}

export const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** A non-negative decimal integer option. */
export function parseCount(text: string, module: string, option: string, max = 0xffffffff): number {
  if (!/^\d+$/.test(text) || Number(text) > max) {
    throw new RuleError(`${module}: bad value for option "--${option}", or out of range (0-${max}).`, text);
  }
  return Number(text);
}
