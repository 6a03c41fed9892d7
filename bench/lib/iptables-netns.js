// The kernel reference of the rule benchmarks (netfilter, netpol): iptables-legacy-restore into a
// network namespace made for the run and deleted after it, so the machine's own tables never change.
import { spawnSync } from 'node:child_process';

/** Root, `iptables-legacy-restore` and `ip` present: the kernel reference can run. */
export function haveKernelIptables() {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  return root && spawnSync('sh', ['-c', 'command -v iptables-legacy-restore && command -v ip'], { stdio: 'ignore' }).status === 0;
}

/** Runs fn(namespaceName) in a fresh network namespace named after the group and this process. */
export function withNamespace(tag, fn) {
  const ns = `podnet-bench-${tag}-${process.pid}`;
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  const made = spawnSync('ip', ['netns', 'add', ns]);
  if (made.status !== 0) throw new Error(`ip netns add ${ns}: ${made.stderr}`);
  try {
    return fn(ns);
  } finally {
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}
