// Every benchmark runs once at tiny size in `npm test`, so the bench code cannot rot
// (figures are measured by `npm run bench`, never asserted here).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

it('npm run bench -- --smoke runs every group and writes its results', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'podnet-bench-')), 'smoke.json');
  const r = await execa(process.execPath, [join(root, 'bench/run.js'), '--smoke', '--out', out], { cwd: root, reject: false });
  expect(r.exitCode, r.stderr).toBe(0);
  const results = JSON.parse(readFileSync(out, 'utf8'));
  expect(Object.keys(results.groups)).toContain('codec');
  for (const group of Object.values(results.groups) as { figures: { value: number; reference: { value: number } }[] }[]) {
    expect(group.figures.length).toBeGreaterThan(0);
    for (const f of group.figures) {
      expect(f.value).toBeGreaterThan(0);
      expect(f.reference.value).toBeGreaterThan(0);
    }
  }
});

it('refuses an unknown group with a clear message', async () => {
  const r = await execa(process.execPath, [join(root, 'bench/run.js'), '--only', 'nope'], { cwd: root, reject: false });
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toContain('no benchmark group "nope"');
});
