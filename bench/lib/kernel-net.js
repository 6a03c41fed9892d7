// The Linux kernel doing podnet's job, for the `kernel` benchmark group: two network namespaces
// joined by a veth pair (the underlay, 198.18.0.0/30 from the RFC 2544 benchmarking range) and,
// over it, kernel vxlan devices exactly as flannel creates flannel.1 (VNI 1, UDP 4789, on the
// underlay device: flannel pkg/backend/vxlan/device.go), addressed 198.19.0.1/24 and .2. The
// veth path without vxlan is what host-gw is (plain routing between nodes, no encapsulation).
// Measured with iperf3 (throughput) and kernel-rr.mjs (request/response, via `ip netns exec`).
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const rrScript = fileURLToPath(new URL('./kernel-rr.mjs', import.meta.url));
export const UNDERLAY = { a: '198.18.0.1', b: '198.18.0.2' };
export const OVERLAY = { a: '198.19.0.1', b: '198.19.0.2' };
/** The guard (test/guard/network-guard.mjs) lets real sockets reach only namespaces a test made: these. */
const GUARD_ALLOW = '198.18.0.0/15';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** Why the kernel cannot be measured here, or undefined when it can. */
export function kernelUnavailable() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0)
    return 'needs root (network namespaces, veth and vxlan devices); run `npm run bench` as root';
  if (!has('ip') || !has('ethtool')) return 'needs ip (Debian iproute2) and ethtool';
  if (!has('iperf3') && has('apt-get')) {
    // Issue 9: install iperf3 when missing, as test/support/tools.ts does for the interop tests.
    spawnSync('apt-get', ['install', '-y', '-q', 'iperf3'], {
      stdio: 'ignore',
      timeout: 180_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  if (!has('iperf3')) return 'needs iperf3 (Debian iperf3), which could not be installed';
  return undefined;
}

function ip(args) {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Creates the two namespaces; returns their names and close(). */
export function createKernelPair() {
  const base = `pnbk${process.pid}`;
  const a = `${base}a`;
  const b = `${base}b`;
  for (const ns of [a, b]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  const close = () => {
    for (const ns of [a, b]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  };
  try {
    ip(['netns', 'add', a]);
    ip(['netns', 'add', b]);
    ip(['link', 'add', 'ul0', 'netns', a, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', b]);
    for (const [ns, self, peer, overlay] of [
      [a, UNDERLAY.a, UNDERLAY.b, OVERLAY.a],
      [b, UNDERLAY.b, UNDERLAY.a, OVERLAY.b],
    ]) {
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', ns, 'addr', 'add', `${self}/30`, 'dev', 'ul0']);
      ip(['-n', ns, 'link', 'set', 'ul0', 'up']);
      ip([
        '-n',
        ns,
        'link',
        'add',
        'flannel.1',
        'type',
        'vxlan',
        'id',
        '1',
        'local',
        self,
        'remote',
        peer,
        'dstport',
        '4789',
        'dev',
        'ul0',
        'nolearning',
      ]);
      ip(['-n', ns, 'addr', 'add', `${overlay}/24`, 'dev', 'flannel.1']);
      ip(['-n', ns, 'link', 'set', 'flannel.1', 'up']);
    }
  } catch (error) {
    close();
    throw error;
  }
  return { a, b, close };
}

/**
 * Turns segmentation offloads off on both namespaces' devices, so the veth counters count the
 * frames a real wire carries (with TSO/GSO on, one 64 KiB super-packet is counted once, headers
 * and all). Used for the wire-byte counts only, after the throughput runs.
 */
export function disableOffloads(pair) {
  for (const ns of [pair.a, pair.b]) {
    for (const dev of ['ul0', 'flannel.1']) {
      const r = spawnSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off'], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`ethtool -K ${dev} in ${ns}: ${(r.stderr || '').trim()}`);
    }
  }
}

/** rx + tx bytes and packets of the underlay veth in namespace ns (both directions of the pair). */
export function underlayCounters(ns) {
  const [link] = JSON.parse(ip(['-n', ns, '-s', '-j', 'link', 'show', 'ul0']));
  const s = link?.stats64 ?? link?.stats;
  return { bytes: s.rx.bytes + s.tx.bytes, packets: s.rx.packets + s.tx.packets };
}

const env = () => ({ ...process.env, PODNET_GUARD_ALLOW: [process.env.PODNET_GUARD_ALLOW, GUARD_ALLOW].filter(Boolean).join(',') });

/** Starts `cmd` in ns and resolves once its stdout contains `ready` (bounded); returns the child. */
function startIn(ns, cmd, ready, timeoutMs = 10_000) {
  const child = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'], env: env() });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd.join(' ')} in ${ns}: not ready within ${timeoutMs} ms (${err.trim()})`));
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes(ready)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd.join(' ')} in ${ns} exited (${code}) before it was ready: ${err.trim()}`));
    });
  });
}

function runIn(ns, cmd, timeoutMs) {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: timeoutMs, env: env(), maxBuffer: 1 << 24 });
  if (r.status !== 0)
    throw new Error(`${cmd.join(' ')} in ${ns} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim().slice(0, 400)}`);
  return r.stdout;
}

/**
 * One iperf3 TCP run from a to b's `address` for `seconds`; Mbit/s received (iperf3's
 * end.sum_received), bytes received, and the underlay bytes counted meanwhile.
 */
export async function iperf3(pair, address, seconds) {
  const port = '5201'; // inside b, a namespace of its own: no other listener there
  const server = await startIn(pair.b, ['iperf3', '-s', '-1', '--forceflush', '-B', address, '-p', port], 'Server listening');
  try {
    const before = underlayCounters(pair.a);
    const json = JSON.parse(runIn(pair.a, ['iperf3', '-c', address, '-p', port, '-t', String(seconds), '-J'], (seconds + 20) * 1000));
    const after = underlayCounters(pair.a);
    const r = json.end?.sum_received;
    if (!r) throw new Error(`iperf3 gave no end.sum_received (${json.error ?? 'no error text'})`);
    return { mbits: r.bits_per_second / 1e6, bytes: r.bytes, wireBytes: after.bytes - before.bytes };
  } finally {
    server.kill('SIGKILL');
  }
}

/** Kernel TCP request/response from a to b's `address`: transactions/s and underlay bytes. */
export async function kernelRequestResponse(pair, address, size, rounds, maxMs) {
  const port = '5202';
  const server = await startIn(pair.b, [process.execPath, rrScript, 'server', address, port], 'listening');
  try {
    const before = underlayCounters(pair.a);
    const r = JSON.parse(
      runIn(pair.a, [process.execPath, rrScript, 'client', address, port, String(size), String(rounds), String(maxMs)], maxMs + 20_000),
    );
    const after = underlayCounters(pair.a);
    return { rate: (r.rounds * 1000) / r.ms, rounds: r.rounds, wireBytes: after.bytes - before.bytes };
  } finally {
    server.kill('SIGKILL');
  }
}
