import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RuleError } from './errors.js';
import { quoteWord, tokenize, tokenizeByChar } from './tokenize.js';

describe('tokenize (iptables-restore add_param_to_argv)', () => {
  it('splits on spaces and tabs, keeps double-quoted runs whole and unescapes inside quotes', () => {
    expect(tokenize('-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -j X')).toEqual([
      '-A',
      'KUBE-SERVICES',
      '-m',
      'comment',
      '--comment',
      'ns1/svc1:p80 cluster IP',
      '-j',
      'X',
    ]);
    expect(tokenize('a\t b  "x \\"y\\" \\\\z" c')).toEqual(['a', 'b', 'x "y" \\z', 'c']);
    expect(tokenize('--comment ""')).toEqual(['--comment', '']);
    expect(tokenize("--comment 'a b'")).toEqual(['--comment', "'a", "b'"]);
  });

  it('refuses an unterminated quote', () => {
    expect(() => tokenize('--comment "abc')).toThrow(RuleError);
  });

  it('quotes like xtables_save_string, and what it prints tokenizes back to the same word', () => {
    expect(quoteWord('plain-Word_1')).toBe('plain-Word_1');
    expect(quoteWord('ns1/svc1:p80')).toBe('"ns1/svc1:p80"');
    expect(quoteWord('a "b" \\ \'c\'')).toBe('"a \\"b\\" \\\\ \\\'c\\\'"');
    for (const w of ['x', 'a b', 'q"q', "it's", 'back\\slash', '']) expect(tokenize(`--comment ${quoteWord(w)}`)).toEqual(['--comment', w]);
  });

  it('the fast paths split exactly as the character-by-character tokenizer (property)', () => {
    const outcome = (f: (l: string) => string[], line: string) => {
      try {
        return f(line);
      } catch (e) {
        return (e as Error).message;
      }
    };
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', ' ', '  ', '\t', '"', '-', '\\', '\r'), { maxLength: 30 }), (chars) => {
        const line = chars.join('');
        expect(outcome(tokenize, line)).toEqual(outcome(tokenizeByChar, line));
      }),
      { numRuns: 3000 },
    );
  });
});
