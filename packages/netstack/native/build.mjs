#!/usr/bin/env node
// Builds the UDP segmentation addon (udp_segment.c) into dist/native/udp_segment.node with the
// system C compiler and the Node-API headers of the `node-api-headers` package (or, failing that,
// the running Node's own include/node). No node-gyp and no download: it runs offline.
//
// Without a compiler it warns and exits 0: the tunnel links then send one datagram per system
// call (software segmentation), which is slower but complete. `npm test` installs build-essential
// when it can (test/support/tools.ts) and rebuilds, and under PODNET_REQUIRE_INTEROP=1 a missing
// addon fails the offload tests instead of passing unnoticed.
//
// Up to date (the .node newer than the source and this script): does nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, 'udp_segment.c');
const outDir = join(here, '..', 'dist', 'native');
const output = join(outDir, 'udp_segment.node');

function headerDirs() {
  const dirs = [];
  try {
    dirs.push(createRequire(import.meta.url)('node-api-headers').include_dir);
  } catch {
    // Not installed (a production install): fall back to the Node installation's headers.
  }
  dirs.push(join(dirname(dirname(process.execPath)), 'include', 'node'), '/usr/include/node', '/usr/local/include/node');
  return dirs.filter((d) => typeof d === 'string' && existsSync(join(d, 'node_api.h')));
}

function upToDate() {
  if (!existsSync(output)) return false;
  const built = statSync(output).mtimeMs;
  return built >= statSync(source).mtimeMs && built >= statSync(fileURLToPath(import.meta.url)).mtimeMs;
}

export function buildUdpSegmentAddon({ quiet = false } = {}) {
  if (upToDate()) return { built: true, path: output, fresh: false };
  const warn = (why) => {
    if (!quiet) process.stderr.write(`podnet: UDP segmentation offload not built (${why}); tunnels send one datagram per system call\n`);
    return { built: false, reason: why };
  };
  if (process.platform !== 'linux') return warn(`UDP_SEGMENT is Linux-only, this is ${process.platform}`);
  const [include] = headerDirs();
  if (include === undefined) return warn('no node_api.h: run npm ci, which installs node-api-headers');
  const cc = process.env.CC || 'cc';
  mkdirSync(outDir, { recursive: true });
  const partial = `${output}.${process.pid}.tmp`;
  const r = spawnSync(cc, ['-O2', '-Wall', '-Werror', '-fPIC', '-shared', `-I${include}`, '-o', partial, source], { encoding: 'utf8' });
  if (r.error) return warn(`${cc}: ${r.error.code === 'ENOENT' ? 'no C compiler (apt-get install build-essential)' : r.error.message}`);
  if (r.status !== 0) return warn(`${cc} failed: ${(r.stderr || r.stdout).trim()}`);
  // Renamed into place: a process loading the addon never sees half a file.
  renameSync(partial, output);
  return { built: true, path: output, fresh: true };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) buildUdpSegmentAddon();
