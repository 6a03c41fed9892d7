// Every benchmark runs once at tiny size in `npm test`, so the bench code cannot rot
// (figures are measured by `npm run bench`, never asserted here: only that each is there).
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderGroupChart } from '../bench/lib/chart.js';
import { type BenchFigure, type BenchGroup, renderBenchmarksMarkdown } from '../bench/lib/report.js';

const root = join(import.meta.dirname, '..');
const GROUPS = ['codec', 'tcp', 'kube-proxy', 'conntrack', 'apiserver', 'netfilter', 'kernel', 'scale', 'netpol', 'programming'];
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

interface Figure {
  name: string;
  unit: string;
  value: number | null;
  unavailable?: string;
  reference?: { name: string; value: number | null };
  ratio?: number;
  goal?: string;
  met?: boolean;
}
interface Results {
  smoke: boolean;
  machine: { cpus: number };
  groups: Record<string, { title: string; figures: Figure[]; error?: string; ranAt: string; elapsedMs: number }>;
}

describe('npm run bench -- --smoke', () => {
  let results: Results;
  let stderr: string;
  let exitCode: number | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'podnet-bench-'));
  const docs = join(dir, 'benchmarks.md');

  beforeAll(async () => {
    const out = join(dir, 'smoke.json');
    const r = await execa(process.execPath, [join(root, 'bench/run.js'), '--smoke', '--out', out, '--docs', docs], {
      cwd: root,
      reject: false,
      timeout: 240_000,
    });
    stderr = r.stderr;
    exitCode = r.exitCode;
    results = JSON.parse(readFileSync(out, 'utf8'));
  }, 250_000);

  it('runs every registered group without a failure', () => {
    expect(exitCode, stderr).toBe(0);
    expect(results.smoke).toBe(true);
    expect(Object.keys(results.groups).sort()).toEqual([...GROUPS].sort());
    for (const [name, group] of Object.entries(results.groups)) {
      expect(group.error, name).toBeUndefined();
      expect(group.ranAt, name).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
  });

  it('gives every figure a value and a reference, or the reason it could not be measured', () => {
    for (const [name, group] of Object.entries(results.groups)) {
      expect(group.figures.length, name).toBeGreaterThan(0);
      for (const f of group.figures) {
        if (f.unavailable !== undefined) {
          expect(f.unavailable, `${name}: ${f.name}`).toMatch(/\w{4,}/);
          continue;
        }
        expect(f.value, `${name}: ${f.name}`).toBeGreaterThan(0);
        expect(f.reference?.value, `${name}: ${f.name}`).toBeGreaterThan(0);
        if (f.goal !== undefined) expect(typeof f.met, `${name}: ${f.name}`).toBe('boolean');
      }
    }
  });

  it('measures the kernel (root here) and podnet, both backends, next to raw dgram', () => {
    const names = results.groups.kernel?.figures.map((f) => f.name) ?? [];
    expect(names).toContain('podnet vxlan node to node over flannel.1, TCP bulk');
    expect(names).toContain('podnet host-gw node to node over eth0, TCP bulk');
    expect(names).toContain('podnet vxlan pod to pod (veth, cni0, netfilter), TCP bulk');
    expect(names).toContain('encapsulation: vxlan / host-gw TCP bulk, pod to pod');
    expect(names).toContain('encapsulation: vxlan / host-gw TCP bulk, node to node');
    expect(names).toContain('wire bytes per payload byte, vxlan, 64-byte payloads');
    const kernel = results.groups.kernel?.figures.find((f) => f.name === 'podnet vxlan vs the kernel, node to node, TCP bulk');
    if (isRoot) expect(kernel?.reference?.value).toBeGreaterThan(0);
    else expect(kernel?.unavailable).toContain('root');
    // The kernel's own pod path (pod netns, veth, cni0, node iptables, vxlan or host-gw) is the
    // reference of podnet's pod-to-pod figures, and its runs are proven to cross node-a's KUBE-FORWARD.
    const find = (name: string) => results.groups.kernel?.figures.find((f) => f.name === name);
    for (const name of [
      'podnet vxlan vs the kernel, pod to pod, TCP bulk',
      'podnet host-gw vs the kernel, pod to pod, TCP bulk',
      'podnet vxlan vs the kernel, pod to pod, TCP request/response 64 B',
      'podnet host-gw vs the kernel, pod to pod, TCP request/response 64 B',
      'kernel pod path cost: vxlan pod to pod / node to node, TCP bulk',
      'kernel pod path cost: vxlan pod to pod / node to node, TCP request/response 64 B',
    ]) {
      const f = find(name);
      expect(f, name).toBeDefined();
      if (isRoot) expect(f?.reference?.value, name).toBeGreaterThan(0);
      else expect(f?.unavailable, name).toContain('root');
    }
    for (const backend of ['vxlan', 'host-gw']) {
      const proof = find(`kernel pod path (${backend}): packets through node-a's KUBE-FORWARD jump, all pod runs`);
      if (isRoot) expect(proof?.value, backend).toBeGreaterThan(0);
      else expect(proof?.unavailable, backend).toContain('root');
    }
    // VXLAN adds 50 bytes per frame: more wire bytes per payload byte than host-gw, at both sizes.
    for (const f of results.groups.kernel?.figures.filter((x) => x.name.startsWith('wire bytes per payload byte')) ?? []) {
      expect(f.value, f.name).toBeGreaterThan(f.reference?.value ?? Number.POSITIVE_INFINITY);
    }
  });

  it('brings up a real podnet cluster in the scale group', () => {
    const up = results.groups.scale?.figures.find((f) => f.name === '1 nodes: podnet up to all nodes Ready');
    expect(up?.unavailable, up?.unavailable).toBeUndefined();
    expect(up?.value).toBeGreaterThan(0);
  });

  it('renders the markdown and one SVG chart per group', () => {
    const md = readFileSync(docs, 'utf8');
    expect(md).toContain('# Benchmarks');
    expect(md).toContain('## Goals');
    for (const group of Object.values(results.groups)) expect(md).toContain(`## ${group.title}`);
    const charts = readdirSync(join(dir, 'benchmarks'));
    for (const name of GROUPS) {
      expect(charts).toContain(`${name}.svg`);
      const svg = readFileSync(join(dir, 'benchmarks', `${name}.svg`), 'utf8');
      expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^>]*>[\s\S]*<\/svg>\n$/);
      expect(md).toContain(`(benchmarks/${name}.svg)`);
    }
  });

  it('--render regenerates the same markdown from the saved JSON without measuring', async () => {
    const again = join(mkdtempSync(join(tmpdir(), 'podnet-bench-render-')), 'benchmarks.md');
    const r = await execa(process.execPath, [join(root, 'bench/run.js'), '--render', '--out', join(dir, 'smoke.json'), '--docs', again], {
      cwd: root,
      reject: false,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(again, 'utf8')).toBe(readFileSync(docs, 'utf8'));
  });
});

describe('the report', () => {
  const figure = (over: Partial<BenchFigure>): BenchFigure => ({
    name: 'f',
    unit: 'Mbit/s',
    value: 10,
    min: 8,
    max: 12,
    reference: { name: 'raw', value: 20, min: 19, max: 21 },
    ratio: 0.5,
    ...over,
  });
  const results = (groups: Record<string, BenchGroup>) => ({
    date: '2026-12-01T00:00:00.000Z',
    machine: { cpus: 2, cpuModel: 'cpu', memoryGiB: 4, node: 'v20', platform: 'Linux' },
    groups,
  });

  it('shows a figure that could not be measured as not available, with its reason, never a number', () => {
    const md = renderBenchmarksMarkdown(
      results({ kernel: { title: 'K', figures: [figure({ value: null, unavailable: 'needs root', goal: '≥ 1×', met: false })] } }),
    );
    expect(md).toContain('not available: needs root');
    expect(md).toContain('not measured');
    expect(md).not.toContain('NaN');
  });

  it("surfaces the netfilter restore against the kernel as issue 9's goal (podnet faster: ratio < 1)", () => {
    const restore = figure({
      name: 'restore of 10,000 Services (110,000 rules): seconds',
      unit: 's',
      ratio: 0.2,
      reference: { name: 'kernel iptables-restore (legacy, test netns)', value: 5 },
    });
    const md = renderBenchmarksMarkdown(results({ netfilter: { title: 'N', figures: [restore] } }));
    expect(md).toMatch(/\| netfilter \| restore of 10,000 Services.*\| 0\.20× \| faster than the kernel \(ratio < 1\) \| yes \|/);
  });

  it('draws the spread as a whisker and a missing ratio as text, on a log axis with 1× marked', () => {
    const svg = renderGroupChart('g', {
      title: 'G & co',
      figures: [figure({ ratioMin: 0.3, ratioMax: 0.7 }), figure({ name: 'x', value: null, ratio: undefined, unavailable: 'needs root' })],
    });
    expect(svg).toContain('G &amp; co');
    expect(svg).toContain('0.50×');
    expect(svg).toContain('not available: needs root');
    expect(svg).toContain('>1×<');
  });
});

it('refuses an unknown group with a clear message', async () => {
  const r = await execa(process.execPath, [join(root, 'bench/run.js'), '--only', 'nope'], { cwd: root, reject: false });
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toContain('no benchmark group "nope"');
});
