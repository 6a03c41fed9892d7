#!/usr/bin/env node
// The one entry point behind `npm start`, `npm test`, `npm run bench` and `npm run fuzz`.
// On a fresh clone nothing is installed or built yet, so before running the job it:
//   1. runs `npm ci` when node_modules is missing or older than package-lock.json,
//   2. runs `tsc -b` (incremental: a no-op when nothing changed),
//   3. builds the UDP segmentation addon with the C compiler (packages/netstack/native/build.mjs;
//      a no-op when built, a warning and the slower path without a compiler).
// It uses Node built-ins only, because it runs before any dependency exists.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stampPath = join(root, 'node_modules', '.podnet-install-stamp');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (r.error) {
    console.error(`podnet: could not run ${what} (${cmd}): ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`podnet: ${what} failed with exit status ${r.status ?? r.signal}`);
    process.exit(r.status ?? 1);
  }
}

function lockDigest() {
  return createHash('sha256')
    .update(readFileSync(join(root, 'package-lock.json')))
    .digest('hex');
}

function ensureInstalled() {
  const want = lockDigest();
  const have = existsSync(stampPath) ? readFileSync(stampPath, 'utf8').trim() : '';
  if (have === want) return;
  console.error('podnet: installing dependencies (npm ci)…');
  run(npm, ['ci', '--no-audit', '--no-fund'], 'npm ci');
  writeFileSync(stampPath, `${want}\n`);
}

function ensureBuilt() {
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b'], 'the TypeScript build (tsc -b)');
  run(process.execPath, [join(root, 'packages', 'netstack', 'native', 'build.mjs')], 'the native addon build');
}

const jobs = {
  // `npm start` starts a local 3-node cluster with the demo app (`podnet up --demo`) and returns
  // with it running in the background; `npm start -- --nodes 5 --backend host-gw` passes options.
  start: () => [process.execPath, [join(root, 'packages/cli/bin/podnet.js'), 'up', '--demo', ...process.argv.slice(3)]],
  test: () => [process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', ...process.argv.slice(3)]],
  bench: () => [process.execPath, [join(root, 'bench/run.js'), ...process.argv.slice(3)]],
  // The long fuzz loop: the same robustness tests `npm test` runs, at 200,000 runs per decoder.
  fuzz: () => {
    process.env.PODNET_FUZZ_RUNS ??= '200000';
    return [
      process.execPath,
      [join(root, 'node_modules/vitest/vitest.mjs'), 'run', 'packages/wire/src/fuzz.test.ts', '--testTimeout=0', ...process.argv.slice(3)],
    ];
  },
};

const job = process.argv[2];
if (!job || !(job in jobs)) {
  console.error(`usage: node scripts/bootstrap.mjs ${Object.keys(jobs).join('|')} [args...]`);
  process.exit(2);
}
ensureInstalled();
ensureBuilt();
const [cmd, args] = jobs[job]();
const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });
process.exit(r.status ?? 1);
