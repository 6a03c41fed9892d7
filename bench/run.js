#!/usr/bin/env node
// `npm run bench`: runs every benchmark group against its reference measured in the same run,
// writes bench/results/latest.json and regenerates docs/benchmarks.md from it.
//   npm run bench -- --only codec      run one group (the other groups' last results are kept)
//   npm run bench -- --smoke           each group once at tiny size (what `npm test` runs), no docs
//   npm run bench -- --out FILE        where to write the JSON (default bench/results/latest.json)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderBenchmarksMarkdown } from './lib/report.js';

const here = dirname(fileURLToPath(import.meta.url));
const groups = {
  codec: () => import('./groups/codec.js'),
  tcp: () => import('./groups/tcp.js'),
  'kube-proxy': () => import('./groups/kube-proxy.js'),
  conntrack: () => import('./groups/conntrack.js'),
  apiserver: () => import('./groups/apiserver.js'),
  netfilter: () => import('./groups/netfilter.js'),
};

let args;
try {
  args = parseArgs({
    options: {
      only: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      out: { type: 'string' },
      docs: { type: 'string' },
    },
  }).values;
} catch (error) {
  console.error(`podnet bench: ${error.message}\nusage: npm run bench -- [--only ${Object.keys(groups).join('|')}] [--smoke] [--out FILE]`);
  process.exit(2);
}
if (args.only !== undefined && !(args.only in groups)) {
  console.error(`podnet bench: no benchmark group "${args.only}"; groups: ${Object.keys(groups).join(', ')}`);
  process.exit(2);
}

const selected = args.only ? [args.only] : Object.keys(groups);
const results = {
  date: new Date().toISOString(),
  smoke: args.smoke,
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
  },
  groups: {},
};
for (const name of selected) {
  const mod = await groups[name]();
  process.stderr.write(`bench: ${name}…\n`);
  results.groups[name] = await mod.run({ smoke: args.smoke });
}

const out = args.out ?? join(here, 'results', args.smoke ? 'smoke.json' : 'latest.json');
mkdirSync(dirname(out), { recursive: true });
if (args.only !== undefined && !args.smoke && existsSync(out)) {
  // One group re-run: keep the other groups' last results (and their docs section).
  try {
    const previous = JSON.parse(readFileSync(out, 'utf8'));
    results.groups = { ...previous.groups, ...results.groups };
  } catch (error) {
    process.stderr.write(`bench: could not read the previous results in ${out} (${error.message}); writing this group only\n`);
  }
}
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
if (!args.smoke) {
  const docs = args.docs ?? join(here, '..', 'docs', 'benchmarks.md');
  writeFileSync(docs, renderBenchmarksMarkdown(results));
  process.stderr.write(`bench: wrote ${out} and ${docs}\n`);
}
for (const [name, group] of Object.entries(results.groups)) {
  for (const f of group.figures) {
    console.log(
      `${name}: ${f.name}: ${f.value.toFixed(f.decimals ?? 1)} ${f.unit} vs ${f.reference.name} ${f.reference.value.toFixed(f.decimals ?? 1)} ${f.unit} → ratio ${f.ratio.toFixed(2)} (goal ${f.goal ?? 'none'})`,
    );
  }
}
