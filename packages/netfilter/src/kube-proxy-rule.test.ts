// The kube-proxy fast path must build exactly the rule the general parser builds, and leave every
// line it does not take (or that is wrong) to the general parser, so errors keep their word.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Netfilter } from './engine.js';
import { IptablesError } from './errors.js';
import { parseKubeProxyRule } from './kube-proxy-rule.js';
import type { MatchInstance, Rule } from './rule.js';
import { type ChainLookup, newInternTable, parseRuleWords } from './rule-parser.js';
import { ruleText } from './rule-save.js';
import { Table } from './ruleset.js';
import { tokenize } from './tokenize.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'kube-proxy');
const PREFIX = '-A KUBE-SVC-X ';

/** A nat table with the chains the generated lines jump to. */
function natTable(): Table {
  const t = new Table('nat');
  for (const c of ['KUBE-SVC-X', 'KUBE-SEP-A', 'KUBE-MARK-MASQ']) t.newChain(c);
  return t;
}

type Outcome = { rule: Rule } | { error: string; word: string | undefined };

/** The general parser's answer for the words after `-A CHAIN` (what restore does without the fast path). */
function general(line: string, lookup: ChainLookup, intern = newInternTable()): Outcome {
  try {
    return { rule: parseRuleWords(tokenize(line), 2, lookup, intern) };
  } catch (e) {
    const error = e as Error & { word?: string };
    return { error: error.message, word: error.word };
  }
}

/** Fast path vs general parser on one `-A CHAIN ...` line: the fast path either declines or builds the same rule. */
function expectSameRule(line: string, table: Table): boolean {
  const lookup: ChainLookup = (name) => table.chains.get(name);
  const start = line.indexOf(' ', 3) + 1;
  const intern = newInternTable();
  const fast = parseKubeProxyRule(line, start, lookup, intern);
  const slow = general(line, lookup, intern);
  if (fast === undefined) return false;
  if (!('rule' in slow)) throw new Error(`fast path accepted a line the general parser refuses (${slow.error}): ${line}`);
  expect(fast).toEqual(slow.rule);
  // Shared match instances are the very same objects on both paths (one intern table), but for
  // kube-proxy's per-endpoint comments, which the fast path makes without the table.
  for (let i = 0; i < fast.matches.length; i++) {
    const m = fast.matches[i] as MatchInstance;
    if (m.module.name === 'comment' && (m.data as { comment: string }).comment.includes(' -> ')) continue;
    expect(m).toBe(slow.rule.matches[i]);
  }
  expect(ruleText(fast)).toBe(ruleText(slow.rule));
  return true;
}

/** A table holding every chain a restore text declares (so jumps resolve as they do in the restore). */
function tableOf(text: string, name: 'nat' | 'filter'): Table {
  const t = new Table(name);
  let inTable = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) inTable = line === `*${name}`;
    else if (inTable && line.startsWith(':')) {
      const chain = line.slice(1).split(' ')[0] as string;
      if (!t.has(chain)) t.newChain(chain);
    }
  }
  return t;
}

function linesByTable(text: string): Array<[line: string, table: 'nat' | 'filter']> {
  const out: Array<[string, 'nat' | 'filter']> = [];
  let table: 'nat' | 'filter' = 'filter';
  for (const line of text.split('\n')) {
    if (line === '*nat' || line === '*filter') table = line.slice(1) as 'nat' | 'filter';
    else if (line.startsWith('-A ')) out.push([line, table]);
  }
  return out;
}

describe('kube-proxy fast path of iptables-restore', () => {
  it('builds exactly the general parser’s rule for every line of the kube-proxy fixtures (kube-proxy’s own layout)', () => {
    const texts = readdirSync(fixtures)
      .filter((f) => f.endsWith('.rules'))
      .map((f) => readFileSync(join(fixtures, f), 'utf8'));
    let fast = 0;
    let all = 0;
    let sepSvcServices = 0;
    let sepSvcServicesFast = 0;
    for (const text of texts) {
      const tables = { nat: tableOf(text, 'nat'), filter: tableOf(text, 'filter') };
      for (const [line, name] of linesByTable(text)) {
        all++;
        const took = expectSameRule(line, tables[name]);
        if (took) fast++;
        // The bulk of a large restore: endpoint, service and service-map rules.
        if (/^-A KUBE-(SEP|SVC)-|^-A KUBE-SERVICES .*--dport/.test(line) && !/-m recent|-j REJECT/.test(line)) {
          sepSvcServices++;
          if (took) sepSvcServicesFast++;
        }
      }
    }
    expect(all).toBeGreaterThan(200);
    expect(sepSvcServicesFast).toBe(sepSvcServices);
    expect(fast).toBeGreaterThan(100);
  });

  it('declines what it does not read (the general parser takes those lines)', () => {
    const table = natTable();
    const lookup: ChainLookup = (name) => table.chains.get(name);
    const declined = [
      '-m comment --comment x -m recent --name KUBE-SEP-A --rcheck --seconds 10800 --reap -j KUBE-SEP-A',
      '-m conntrack --ctstate NEW -j KUBE-SEP-A',
      '-p tcp ! --dport 80 -j ACCEPT',
      '! -p tcp -j ACCEPT',
      '-m comment --comment "a \\"b\\"" -j ACCEPT',
      '-m comment --comment\t"x" -j ACCEPT',
      '-m comment --comment a"b c"d -j ACCEPT',
      '-m comment --comment "a b"c -j ACCEPT',
      '-j MARK --or-mark 0x4000',
      '-m tcp -p tcp -j DNAT --to-destination 10.244.0.2:8080 --random',
      '-m statistic --mode nth --every 2 -j KUBE-SEP-A',
      '-m statistic --probability 0.5 --mode random -j KUBE-SEP-A',
      '-s  10.0.0.1 -j ACCEPT',
      '-c 10 20 -j ACCEPT',
    ];
    for (const words of declined) expect(parseKubeProxyRule(PREFIX + words, PREFIX.length, lookup, newInternTable())).toBeUndefined();
    // And the general parser reads each of them (or refuses it) as before.
    expect('rule' in general(PREFIX + declined[0], lookup)).toBe(true);
  });

  it('takes every line in kube-proxy’s exact shapes and builds the general parser’s rule (property)', () => {
    fc.assert(
      fc.property(kubeProxyLine(), (words) => {
        expect(expectSameRule(PREFIX + words, natTable())).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('builds the same rule as the general parser for generated kube-proxy-shaped lines, and declines every line it refuses (property)', () => {
    let took = 0;
    fc.assert(
      fc.property(ruleWords(), (words) => {
        const line = PREFIX + words;
        const table = natTable();
        const outcome = general(line, (name) => table.chains.get(name));
        const fast = expectSameRule(line, natTable());
        if ('error' in outcome) expect(fast).toBe(false);
        if (fast) took++;
      }),
      { numRuns: 3000 },
    );
    // The generator reaches the fast path often enough for the comparison to mean something.
    expect(took).toBeGreaterThan(100);
  });

  it('a restore gives the same rules, or the same error and word, as the general path of the iptables command (property)', () => {
    fc.assert(
      fc.property(ruleWords(), (words) => {
        const head = '*nat\n:KUBE-SVC-X - [0:0]\n:KUBE-SEP-A - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n';
        const viaRestore = new Netfilter();
        const viaCommand = new Netfilter();
        viaCommand.restore(`${head}COMMIT\n`);
        let restoreError: IptablesError | undefined;
        let commandError: IptablesError | undefined;
        try {
          viaRestore.restore(`${head}${PREFIX}${words}\nCOMMIT\n`);
        } catch (e) {
          restoreError = e as IptablesError;
        }
        try {
          viaCommand.iptables(['-t', 'nat', ...tokenize(PREFIX + words)]);
        } catch (e) {
          commandError = e as IptablesError;
        }
        if (commandError === undefined) {
          expect(restoreError).toBeUndefined();
          expect(viaRestore.save()).toBe(viaCommand.save());
        } else {
          expect(restoreError).toBeInstanceOf(IptablesError);
          expect(restoreError?.line).toBe(5);
          expect(restoreError?.reason).toBe(commandError.reason);
          expect(restoreError?.word).toBe(commandError.word);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('reads lines in place among lines with tabs, carriage returns, blanks to trim and escapes', () => {
    const lines = readFileSync(join(fixtures, 'clusterip.rules'), 'utf8').trimEnd().split('\n');
    const plain = new Netfilter();
    plain.restore(`${lines.join('\n')}\n`);
    // The same rules, every third one written so that the tokenizer has work to do.
    const messy = lines.map((l, i) => {
      if (!l.startsWith('-A ') || i % 3 !== 0) return l;
      if (i % 4 === 0) return `${l.replace(' -j ', '\t-j ')}`;
      if (i % 4 === 1) return `${l}\r`;
      if (i % 4 === 2) return `  ${l}  `;
      // Inside quotes a backslash makes the next character literal: the same comment.
      return l.replace('--comment "', '--comment "\\');
    });
    expect(messy.filter((l, i) => l !== lines[i]).length).toBeGreaterThan(5);
    const nf = new Netfilter();
    nf.restore(`${messy.join('\n')}\n`);
    expect(nf.save()).toBe(plain.save());
  });

  it('a jump to a chain deleted since the last jump there is refused as the general parser refuses it', () => {
    const input = [
      '*nat',
      ':KUBE-A - [0:0]',
      ':KUBE-B - [0:0]',
      '-A KUBE-B -m comment --comment x -j KUBE-A',
      '-F KUBE-B',
      '-X KUBE-A',
      '-A KUBE-B -m comment --comment x -j KUBE-A',
      'COMMIT',
      '',
    ].join('\n');
    const nf = new Netfilter();
    expect(() => nf.restore(input)).toThrow(IptablesError);
    try {
      nf.restore(input);
    } catch (e) {
      const error = e as IptablesError;
      expect(error.line).toBe(7);
      expect(error.reason).toBe("Couldn't load target `KUBE-A':No such file or directory");
      expect(error.word).toBe('KUBE-A');
    }
    // Declared again, the chain is a new one: the jump is to it.
    nf.restore(input.replace('-X KUBE-A\n', '-X KUBE-A\n:KUBE-A - [0:0]\n'));
    expect(nf.iptables('-t nat -S KUBE-B')).toContain('-A KUBE-B -m comment --comment x -j KUBE-A');
  });

  it('malformed kube-proxy lines name the line and the word, as the general parser does', () => {
    const cases: Array<[words: string, reason: RegExp, word: string]> = [
      ['-m comment --comment x -m tcp -p tcp -j DNAT --to-destination 10.244.0.300:8080', /Bad IP address/, '10.244.0.300:8080'],
      ['-m comment --comment x -m tcp -p tcp -d 10.96.0.10/33 --dport 80 -j KUBE-SEP-A', /invalid mask `33'/, '10.96.0.10/33'],
      ['-m comment --comment x -m tcp -p tcp -d 10.96.0.10 --dport 99999 -j KUBE-SEP-A', /invalid port\/service `99999'/, '99999'],
      ['-m comment --comment x -m statistic --mode random --probability 1.5 -j KUBE-SEP-A', /--probability/, '1.5'],
      ['-m comment --comment x -j KUBE-SEP-NOPE', /Couldn't load target `KUBE-SEP-NOPE'/, 'KUBE-SEP-NOPE'],
      ['-m udp -p tcp --dport 53 -j KUBE-SEP-A', /udp match: only valid for protocol 17/, '-m udp'],
      ['-m comment --comment x -s 10.0.0.1 -s 10.0.0.2 -j KUBE-MARK-MASQ', /multiple -s flags/, '-s'],
      ['-m comment --comment x --dport 80 -j KUBE-SEP-A', /unknown option "--dport"/, '--dport'],
      [`-m comment --comment "ns/svc:p80 -> ${'x'.repeat(250)}" -j KUBE-SEP-A`, /comment too long/, `ns/svc:p80 -> ${'x'.repeat(250)}`],
    ];
    for (const [words, reason, word] of cases) {
      const nf = new Netfilter();
      let error: IptablesError | undefined;
      try {
        nf.restore(`*nat\n:KUBE-SVC-X - [0:0]\n:KUBE-SEP-A - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n${PREFIX}${words}\nCOMMIT\n`);
      } catch (e) {
        error = e as IptablesError;
      }
      expect(error, words).toBeInstanceOf(IptablesError);
      expect(error?.line, words).toBe(5);
      expect(error?.reason, words).toMatch(reason);
      expect(error?.word, words).toBe(word);
      // Nothing changed.
      expect(nf.save({ table: 'nat' })).toBe(new Netfilter().save({ table: 'nat' }));
    }
  });
});

/** Words after `-A CHAIN` exactly as proxier.go writes them (KUBE-SEP, KUBE-SVC, KUBE-SERVICES, KUBE-NODEPORTS). */
function kubeProxyLine(): fc.Arbitrary<string> {
  const ip = fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))
    .map(([a, b, c]) => `10.${a}.${b}.${c}`);
  const port = fc.integer({ min: 1, max: 65535 });
  const proto = fc.constantFrom('tcp', 'udp', 'sctp');
  const name = fc.stringMatching(/^ns[0-9]{1,3}\/svc-[a-z0-9-]{1,12}:p[0-9]{1,5}$/);
  const chain = fc.constantFrom('KUBE-SEP-A', 'KUBE-SVC-X', 'KUBE-MARK-MASQ');
  const probability = fc.integer({ min: 2, max: 100 }).map((n) => (1 / n).toFixed(10));
  return fc.oneof(
    fc.tuple(name, ip).map(([c, s]) => `-m comment --comment ${c} -s ${s} -j KUBE-MARK-MASQ`),
    fc.tuple(name, proto, ip, port).map(([c, p, d, n]) => `-m comment --comment ${c} -m ${p} -p ${p} -j DNAT --to-destination ${d}:${n}`),
    fc
      .tuple(name, proto, ip, port)
      .map(
        ([c, p, d, n]) =>
          `-m comment --comment "${c} cluster IP" -m ${p} -p ${p} -d ${d} --dport ${n} ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ`,
      ),
    fc
      .tuple(name, proto, ip, port, chain)
      .map(([c, p, d, n, j]) => `-m comment --comment "${c} cluster IP" -m ${p} -p ${p} -d ${d} --dport ${n} -j ${j}`),
    fc
      .tuple(name, ip, port, probability)
      .map(([c, d, n, pr]) => `-m comment --comment "${c} -> ${d}:${n}" -m statistic --mode random --probability ${pr} -j KUBE-SEP-A`),
    fc.tuple(name, ip, port).map(([c, d, n]) => `-m comment --comment "${c} -> ${d}:${n}" -j KUBE-SEP-A`),
    fc.tuple(name, proto, port).map(([c, p, n]) => `-m comment --comment ${c} -m ${p} -p ${p} --dport ${n} -j KUBE-SVC-X`),
  );
}

/** Words after `-A CHAIN`: kube-proxy's pieces in any order, with wrong values and stray words mixed in. */
function ruleWords(): fc.Arbitrary<string> {
  const octet = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constant(256), fc.constant(300));
  const address = fc.oneof(
    fc.tuple(octet, octet, octet, octet).map((o) => o.join('.')),
    fc.tuple(octet, octet, octet, octet, fc.integer({ min: 0, max: 34 })).map(([a, b, c, d, m]) => `${a}.${b}.${c}.${d}/${m}`),
    fc.constantFrom('10.96.0.10', '10.244.0.0/16', '127.0.0.0/8', '10.244.1.7/32', '1.2.3', 'abc', '10.0.0.0/255.255.0.0'),
  );
  const port = fc.oneof(fc.integer({ min: 0, max: 70000 }).map(String), fc.constantFrom('80', '8080', '1:100', '100:1', ':80', 'http'));
  const protocol = fc.constantFrom('tcp', 'udp', 'sctp', 'icmp', 'TCP', 'all', '6', 'bogus');
  const comment = fc.oneof(
    fc.constantFrom('ns0/svc-0:p80', 'x', '', '"ns0/svc-0:p80 cluster IP"', '"ns0/svc-0:p80 -> 10.244.0.2:8080"', '""', '"a b"'),
    fc.stringMatching(/^[a-z0-9/:.-]{1,20}$/),
  );
  const probability = fc.oneof(
    fc.double({ min: 0, max: 1, noNaN: true }).map((p) => p.toFixed(10)),
    fc.constantFrom('0.1000000000', '0.5', '1', '0', '1.5', '-0.1', 'x', '.5'),
  );
  const destination = fc.oneof(
    fc.tuple(address, fc.option(port)).map(([a, p]) => (p === null ? a : `${a}:${p}`)),
    fc.constantFrom('10.244.0.2:8080', '10.244.0.2', ':8080', '10.244.0.2-10.244.0.9:80-90', '10.244.0.2:0'),
  );
  const target = fc.constantFrom('KUBE-SEP-A', 'KUBE-MARK-MASQ', 'KUBE-SVC-X', 'KUBE-NOPE', 'ACCEPT', 'RETURN', 'DROP', 'REJECT', 'MARK');
  const piece = fc.oneof(
    comment.map((c) => `-m comment --comment ${c}`),
    fc.constantFrom('tcp', 'udp', 'sctp', 'icmp').map((p) => `-m ${p}`),
    protocol.map((p) => `-p ${p}`),
    fc.tuple(fc.constantFrom('-s', '-d', '! -s', '! -d'), address).map(([o, a]) => `${o} ${a}`),
    fc.tuple(fc.constantFrom('--dport', '--sport'), port).map(([o, p]) => `${o} ${p}`),
    probability.map((p) => `-m statistic --mode random --probability ${p}`),
    target.map((t) => `-j ${t}`),
    destination.map((d) => `-j DNAT --to-destination ${d}`),
    destination.map((d) => `--to-destination ${d}`),
    fc.constantFrom('-m comment', '--comment', '-j', '-s', '!', '-m statistic', '-f', '--dport', '-m', '-p', '-m bogus'),
  );
  return fc.array(piece, { minLength: 1, maxLength: 7 }).map((pieces) => pieces.join(' '));
}
