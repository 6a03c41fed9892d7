import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Netfilter } from './engine.js';
import { IptablesError } from './errors.js';
import { INVALID_RESTORES } from './testing/restore-cases.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures');
const NAT_HEAD = ':PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n';

function restoreError(nf: Netfilter, text: string, options = {}): IptablesError {
  try {
    nf.restore(text, options);
  } catch (e) {
    expect(e).toBeInstanceOf(IptablesError);
    return e as IptablesError;
  }
  throw new Error(`restore accepted:\n${text}`);
}

describe('iptables-restore', () => {
  it('prints rules the way iptables-save does (canonical order and spelling, as the kernel printed them)', () => {
    const nf = new Netfilter();
    nf.restore(readFileSync(join(fixtures, 'canonical.rules'), 'utf8'), { counters: true });
    expect(nf.save()).toBe(readFileSync(join(fixtures, 'canonical.saved'), 'utf8'));
  });

  it('save → restore → save is identical, with and without counters', () => {
    const nf = new Netfilter();
    nf.restore(readFileSync(join(fixtures, 'canonical.rules'), 'utf8'), { counters: true });
    const saved = nf.save({ counters: true });
    const again = new Netfilter();
    again.restore(saved, { counters: true });
    expect(again.save({ counters: true })).toBe(saved);
    expect(again.save()).toBe(nf.save());
  });

  it('without --noflush replaces every table in the input whole; other tables stay', () => {
    const nf = new Netfilter();
    nf.restore('*filter\n:KUBE-A - [0:0]\n-A INPUT -j KUBE-A\n-A KUBE-A -j ACCEPT\nCOMMIT\n*nat\n:X - [0:0]\nCOMMIT\n');
    nf.restore('*filter\n:KUBE-B - [0:0]\n-A FORWARD -j KUBE-B\nCOMMIT\n');
    expect(nf.save({ table: 'filter' })).toBe(
      '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-B - [0:0]\n-A FORWARD -j KUBE-B\nCOMMIT\n',
    );
    expect(nf.save({ table: 'nat' })).toContain(':X - [0:0]');
  });

  it('with --noflush changes only the chains named: a declared chain is flushed, others keep their rules and counters', () => {
    const nf = new Netfilter();
    nf.restore(
      '*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-OLD - [0:0]\n-A PREROUTING -j KUBE-SERVICES\n-A KUBE-SERVICES -d 10.96.0.1/32 -j KUBE-OLD\n-A KUBE-OLD -j RETURN\nCOMMIT\n',
    );
    // kube-proxy deletes a stale chain by declaring it (which flushes it) and then -X.
    nf.restore(
      '*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NEW - [0:0]\n:KUBE-OLD - [0:0]\n-A KUBE-SERVICES -d 10.96.0.2/32 -j KUBE-NEW\n-X KUBE-OLD\nCOMMIT\n',
      { noflush: true },
    );
    expect(nf.save({ table: 'nat' })).toBe(
      `*nat\n${NAT_HEAD}:KUBE-NEW - [0:0]\n:KUBE-SERVICES - [0:0]\n-A PREROUTING -j KUBE-SERVICES\n-A KUBE-SERVICES -d 10.96.0.2/32 -j KUBE-NEW\nCOMMIT\n`,
    );
  });

  it("with --noflush a built-in chain line sets the policy and keeps the chain's rules (only user chains are flushed)", () => {
    const nf = new Netfilter();
    nf.restore('*filter\n:FLANNEL-FWD - [0:0]\n-A FORWARD -j FLANNEL-FWD\n-A FLANNEL-FWD -s 10.244.0.0/16 -j ACCEPT\nCOMMIT\n');
    nf.restore('*filter\n:FORWARD DROP [0:0]\n:KUBE-FORWARD - [0:0]\n-I FORWARD 1 -j KUBE-FORWARD\nCOMMIT\n', { noflush: true });
    expect(nf.save({ table: 'filter' })).toBe(
      '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:FLANNEL-FWD - [0:0]\n:KUBE-FORWARD - [0:0]\n' +
        '-A FORWARD -j KUBE-FORWARD\n-A FORWARD -j FLANNEL-FWD\n-A FLANNEL-FWD -s 10.244.0.0/16 -j ACCEPT\nCOMMIT\n',
    );
  });

  it('takes [packets:bytes] only with --counters', () => {
    const nf = new Netfilter();
    const text = '*filter\n:INPUT DROP [7:700]\n[3:180] -A INPUT -s 10.0.0.0/8 -j ACCEPT\nCOMMIT\n';
    nf.restore(text);
    expect(nf.save({ table: 'filter', counters: true })).toContain('[0:0] -A INPUT -s 10.0.0.0/8 -j ACCEPT');
    expect(nf.save({ table: 'filter' })).toContain(':INPUT DROP [0:0]');
    nf.restore(text, { counters: true });
    expect(nf.save({ table: 'filter', counters: true })).toContain(':INPUT DROP [7:700]\n');
    expect(nf.save({ table: 'filter', counters: true })).toContain('[3:180] -A INPUT -s 10.0.0.0/8 -j ACCEPT');
  });

  it('supports -I (with a position), -D (by rule and by number), -R, -N, -X, -F, -P, # comments and CRLF lines', () => {
    const nf = new Netfilter();
    nf.restore(
      [
        '# comment',
        '*filter',
        '-N KUBE-X',
        '-A INPUT -s 1.1.1.1 -j ACCEPT',
        '-A INPUT -s 2.2.2.2 -j ACCEPT',
        '-I INPUT -s 3.3.3.3 -j DROP',
        '-I INPUT 3 -s 4.4.4.4 -j DROP\r',
        '-D INPUT -s 1.1.1.1/32 -j ACCEPT',
        '-R INPUT 1 -s 5.5.5.5 -j KUBE-X',
        '-D INPUT 2',
        '-P FORWARD DROP',
        '-N KUBE-GONE',
        '-X KUBE-GONE',
        'COMMIT',
      ].join('\n'),
    );
    expect(nf.iptables('-S')).toBe(
      '-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N KUBE-X\n-A INPUT -s 5.5.5.5/32 -j KUBE-X\n-A INPUT -s 2.2.2.2/32 -j ACCEPT\n',
    );
  });

  it('--test checks everything and changes nothing', () => {
    const nf = new Netfilter();
    nf.restore('*filter\n-A INPUT -j DROP\nCOMMIT\n', { test: true });
    expect(nf.save({ table: 'filter' })).not.toContain('-A INPUT');
    expect(() => nf.restore('*filter\n-A INPUT -j NOPE\nCOMMIT\n', { test: true })).toThrow(IptablesError);
  });

  it.each(INVALID_RESTORES)('refuses %j at line %i: %s', (text, line, reason, word) => {
    const nf = new Netfilter();
    const e = restoreError(nf, text);
    expect(e.line).toBe(line);
    expect(e.message).toContain(`line ${line} failed`);
    expect(e.message).toContain(reason);
    if (word !== undefined) expect(e.word).toBe(word);
    expect(e.code).toBe('PODNET_ERR_IPTABLES_RESTORE');
  });

  it('is atomic: on any error nothing changes, and the previous tables stay in force', () => {
    const nf = new Netfilter();
    const good = readFileSync(join(fixtures, 'kube-proxy', 'clusterip.rules'), 'utf8');
    nf.restore(good);
    const before = nf.save();
    // The error is in the second table: the first (filter) must not have been applied either.
    const bad = `*filter\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n-A PREROUTING -j KUBE-GONE\nCOMMIT\n`;
    expect(restoreError(nf, bad).line).toBe(6);
    expect(nf.save()).toBe(before);
    // Garbage, truncated and huge inputs.
    const lines = good.split('\n');
    for (let cut = 1; cut < lines.length - 1; cut += 3) {
      const truncated = lines.slice(0, cut).join('\n');
      const result = (() => {
        try {
          new Netfilter().restore(truncated);
          return 'accepted';
        } catch (e) {
          return e instanceof IptablesError && typeof e.line === 'number' ? 'refused' : `crashed: ${e}`;
        }
      })();
      // A cut before a COMMIT misses it; a cut right after a COMMIT is a valid shorter file.
      expect(result === 'refused' || /COMMIT$/.test(truncated.trim()) || truncated.trim() === '', `${cut}: ${result}`).toBe(true);
      expect(restoreError(nf, `${truncated}\n-A INPUT -j NOPE-${cut}\nCOMMIT\n`).line).toBeGreaterThan(0);
      expect(nf.save()).toBe(before);
    }
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)).toString('latin1');
    expect(restoreError(nf, garbage).line).toBeGreaterThan(0);
    const huge = `*filter\n:KUBE-X - [0:0]\n${'-A KUBE-X -s 10.0.0.1 -j ACCEPT\n'.repeat(100_000)}-A KUBE-X -s 10.0.0.300 -j ACCEPT\nCOMMIT\n`;
    const e = restoreError(nf, huge);
    expect(e.line).toBe(100_003);
    expect(e.word).toBe('10.0.0.300');
    expect(nf.save()).toBe(before);
  });

  it('accepts what the kernel accepts that looks odd: short addresses, dotted masks, a DROP policy on nat, repeated chain lines with --noflush', () => {
    const nf = new Netfilter();
    nf.restore(`*filter\n-A INPUT -s 1.2.3\n-A INPUT -s 10.0.0.0/255.0.255.0\nCOMMIT\n*nat\n:PREROUTING DROP [0:0]\n:X - [0:0]\nCOMMIT\n`);
    // With --noflush a repeated chain line flushes the chain.
    nf.restore('*nat\n:X - [0:0]\n-A X -j RETURN\n:X - [0:0]\nCOMMIT\n', { noflush: true });
    expect(nf.save({ table: 'filter' })).toContain('-A INPUT -s 1.2.3.0/32\n-A INPUT -s 10.0.0.0/255.0.255.0\n');
    expect(nf.save({ table: 'nat' })).toBe(
      `*nat\n:PREROUTING DROP [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:X - [0:0]\nCOMMIT\n`,
    );
  });
});

describe('rules written alike share their parsed matches', () => {
  it('and a match refused under one protocol is refused even when it was accepted under another before', () => {
    const nf = new Netfilter();
    expect(() =>
      nf.restore(
        '*filter\n-A INPUT -p tcp -m multiport --dports 1,2 -j ACCEPT\n-A INPUT -p icmp -m multiport --dports 1,2 -j ACCEPT\nCOMMIT\n',
      ),
    ).toThrow(/line 3 failed: multiport needs/);
    nf.restore(
      '*filter\n-A INPUT -p tcp -m multiport --dports 1,2 -m comment --comment x\n-A INPUT -p udp -m multiport --dports 1,2 -m comment --comment x\nCOMMIT\n',
    );
    expect(nf.iptables('-S INPUT')).toBe(
      '-P INPUT ACCEPT\n-A INPUT -p tcp -m multiport --dports 1,2 -m comment --comment x\n-A INPUT -p udp -m multiport --dports 1,2 -m comment --comment x\n',
    );
  });
});
