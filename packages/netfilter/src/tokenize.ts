// The iptables-restore line tokenizer (iptables/xshared.c: tokenize_rule_counters / add_param_to_argv):
// words split on spaces and tabs; a double-quoted run is one word with the quotes removed, and
// inside quotes a backslash makes the next character literal (`\"`, `\\`). Single quotes are
// ordinary characters to the tokenizer.
import { RuleError } from './errors.js';

const BLANKS = /[ \t\r\n]+/;

export function tokenize(line: string): string[] {
  // Most lines have no quotes: split on blanks (restores of 300,000 rules spend their time here).
  if (line.indexOf('"') < 0) {
    const words = line.split(BLANKS);
    if (words[0] === '') words.shift();
    if (words.length > 0 && words[words.length - 1] === '') words.pop();
    return words;
  }
  return line.indexOf('\\') < 0 ? tokenizeQuotes(line) : tokenizeByChar(line);
}

/** Quotes without backslashes: the text between quotes is taken whole, glued to what touches it. */
function tokenizeQuotes(line: string): string[] {
  const parts = line.split('"');
  if (parts.length % 2 === 0) throw new RuleError('unterminated double quote', parts[parts.length - 1]);
  const words: string[] = [];
  let current: string | undefined;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (i % 2 === 1) {
      current = (current ?? '') + part;
      continue;
    }
    const pieces = part.split(BLANKS);
    if (pieces.length === 1) {
      if (part !== '') current = (current ?? '') + part;
      continue;
    }
    const first = pieces[0] as string;
    if (first !== '') current = (current ?? '') + first;
    if (current !== undefined) words.push(current);
    for (let k = 1; k < pieces.length - 1; k++) if (pieces[k] !== '') words.push(pieces[k] as string);
    const last = pieces[pieces.length - 1] as string;
    current = last === '' ? undefined : last;
  }
  if (current !== undefined) words.push(current);
  return words;
}

/** The general case, one character at a time (backslash escapes inside quotes). */
export function tokenizeByChar(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === '\\' && i + 1 < line.length) {
        word += line[i + 1];
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        word += c;
      }
      continue;
    }
    if (c === '"') {
      quoted = true;
      inWord = true;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    word += c;
    inWord = true;
  }
  // iptables-restore 1.8.9 silently takes an unterminated quote to the end of the line; podnet
  // refuses it, because a lost quote almost always means a truncated or mangled file.
  if (quoted) throw new RuleError('unterminated double quote', word);
  if (inWord) words.push(word);
  return words;
}

/**
 * Quotes a word the way iptables-save prints comments and log prefixes (libxtables
 * xtables_save_string): bare when it is only letters, digits, `_` and `-`; otherwise in double
 * quotes with `"`, `\\` and `'` escaped by a backslash.
 */
export function quoteWord(text: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(text)) return text;
  return `"${text.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}
