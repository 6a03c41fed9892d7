// Per-worker test setup (vitest setupFiles): installs the network guard of DESIGN §7 in this
// worker and in every Node child process it starts, and fails any test during which a
// refusal was recorded, even when the refused call's error was swallowed.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach } from 'vitest';
import '../guard/network-guard.mjs';

const guardUrl = pathToFileURL(join(import.meta.dirname, '..', 'guard', 'network-guard.mjs')).href;
const importFlag = `--import=${guardUrl}`;
if (!(process.env.NODE_OPTIONS ?? '').includes(importFlag)) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${importFlag}`.trim();
}
if (!process.env.PODNET_GUARD_LOG) {
  // One log per worker, in the run's directory (made and removed by global-setup.ts).
  const dir = process.env.PODNET_GUARD_DIR ?? tmpdir();
  process.env.PODNET_GUARD_LOG = join(dir, `podnet-guard-${process.pid}.log`);
  writeFileSync(process.env.PODNET_GUARD_LOG, '');
}
const guardLog = process.env.PODNET_GUARD_LOG;

let logSizeBefore = 0;
beforeEach(() => {
  logSizeBefore = existsSync(guardLog) ? statSync(guardLog).size : 0;
});
afterEach(() => {
  if (!existsSync(guardLog)) return;
  const fresh = readFileSync(guardLog).subarray(logSizeBefore).toString('utf8').trim();
  if (fresh !== '') {
    throw new Error(`the network guard refused real traffic during this test:\n${fresh}`);
  }
});
