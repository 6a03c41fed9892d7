// Runs once before all tests: installs the Debian tools the interop tests drive (tools.ts:
// tshark, tcpdump, iproute2, ethtool, ping, ...) when they are missing and we are root, so a fresh machine
// runs every interop test for real (DESIGN §7), and builds the UDP segmentation addon if the build
// step could not (no C compiler until now). Without root the interop helper reports the
// missing tool, and under PODNET_REQUIRE_INTEROP=1 that is a failure, not a skip.
// It also makes the directory where the network guard logs refusals (see setup.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildUdpSegmentAddon } from '../../packages/netstack/native/build.mjs';
import { ensureDebianTools } from './tools.ts';

export default async function globalSetup(): Promise<() => void> {
  await ensureDebianTools();
  // The build step ran before the compiler may have been installed just now: build what it could not.
  buildUdpSegmentAddon();
  const guardDir = mkdtempSync(join(tmpdir(), 'podnet-guard-'));
  // Workers are forked after this runs and inherit the variable.
  process.env.PODNET_GUARD_DIR = guardDir;
  return () => rmSync(guardDir, { recursive: true, force: true });
}
