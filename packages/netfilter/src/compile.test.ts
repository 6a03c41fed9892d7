// A --noflush restore installs a new version of the tables it names that shares every chain it
// did not touch (ruleset.ts copy-on-write) and keeps their compiled form (compile.ts installTable).
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Netfilter } from './engine.js';
import { IptablesError } from './errors.js';
import type { HookName } from './hook.js';
import type { Rule } from './rule.js';
import { makeContext, makePacket, newState, type PacketSpec } from './testing/packets.js';

const fixture = readFileSync(new URL('../fixtures/kube-proxy/clusterip.rules', import.meta.url), 'utf8');

const POLICY = `*filter
:PODNET-POLICY - [0:0]
:PODNET-PI-A - [0:0]
:PODNET-PI-B - [0:0]
-I FORWARD 1 -j PODNET-POLICY
-A PODNET-POLICY -d 10.244.1.5/32 -j PODNET-PI-A
-A PODNET-POLICY -d 10.244.1.6/32 -j PODNET-PI-B
-A PODNET-POLICY -j ACCEPT
-A PODNET-PI-A -s 10.244.2.0/24 -p tcp -m tcp --dport 80 -j ACCEPT
-A PODNET-PI-A -j DROP
-A PODNET-PI-B -p tcp -m tcp --dport 443 -j ACCEPT
-A PODNET-PI-B -j DROP
COMMIT
`;

/** A partial sync as the NetworkPolicy agent writes it: one chain, five rules. */
const ONE_CHAIN = `*filter
:PODNET-PI-A - [0:0]
-A PODNET-PI-A -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A PODNET-PI-A -s 10.244.3.0/24 -p tcp -m tcp --dport 80 -j ACCEPT
-A PODNET-PI-A -s 10.244.2.0/24 -p tcp -m tcp --dport 443 -j ACCEPT
-A PODNET-PI-A -m comment --comment "default deny" -j LOG --log-prefix "deny "
-A PODNET-PI-A -j DROP
COMMIT
`;

const forward = (nf: Netfilter, spec: PacketSpec) =>
  nf.run('FORWARD', makePacket(spec), makeContext('FORWARD', { inInterface: 'cni0', outInterface: 'flannel.1' }), newState());

function node(): Netfilter {
  const nf = new Netfilter({ log: () => {} });
  nf.restore(fixture);
  nf.restore(POLICY, { noflush: true });
  // Packets through nat and filter, so that the chains on their way are compiled.
  nf.run('PREROUTING', makePacket({ src: '10.244.2.9', dst: '10.96.0.10', dport: 80 }), makeContext('PREROUTING'), newState());
  expect(forward(nf, { src: '10.244.2.9', dst: '10.244.1.5', dport: 80 })).toEqual({ kind: 'accept' });
  expect(forward(nf, { src: '10.244.2.9', dst: '10.244.1.6', dport: 443 })).toEqual({ kind: 'accept' });
  return nf;
}

describe('a --noflush restore recompiles only what it changed', () => {
  it('keeps the other chains, their compiled form (===) and their counters; only the restored chain is new', () => {
    const nf = node();
    const filter = nf.ruleSet.table('filter');
    const nat = nf.ruleSet.table('nat');
    const compiledB = nf.compiledChain('filter', 'PODNET-PI-B');
    const compiledPolicy = nf.compiledChain('filter', 'PODNET-POLICY');
    const compiledForward = nf.compiledChain('filter', 'FORWARD');
    const compiledA = nf.compiledChain('filter', 'PODNET-PI-A');
    expect(compiledB?.compiled && compiledPolicy?.compiled && compiledForward?.compiled && compiledA?.compiled).toBe(true);
    const natServices = nf.compiledChain('nat', 'KUBE-SERVICES');
    expect(natServices?.compiled).toBe(true);
    const chainB = filter.chains.get('PODNET-PI-B');
    const countersBefore = nf
      .save({ table: 'filter', counters: true })
      .split('\n')
      .filter((l) => !l.includes('PODNET-PI-A'));

    nf.restore(ONE_CHAIN, { noflush: true });

    expect(nf.ruleSet.table('nat')).toBe(nat);
    expect(nf.compiledChain('nat', 'KUBE-SERVICES')).toBe(natServices);
    const next = nf.ruleSet.table('filter');
    expect(next).not.toBe(filter);
    expect(next.chains.get('PODNET-PI-B')).toBe(chainB);
    for (const [name, chain] of filter.chains) if (name !== 'PODNET-PI-A') expect(next.chains.get(name)).toBe(chain);
    expect(nf.compiledChain('filter', 'PODNET-PI-B')).toBe(compiledB);
    expect(nf.compiledChain('filter', 'PODNET-POLICY')).toBe(compiledPolicy);
    expect(nf.compiledChain('filter', 'FORWARD')).toBe(compiledForward);
    // The restored chain compiles again on its next packet, and the jump into it finds the new rules.
    expect(nf.compiledChain('filter', 'PODNET-PI-A')).toBeUndefined();
    expect(forward(nf, { src: '10.244.2.9', dst: '10.244.1.5', dport: 80 })).toEqual({ kind: 'drop', reason: 'rule' });
    expect(forward(nf, { src: '10.244.3.9', dst: '10.244.1.5', dport: 80 })).toEqual({ kind: 'accept' });
    expect(nf.compiledChain('filter', 'PODNET-PI-A')).not.toBe(compiledA);
    // Counters of the untouched rules are what they were, and keep counting.
    const countersAfter = nf
      .save({ table: 'filter', counters: true })
      .split('\n')
      .filter((l) => !l.includes('PODNET-PI-A'));
    expect(countersAfter.filter((l) => !l.includes('PODNET-POLICY') && !l.startsWith('[') && !l.startsWith(':FORWARD'))).toEqual(
      countersBefore.filter((l) => !l.includes('PODNET-POLICY') && !l.startsWith('[') && !l.startsWith(':FORWARD')),
    );
    expect(countersBefore).toContain('[1:40] -A PODNET-PI-B -p tcp -m tcp --dport 443 -j ACCEPT');
    expect(countersAfter).toContain('[1:40] -A PODNET-PI-B -p tcp -m tcp --dport 443 -j ACCEPT');
    expect(countersAfter).toContain('[4:160] -A FORWARD -j PODNET-POLICY');
  });

  it('a restore that fails after touching a chain leaves the old table, its compiled form and its verdicts in force', () => {
    const nf = node();
    const filter = nf.ruleSet.table('filter');
    const compiledA = nf.compiledChain('filter', 'PODNET-PI-A');
    const saved = nf.save({ counters: true });
    const failures: Array<[string, RegExp]> = [
      // At parse time, after the chain was flushed and partly rewritten.
      [`*filter\n:PODNET-PI-A - [0:0]\n-A PODNET-PI-A -j ACCEPT\n-A PODNET-PI-A -j PODNET-NOPE\nCOMMIT\n`, /line 4.*PODNET-NOPE/],
      // At COMMIT: the rewritten chain makes a loop through an untouched one.
      [`*filter\n:PODNET-PI-A - [0:0]\n-A PODNET-PI-A -j PODNET-POLICY\nCOMMIT\n`, /loop/],
      // At COMMIT: a target the hook reaching the chain does not allow (DNAT outside nat is refused earlier).
      [`*filter\n:PODNET-PI-A - [0:0]\n-A PODNET-PI-A -j MASQUERADE\nCOMMIT\n`, /MASQUERADE/],
      // In a later table of the same input.
      [`*filter\n:PODNET-PI-A - [0:0]\n-A PODNET-PI-A -j ACCEPT\nCOMMIT\n*nat\n-A KUBE-NOPE -j ACCEPT\nCOMMIT\n`, /KUBE-NOPE/],
    ];
    for (const [input, message] of failures) {
      expect(() => nf.restore(input, { noflush: true })).toThrow(IptablesError);
      expect(() => nf.restore(input, { noflush: true })).toThrow(message);
      expect(nf.ruleSet.table('filter')).toBe(filter);
      expect(nf.compiledChain('filter', 'PODNET-PI-A')).toBe(compiledA);
      expect(nf.save({ counters: true })).toBe(saved);
    }
    expect(forward(nf, { src: '10.244.2.9', dst: '10.244.1.5', dport: 80 })).toEqual({ kind: 'accept' });
    expect(forward(nf, { src: '10.244.3.9', dst: '10.244.1.5', dport: 80 })).toEqual({ kind: 'drop', reason: 'rule' });
  });

  it('deleting a chain still referenced fails, also when the rule jumping there was not touched', () => {
    const nf = node();
    const filter = nf.ruleSet.table('filter');
    expect(() => nf.restore('*filter\n:PODNET-PI-A - [0:0]\n-X PODNET-PI-A\nCOMMIT\n', { noflush: true })).toThrow(
      /line 3 failed: Too many links: chain `PODNET-PI-A' is still referenced by 1 rule/,
    );
    // A chain deleted cannot be jumped to later in the input.
    expect(() =>
      nf.restore('*filter\n:PODNET-POLICY - [0:0]\n:PODNET-PI-A - [0:0]\n-X PODNET-PI-A\n-A PODNET-POLICY -j PODNET-PI-A\nCOMMIT\n', {
        noflush: true,
      }),
    ).toThrow(/line 5 failed: Couldn't load target `PODNET-PI-A'/);
    expect(nf.ruleSet.table('filter')).toBe(filter);
    // Unreferenced once the jump is gone: deleted, and packets to that pod fall through to the policy.
    nf.restore(
      '*filter\n:PODNET-POLICY - [0:0]\n:PODNET-PI-A - [0:0]\n-A PODNET-POLICY -d 10.244.1.6/32 -j PODNET-PI-B\n-A PODNET-POLICY -j ACCEPT\n-X PODNET-PI-A\nCOMMIT\n',
      {
        noflush: true,
      },
    );
    expect(nf.ruleSet.table('filter').has('PODNET-PI-A')).toBe(false);
    expect(nf.compiledChain('filter', 'PODNET-PI-A')).toBeUndefined();
    expect(forward(nf, { src: '10.244.3.9', dst: '10.244.1.5', dport: 80 })).toEqual({ kind: 'accept' });
    expect(forward(nf, { src: '10.244.3.9', dst: '10.244.1.6', dport: 80 })).toEqual({ kind: 'drop', reason: 'rule' });
  });

  it('a chain reached from a new hook has its rules checked again', () => {
    const nf = new Netfilter();
    // X holds MASQUERADE: valid only when reached from POSTROUTING. Unreached, it is accepted.
    nf.restore('*nat\n:X - [0:0]\n:Y - [0:0]\n-A X -j MASQUERADE\n-A Y -j X\n-A POSTROUTING -j Y\nCOMMIT\n');
    const nat = nf.ruleSet.table('nat');
    // Y and X are untouched; a new jump from PREROUTING makes X reachable from a hook it refuses.
    expect(() => nf.restore('*nat\n-A PREROUTING -j Y\nCOMMIT\n', { noflush: true })).toThrow(
      /MASQUERADE: not valid when reached from PREROUTING/,
    );
    expect(nf.ruleSet.table('nat')).toBe(nat);
    expect(() => nf.restore('*nat\n-A OUTPUT -p tcp -j Y\nCOMMIT\n', { noflush: true })).toThrow(
      /MASQUERADE: not valid when reached from OUTPUT/,
    );
    // From the hook it allows, a second path is accepted.
    nf.restore('*nat\n-A POSTROUTING -p udp -j X\nCOMMIT\n', { noflush: true });
    expect(nf.save({ table: 'nat' })).toContain('-A POSTROUTING -p udp -j X\n');
  });

  it('a chain no longer reached from a hook may hold what that hook refuses (the hooks reaching it before are only a bound)', () => {
    const nf = new Netfilter();
    nf.restore('*nat\n:X - [0:0]\n:Z - [0:0]\n-A PREROUTING -j Z\n-A Z -j X\n-A POSTROUTING -j X\nCOMMIT\n');
    // Z stops jumping to X and X gets a MASQUERADE in the same restore: X is reached from POSTROUTING only.
    nf.restore('*nat\n:Z - [0:0]\n:X - [0:0]\n-A X -j MASQUERADE\nCOMMIT\n', { noflush: true });
    expect(nf.save({ table: 'nat' })).toContain('-A X -j MASQUERADE\n');
    // Jumping to X from PREROUTING again is refused.
    expect(() => nf.restore('*nat\n:Z - [0:0]\n-A Z -j X\nCOMMIT\n', { noflush: true })).toThrow(
      /MASQUERADE: not valid when reached from PREROUTING/,
    );
  });
});

// Random small rule sets: user chains C0..C4 jumping only forward (no loops), rules on source,
// destination, protocol and port, and FORWARD jumping into them.
const ADDRESSES = ['10.244.1.0/24', '10.244.1.5/32', '10.244.2.0/24', '10.0.0.0/8'];
const ruleArb = (chain: number) =>
  fc
    .record({
      src: fc.option(fc.constantFrom(...ADDRESSES), { nil: undefined }),
      dst: fc.option(fc.constantFrom(...ADDRESSES), { nil: undefined }),
      port: fc.option(fc.constantFrom(80, 443), { nil: undefined }),
      target: fc.constantFrom('ACCEPT', 'DROP', 'RETURN', ...[1, 2, 3, 4].filter((j) => j > chain).map((j) => `C${j}`)),
    })
    .map(
      (r) =>
        `${r.src ? ` -s ${r.src}` : ''}${r.dst ? ` -d ${r.dst}` : ''}${r.port ? ` -p tcp -m tcp --dport ${r.port}` : ''} -j ${r.target}`,
    );
const chainRules = (chain: number) => fc.array(ruleArb(chain), { maxLength: 4 });
const ruleSetArb = fc.tuple(fc.array(ruleArb(-1), { maxLength: 4 }), ...[0, 1, 2, 3, 4].map(chainRules));
const packetArb = fc.record({
  src: fc.constantFrom('10.244.1.5', '10.244.1.9', '10.244.2.3', '10.1.1.1'),
  dst: fc.constantFrom('10.244.1.5', '10.244.2.7', '10.9.9.9'),
  dport: fc.constantFrom(80, 443, 22),
  protocol: fc.constantFrom('tcp' as const, 'udp' as const),
});

const write = (forwardRules: string[], chains: Array<string[] | undefined>): string => {
  let text = '*filter\n';
  for (let c = 0; c < chains.length; c++) if (chains[c] !== undefined) text += `:C${c} - [0:0]\n`;
  if (forwardRules.length > 0) text += ':FORWARD ACCEPT [0:0]\n';
  for (const r of forwardRules) text += `-A FORWARD${r}\n`;
  for (let c = 0; c < chains.length; c++) for (const r of chains[c] ?? []) text += `-A C${c}${r}\n`;
  return `${text}COMMIT\n`;
};

describe('verdicts after a partial restore (property)', () => {
  it('equal those of the same rules restored whole into a new engine', () => {
    fc.assert(
      fc.property(
        ruleSetArb,
        ruleSetArb,
        fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
        fc.array(packetArb, { minLength: 1, maxLength: 8 }),
        ([forward0, ...chains0], [forward1, ...chains1], rewrite, packets) => {
          const nf = new Netfilter();
          nf.restore(write(forward0, chains0));
          const hook: HookName = 'FORWARD';
          const ctx = makeContext(hook);
          for (const p of packets) nf.run(hook, makePacket(p), ctx, newState());
          // Rewrite some chains only (the others keep their rules and compiled form).
          const partial = write(
            rewrite[0] ? forward1 : [],
            chains1.map((rules, c) => (rewrite[c + 1] ? rules : undefined)),
          );
          try {
            nf.restore(partial, { noflush: true });
          } catch (e) {
            // Refused (a jump to a chain the partial input flushed away, say): the old rules stay in force.
            if (!(e instanceof IptablesError)) throw e;
          }
          const whole = new Netfilter();
          // The rules in force, restored whole: the full rebuild the partial restore must equal.
          whole.restore(nf.save());
          for (const p of packets) {
            expect(nf.run(hook, makePacket(p), ctx, newState())).toEqual(whole.run(hook, makePacket(p), ctx, newState()));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

// nat chains whose targets are valid only from some hooks (MASQUERADE: POSTROUTING, DNAT:
// PREROUTING/OUTPUT) and jumps in any direction (loops), reached from PREROUTING and POSTROUTING.
const natTarget = fc.constantFrom('ACCEPT', 'RETURN', 'MASQUERADE', 'DNAT --to-destination 10.0.0.1', 'C0', 'C1', 'C2', 'C3');
const natChain = fc.array(fc.tuple(fc.option(fc.constantFrom('10.244.1.0/24', '10.0.0.0/8'), { nil: undefined }), natTarget), {
  maxLength: 3,
});
const natSet = fc.tuple(
  fc.array(fc.constantFrom('C0', 'C1', 'C2', 'C3'), { maxLength: 2 }),
  fc.array(fc.constantFrom('C0', 'C1', 'C2', 'C3'), { maxLength: 2 }),
  fc.array(natChain, { minLength: 4, maxLength: 4 }),
);
const natText = (
  pre: string[] | undefined,
  post: string[] | undefined,
  chains: Array<Array<[string | undefined, string]> | undefined>,
): string => {
  let text = '*nat\n';
  for (let c = 0; c < chains.length; c++) if (chains[c] !== undefined) text += `:C${c} - [0:0]\n`;
  // A built-in chain's line keeps its rules under --noflush (as the kernel's): -F rewrites it.
  if (pre !== undefined) text += ':PREROUTING ACCEPT [0:0]\n-F PREROUTING\n';
  if (post !== undefined) text += ':POSTROUTING ACCEPT [0:0]\n-F POSTROUTING\n';
  for (const j of pre ?? []) text += `-A PREROUTING -j ${j}\n`;
  for (const j of post ?? []) text += `-A POSTROUTING -j ${j}\n`;
  for (let c = 0; c < chains.length; c++) for (const [src, t] of chains[c] ?? []) text += `-A C${c}${src ? ` -s ${src}` : ''} -j ${t}\n`;
  return `${text}COMMIT\n`;
};
const accepts = (nf: Netfilter, text: string, noflush: boolean): boolean => {
  try {
    nf.restore(text, { noflush });
    return true;
  } catch (e) {
    if (!(e instanceof IptablesError)) throw e;
    return false;
  }
};

describe('commit checks of a partial restore (property)', () => {
  it('refuse exactly what a whole restore of the resulting rules refuses, and build the same rules', () => {
    fc.assert(
      fc.property(natSet, natSet, fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), (first, second, rewrite) => {
        const nf = new Netfilter();
        if (!accepts(nf, natText(first[0], first[1], first[2]), false)) return;
        const saved = nf.save();
        const pick = <T>(i: number, a: T, b: T) => (rewrite[i] ? b : a);
        const pre = pick(0, undefined, second[0]);
        const post = pick(1, undefined, second[1]);
        const partial = second[2].map((rules, c) => (rewrite[c + 2] ? rules : undefined));
        const merged = natText(
          pre ?? first[0],
          post ?? first[1],
          first[2].map((rules, c) => partial[c] ?? rules),
        );
        const whole = new Netfilter();
        const wholeAccepts = accepts(whole, merged, false);
        expect(accepts(nf, natText(pre, post, partial), true)).toBe(wholeAccepts);
        expect(nf.save()).toBe(wholeAccepts ? whole.save() : saved);
      }),
      { numRuns: 400 },
    );
  });
});

describe('copy-on-write tables', () => {
  it('a change made to a table after it was cloned copies the chain, and the clone keeps its rules', () => {
    const nf = new Netfilter();
    nf.restore('*filter\n:X - [0:0]\n-A X -j ACCEPT\nCOMMIT\n');
    const base = nf.ruleSet.table('filter');
    const shared = base.chain('X');
    const copy = base.clone();
    base.append('X', { ...(shared.rules[0] as Rule), packets: 0, bytes: 0 });
    expect(base.chain('X').rules).toHaveLength(2);
    expect(copy.chain('X')).toBe(shared);
    expect(shared.rules).toHaveLength(1);
  });
});
