// The iptables-restore line tokenizer (iptables/xshared.c: tokenize_rule_counters / add_param_to_argv):
// words split on spaces and tabs; a double-quoted run is one word with the quotes removed, and
// inside quotes a backslash makes the next character literal (`\"`, `\\`). Single quotes are
// ordinary characters to the tokenizer.
import { RuleError } from './errors.js';

const BLANKS = /[ \t\r\n]+/;

export function tokenize(line: string): string[] {
  // Most lines have no quotes: split on blanks (V8's native regexp split is the fastest way there;
  // restores of 300,000 rules spend their time here).
  if (line.indexOf('"') < 0) {
    const words = line.split(BLANKS);
    if (words[0] === '') words.shift();
    if (words.length > 0 && words[words.length - 1] === '') words.pop();
    return words;
  }
  // Backslashes only escape inside quotes: without them, one scan that slices each word out of the
  // line (no intermediate arrays).
  if (line.indexOf('\\') >= 0) return tokenizeByChar(line);
  const words: string[] = [];
  const n = line.length;
  let i = 0;
  while (i < n) {
    let c = line.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13 || c === 10) {
      i++;
      continue;
    }
    // A word: up to the next blank outside quotes; quoted runs are taken whole, glued to what touches them.
    let start = i;
    let glued: string | undefined;
    while (i < n) {
      c = line.charCodeAt(i);
      if (c === 32 || c === 9 || c === 13 || c === 10) break;
      if (c === 34) {
        const close = line.indexOf('"', i + 1);
        if (close < 0) throw new RuleError('unterminated double quote', line.slice(i + 1));
        glued = (glued ?? '') + line.slice(start, i) + line.slice(i + 1, close);
        i = close + 1;
        start = i;
        continue;
      }
      i++;
    }
    words.push(glued === undefined ? line.slice(start, i) : glued + line.slice(start, i));
  }
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
