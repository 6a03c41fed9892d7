// Finding, and installing when missing, the real tools interop tests run against.
import { spawnSync } from 'node:child_process';

/** Command → Debian package that provides it. */
export const DEBIAN_TOOLS: Record<string, string> = {
  tshark: 'tshark',
  editcap: 'wireshark-common',
  tcpdump: 'tcpdump',
  ip: 'iproute2',
  bridge: 'iproute2',
  unshare: 'util-linux',
  ethtool: 'ethtool',
  ping: 'iputils-ping',
  python3: 'python3',
  sysctl: 'procps',
  iptables: 'iptables',
  'iptables-restore': 'iptables',
  'iptables-save': 'iptables',
  'iptables-legacy': 'iptables',
  'iptables-legacy-restore': 'iptables',
  'iptables-legacy-save': 'iptables',
  conntrack: 'conntrack',
  curl: 'curl',
  // The API server makes the cluster CA and serving certificate with it.
  openssl: 'openssl',
  // The `kernel` benchmark group (bench/groups/kernel.js) measures the Linux kernel's own vxlan path with it.
  iperf3: 'iperf3',
  // The compose smoke test (test/compose): Debian's Docker engine and compose v1.
  docker: 'docker.io',
  dockerd: 'docker.io',
  'docker-compose': 'docker-compose',
  // Observability: a real Prometheus scrapes a cluster; headless Chromium drives the live page.
  prometheus: 'prometheus',
  promtool: 'prometheus',
  chromium: 'chromium',
  // The UDP segmentation addon (packages/netstack/native) is compiled with it; global-setup.ts rebuilds
  // after installing. build-essential, not gcc alone: gcc only recommends libc6-dev (the C headers),
  // and recommends are not installed here.
  cc: 'build-essential',
};

export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export async function ensureDebianTools(tools: Record<string, string> = DEBIAN_TOOLS): Promise<void> {
  const missing = [
    ...new Set(
      Object.entries(tools)
        .filter(([cmd]) => !hasCommand(cmd))
        .map(([, pkg]) => pkg),
    ),
  ];
  if (missing.length === 0) return;
  if (!isRoot() || !hasCommand('apt-get')) {
    process.stderr.write(`podnet tests: missing ${missing.join(', ')} and cannot apt-get install them here\n`);
    return;
  }
  process.stderr.write(`podnet tests: installing ${missing.join(', ')} with apt-get…\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  if (r.status !== 0) process.stderr.write(`podnet tests: apt-get install ${missing.join(' ')} failed (${r.status})\n`);
}
