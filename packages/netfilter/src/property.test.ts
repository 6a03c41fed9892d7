// Property: for generated rule sets, save → restore → save is identical (and so is the listing
// with counters), and a restore of the saved text gives the same verdicts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Netfilter } from './engine.js';
import { arbitraryRuleSet } from './testing/arbitrary-rules.js';

describe('iptables-save round trip (property)', () => {
  it('save → restore → save is identical for generated rule sets', () => {
    fc.assert(
      fc.property(arbitraryRuleSet(), (text) => {
        const first = new Netfilter();
        first.restore(text);
        const saved = first.save();
        const second = new Netfilter();
        second.restore(saved);
        expect(second.save()).toBe(saved);
        const withCounters = second.save({ counters: true });
        const third = new Netfilter();
        third.restore(withCounters, { counters: true });
        expect(third.save({ counters: true })).toBe(withCounters);
        expect(third.iptables('-t nat -S')).toBe(first.iptables('-t nat -S'));
      }),
      { numRuns: 150 },
    );
  });
});
