// Interop (netfilter rule engine): the Linux kernel is the oracle for what iptables-restore accepts
// and how iptables-save prints it. Every rule set of the netfilter tests — valid and invalid — is
// restored for real (not only --test) into a fresh network namespace made by this test, and must be
// accepted or refused alike by podnet; for the accepted ones, the kernel's iptables-save equals
// podnet's (header comments aside), and podnet's own iptables-save output is accepted by the real
// iptables-restore and comes back unchanged.
//
// The legacy (x_tables) backend is used when present (iptables-legacy-restore, Debian's iptables
// package): it is what kube-proxy's iptables mode programs and what podnet mirrors. The nft backend
// (Debian 12's default `iptables`) accepts and prints these rule sets the same way; the test names
// the binary it used in its title.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Netfilter, SAVE_ORDER } from '../../packages/netfilter/src/index.ts';
import { arbitraryRuleSet } from '../../packages/netfilter/src/testing/arbitrary-rules.ts';
import { DELIBERATELY_STRICTER, INVALID_RESTORES, ODD_VALID_RESTORES } from '../../packages/netfilter/src/testing/restore-cases.ts';
import { describeInterop } from '../support/interop.ts';
import { hasCommand } from '../support/tools.ts';

const legacy = hasCommand('iptables-legacy-restore');
const RESTORE = legacy ? 'iptables-legacy-restore' : 'iptables-restore';
const SAVE = legacy ? 'iptables-legacy-save' : 'iptables-save';
const IPTABLES = legacy ? 'iptables-legacy' : 'iptables';
const fixtures = join(import.meta.dirname, '..', '..', 'packages', 'netfilter', 'fixtures');
const prefix = `podnet-nf-${process.pid}`;
let counter = 0;
const made: string[] = [];

async function freshNamespace(): Promise<string> {
  const ns = `${prefix}-${counter++}`;
  await execa('ip', ['netns', 'add', ns]);
  made.push(ns);
  return ns;
}

async function dropNamespace(ns: string): Promise<void> {
  await execa('ip', ['netns', 'del', ns], { reject: false });
  made.splice(made.indexOf(ns), 1);
}

/** A real restore into a fresh namespace; returns the kernel's iptables-save of each table, or the error. */
async function kernelRestore(text: string, args: string[] = []): Promise<{ ok: boolean; stderr: string; tables: Map<string, string> }> {
  const ns = await freshNamespace();
  try {
    const r = await execa('ip', ['netns', 'exec', ns, RESTORE, ...args], { input: text, reject: false });
    const tables = new Map<string, string>();
    if (r.exitCode === 0) {
      for (const t of SAVE_ORDER) {
        const saved = await execa('ip', ['netns', 'exec', ns, SAVE, '-t', t]);
        tables.set(t, stripHeader(saved.stdout));
      }
    }
    return { ok: r.exitCode === 0, stderr: r.stderr, tables };
  } finally {
    await dropNamespace(ns);
  }
}

const stripHeader = (text: string) =>
  `${text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n')
    .trim()}\n`;

function podnetRestore(text: string): { ok: boolean; error?: string; nf: Netfilter } {
  const nf = new Netfilter();
  try {
    nf.restore(text);
    return { ok: true, nf };
  } catch (e) {
    return { ok: false, error: (e as Error).message, nf };
  }
}

/** The tables the input names (the kernel only creates the tables it was asked about). */
const tablesIn = (text: string) => [...new Set([...text.matchAll(/^\*(\w+)/gm)].map((m) => m[1] as string))];

async function expectSameAsKernel(name: string, text: string): Promise<void> {
  const ours = podnetRestore(text);
  const kernel = await kernelRestore(text);
  expect(ours.ok, `${name}: podnet ${ours.error ?? 'accepted'}; kernel ${kernel.ok ? 'accepted' : kernel.stderr}`).toBe(kernel.ok);
  if (!kernel.ok) return;
  for (const t of tablesIn(text)) {
    expect(ours.nf.save({ table: t as never }), `${name}: table ${t}`).toBe(kernel.tables.get(t));
  }
  // podnet's save goes back into the kernel unchanged.
  const saved = ours.nf.save();
  const again = await kernelRestore(saved);
  expect(again.ok, `${name}: the kernel refused podnet's save: ${again.stderr}`).toBe(true);
  for (const t of SAVE_ORDER) expect(again.tables.get(t), `${name}: re-restored ${t}`).toBe(ours.nf.save({ table: t }));
}

describeInterop(`iptables-restore: podnet vs the kernel (${RESTORE})`, { commands: ['ip', RESTORE, SAVE, IPTABLES], root: true }, () => {
  beforeAll(async () => {
    // A namespace left by an earlier crashed run of this pid would make `ip netns add` fail.
    const list = await execa('ip', ['netns', 'list'], { reject: false });
    for (const line of list.stdout.split('\n')) {
      const ns = line.split(' ')[0] ?? '';
      if (ns.startsWith(`${prefix}-`)) await execa('ip', ['netns', 'del', ns], { reject: false });
    }
  });
  afterAll(async () => {
    for (const ns of [...made]) await dropNamespace(ns);
  });

  const ruleFiles = [
    ...readdirSync(join(fixtures, 'kube-proxy'))
      .filter((f) => f.endsWith('.rules'))
      .map((f) => join('kube-proxy', f)),
    'canonical.rules',
  ];

  it.each(ruleFiles)('accepts %s like the kernel and prints it the same way', async (file) => {
    await expectSameAsKernel(file, readFileSync(join(fixtures, file), 'utf8'));
  });

  it.each(ruleFiles)('lists %s like iptables -L -n -v --line-numbers, -L -n and -S', async (file) => {
    const text = readFileSync(join(fixtures, file), 'utf8');
    const nf = podnetRestore(text).nf;
    const ns = await freshNamespace();
    try {
      await execa('ip', ['netns', 'exec', ns, RESTORE], { input: text });
      for (const table of tablesIn(text)) {
        for (const mode of [['-L', '-n', '-v', '--line-numbers'], ['-L', '-n'], ['-S']]) {
          const kernel = await execa('ip', ['netns', 'exec', ns, IPTABLES, '-t', table, ...mode], { stripFinalNewline: false });
          expect(nf.iptables(['-t', table, ...mode]), `${file} ${table} ${mode.join(' ')}`).toBe(kernel.stdout);
        }
      }
    } finally {
      await dropNamespace(ns);
    }
  });

  it.each(ODD_VALID_RESTORES.map((t, i) => [i, t] as const))('accepts odd valid input %i like the kernel', async (_i, text) => {
    await expectSameAsKernel(`odd ${_i}`, text);
  });

  it.each(INVALID_RESTORES.filter(([t]) => !DELIBERATELY_STRICTER.has(t)).map(([t, line, reason]) => [reason, line, t] as const))(
    'refuses like the kernel: %s (line %i)',
    async (_reason, _line, text) => {
      expect(podnetRestore(text).ok).toBe(false);
      const kernel = await kernelRestore(text);
      expect(kernel.ok, `the kernel accepted:\n${text}`).toBe(false);
      // Both name a line; the kernel's is the COMMIT line for the checks it makes at commit.
      expect(kernel.stderr).toMatch(/line:? \d+/);
    },
  );

  it('refuses the deliberately stricter inputs podnet documents (the kernel accepts them)', async () => {
    for (const text of DELIBERATELY_STRICTER) {
      expect(podnetRestore(text).ok).toBe(false);
      expect((await kernelRestore(text)).ok).toBe(true);
    }
  });

  /** `first` restored whole then `second` with --noflush, by podnet and by the kernel: the same `table` after; returns podnet's save. */
  async function expectNoflushLikeTheKernel(first: string, second: string, table: 'nat' | 'filter'): Promise<string> {
    const nf = new Netfilter();
    nf.restore(first);
    nf.restore(second, { noflush: true });
    const ns = await freshNamespace();
    try {
      await execa('ip', ['netns', 'exec', ns, RESTORE], { input: first });
      await execa('ip', ['netns', 'exec', ns, RESTORE, '--noflush'], { input: second });
      const saved = await execa('ip', ['netns', 'exec', ns, SAVE, '-t', table]);
      expect(nf.save({ table })).toBe(stripHeader(saved.stdout));
      return nf.save({ table });
    } finally {
      await dropNamespace(ns);
    }
  }

  it('--noflush: declared chains are flushed, others kept, -X of a flushed chain, like the kernel', async () => {
    const first =
      '*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-OLD - [0:0]\n-A PREROUTING -j KUBE-SERVICES\n-A KUBE-SERVICES -d 10.96.0.1/32 -j KUBE-OLD\n-A KUBE-OLD -j RETURN\nCOMMIT\n';
    const second =
      '*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NEW - [0:0]\n:KUBE-OLD - [0:0]\n-A KUBE-SERVICES -d 10.96.0.2/32 -j KUBE-NEW\n-X KUBE-OLD\nCOMMIT\n';
    await expectNoflushLikeTheKernel(first, second, 'nat');
  });

  it('--noflush: a built-in chain line sets the policy and keeps its rules, like the kernel', async () => {
    const first = '*filter\n:FLANNEL-FWD - [0:0]\n-A FORWARD -j FLANNEL-FWD\n-A FLANNEL-FWD -s 10.244.0.0/16 -j ACCEPT\nCOMMIT\n';
    const second = '*filter\n:FORWARD DROP [0:0]\n:KUBE-FORWARD - [0:0]\n-I FORWARD 1 -j KUBE-FORWARD\nCOMMIT\n';
    const saved = await expectNoflushLikeTheKernel(first, second, 'filter');
    expect(saved).toContain('-A FORWARD -j FLANNEL-FWD');
  });

  it('generated rule sets: accepted by the kernel, printed identically (fast-check)', async () => {
    const samples = fc.sample(arbitraryRuleSet(), { numRuns: 40, seed: 20261201 });
    for (const [i, text] of samples.entries()) await expectSameAsKernel(`generated ${i}`, text);
  });
});
