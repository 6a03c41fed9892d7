// The Linux kernel doing podnet's job, for the `kernel` benchmark group: two network namespaces
// joined by a veth pair (the underlay, 198.18.0.0/30 from the RFC 2544 benchmarking range) and,
// over it, kernel vxlan devices exactly as flannel creates flannel.1 (VNI 1, UDP 4789, on the
// underlay device: flannel pkg/backend/vxlan/device.go), addressed 198.19.0.1/24 and .2. The
// veth path without vxlan is what host-gw is (plain routing between nodes, no encapsulation).
// createKernelPodPair adds the pod path on top: four namespaces (pod, node, node, pod) with cni0
// bridges, pod veths, the nodes' iptables (flannel masquerade + 100 kube-proxy Services, conntrack)
// and flannel's vxlan or host-gw programming of the other node.
// Measured with iperf3 (throughput) and kernel-rr.mjs (request/response, via `ip netns exec`).
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { masqueradePayload } from '@podnet/cni-agent';
import { renderKubeProxyRules, syntheticServices } from './kube-proxy-rules.js';

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
  if (!has('ip') || !has('bridge') || !has('ethtool')) return 'needs ip and bridge (Debian iproute2) and ethtool';
  if (!has('sysctl') || !has('iptables-legacy-restore'))
    return 'needs sysctl (Debian procps) and iptables-legacy-restore (Debian iptables)';
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

/** Runs a command inside ns (`ip netns exec`), optionally with stdin; throws with its stderr on failure. */
function execIn(ns, cmd, input) {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', input, maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} in ${ns}: ${(r.stderr || r.stdout || '').trim().slice(0, 400)}`);
  return r.stdout;
}

/**
 * flannel.1 as flannel's vxlan backend makes it (pkg/backend/vxlan/device.go): VNI 1, UDP 4789, on
 * the underlay ul0, no learning; `remote` gives it a default peer (the node pair has no FDB entries).
 */
function addFlannelVxlan(ns, local, remote) {
  ip(
    ['-n', ns, ...'link add flannel.1 type vxlan id 1 local'.split(' '), local]
      .concat(remote ? ['remote', remote] : [])
      .concat('dstport 4789 dev ul0 nolearning'.split(' ')),
  );
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
      addFlannelVxlan(ns, self, peer);
      ip(['-n', ns, 'addr', 'add', `${overlay}/24`, 'dev', 'flannel.1']);
      ip(['-n', ns, 'link', 'set', 'flannel.1', 'up']);
    }
  } catch (error) {
    close();
    throw error;
  }
  return { a, b, close };
}

// ---------------------------------------------------------------------------------------------
// The kernel's POD path: what one pod-to-pod packet crosses on two flannel nodes, built in four
// network namespaces (pod-a, node-a, node-b, pod-b). Addresses come from the RFC 2544 range too
// (the guard lets real sockets reach only 198.18.0.0/15): cluster CIDR 198.19.0.0/16, node N's pod
// CIDR 198.19.N.0/24 (cni0 .1, the pod .2, flannel.1 .0/32), never podnet's emulated 10.244.x.
// ---------------------------------------------------------------------------------------------
export const POD_CLUSTER_CIDR = '198.19.0.0/16';
const podNode = (n) => ({
  podCidr: `198.19.${n}.0/24`,
  gateway: `198.19.${n}.1`,
  pod: `198.19.${n}.2`,
  vtep: `198.19.${n}.0`,
});
export const POD_NET = { a: podNode(1), b: podNode(2) };
/** The Services of podnet's pod-path node (bench/lib/pod-node.mjs SERVICES): 100, 10 endpoints each. */
export const POD_PATH_SERVICES = 100;
// flannel gives pods the external interface's MTU minus the VXLAN overhead (pkg/backend/vxlan
// vxlan_network.go MTU(): encapOverhead = 50) and the full MTU under host-gw.
const POD_MTU = { vxlan: 1450, 'host-gw': 1500 };

/**
 * flannel's iptables rules for this node (podnet's own masqueradePayload, cni-agent's
 * ensureMasquerade, rendered for the 198.19 cluster), then kube-proxy's: its payload restored
 * with --noflush (kube-proxy restores only its KUBE-* chains, pkg/proxy/iptables/proxier.go) and
 * its jumps from the built-in chains PREPENDED, as kube-proxy's EnsureRule(Prepend) installs them,
 * so FORWARD reads KUBE-PROXY-FIREWALL, KUBE-FORWARD, KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, then
 * flannel's FLANNEL-FWD: the order `iptables-save` shows on a flannel + kube-proxy node, where
 * every forwarded packet crosses KUBE-FORWARD (its RELATED,ESTABLISHED accept) and conntrack.
 * The Services are bench/lib/pod-node.mjs's (syntheticServices(100, 10)): their ClusterIPs and
 * endpoints are rule text only here (no device has them and no packet is sent to them).
 */
function loadNodeRules(ns, podCidr) {
  const restore = (payload) => execIn(ns, ['iptables-legacy-restore', '--noflush'], payload);
  restore(masqueradePayload(POD_CLUSTER_CIDR, podCidr));
  // ensureMasquerade's two jumps (flannel appends them: pkg/trafficmngr/iptables).
  execIn(ns, ['iptables-legacy', '-t', 'nat', '-A', 'POSTROUTING', '-m', 'comment', '--comment', 'flanneld masq', '-j', 'FLANNEL-POSTRTG']);
  execIn(ns, ['iptables-legacy', '-t', 'filter', '-A', 'FORWARD', '-m', 'comment', '--comment', 'flanneld forward', '-j', 'FLANNEL-FWD']);
  const services = syntheticServices(POD_PATH_SERVICES, 10);
  restore(renderKubeProxyRules({ services, clusterCIDR: POD_CLUSTER_CIDR, builtins: false }));
  // The jumps kube-proxy keeps in the built-in chains, in the order a node's iptables-save shows
  // them (the builtins render), each inserted at position 1 walking backwards: that order results.
  const whole = renderKubeProxyRules({ services, clusterCIDR: POD_CLUSTER_CIDR, builtins: true });
  const jumps = [];
  let table;
  for (const line of whole.split('\n')) {
    if (line.startsWith('*')) {
      table = line;
      jumps.push({ table, rules: [] });
    }
    const m = /^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) (.*)$/.exec(line);
    if (m) jumps.at(-1).rules.push(`-I ${m[1]} 1 ${m[2]}`);
  }
  restore(`${jumps.map((j) => [j.table, ...j.rules.reverse(), 'COMMIT'].join('\n')).join('\n')}\n`);
}

/** Packets counted by the rules of `chain` in ns's filter table, rule by rule (`-L -v -x -n`). */
function chainRulePackets(ns, chain) {
  const out = execIn(ns, ['iptables-legacy', '-t', 'filter', '-L', chain, '-v', '-x', '-n']);
  return out
    .split('\n')
    .slice(2)
    .filter((l) => l.trim() !== '')
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

/**
 * The proof that runs crossed the pod path, read in node-a: the packets FORWARD's unconditional
 * KUBE-FORWARD jump counted (every packet node-a forwarded), the ones KUBE-FORWARD's own rules
 * matched (its RELATED,ESTABLISHED accept: all but a connection's first packets), and cni0,
 * flannel.1 (vxlan) and ul0 rx + tx counters. Counters run from the pair's creation.
 */
export function podPathCounters(pair) {
  const ns = pair.nodeA;
  const kubeForward = chainRulePackets(ns, 'KUBE-FORWARD').reduce((a, b) => a + b, 0);
  const forward = chainRulePackets(ns, 'FORWARD');
  const jump = execIn(ns, ['iptables-legacy', '-t', 'filter', '-S', 'FORWARD'])
    .split('\n')
    .filter((l) => l.startsWith('-A FORWARD'))
    .findIndex((l) => l.endsWith('-j KUBE-FORWARD'));
  if (jump < 0) throw new Error(`kernel pod path: no KUBE-FORWARD jump in ${ns}'s FORWARD chain`);
  return {
    /** every packet node-a forwarded crosses the KUBE-FORWARD jump: its counter. */
    forwardPackets: forward[jump] ?? 0,
    /** of those, the ones KUBE-FORWARD itself accepted (RELATED,ESTABLISHED) or dropped. */
    kubeForwardAccepted: kubeForward,
    cni0: linkCounters(ns, 'cni0'),
    flannel: pair.backend === 'vxlan' ? linkCounters(ns, 'flannel.1') : undefined,
    underlay: linkCounters(ns, 'ul0'),
  };
}

/**
 * The Linux kernel on the pod-to-pod path, as flannel + kube-proxy program two nodes:
 *   pod-a eth0 ─veth─ vethXXXX ∈ cni0 (node-a: ip_forward, netfilter with conntrack, flannel's
 *   masquerade and 100 kube-proxy Services) ─ vxlan: flannel.1 over ul0 | host-gw: ul0 routed ─
 *   node-b (the same) ─ cni0 ─veth─ pod-b eth0.
 * Returns { backend, podA, nodeA, nodeB, podB, a: podA, b: podB (iperf3's client and server
 * namespaces), underlay: nodeA, close() }. Every namespace is deleted by close(), and on a failed setup.
 */
export function createKernelPodPair({ backend }) {
  if (backend !== 'vxlan' && backend !== 'host-gw')
    throw new Error(`createKernelPodPair: backend "${backend}" is neither "vxlan" nor "host-gw"`);
  const base = `pnkp${process.pid}${backend === 'vxlan' ? 'v' : 'h'}`;
  const names = { podA: `${base}pa`, nodeA: `${base}na`, nodeB: `${base}nb`, podB: `${base}pb` };
  const all = Object.values(names);
  const close = () => {
    for (const ns of all) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  };
  close();
  const mtu = String(POD_MTU[backend]);
  const nodes = [
    { ns: names.nodeA, pod: names.podA, self: UNDERLAY.a, net: POD_NET.a, peer: { ul: UNDERLAY.b, net: POD_NET.b } },
    { ns: names.nodeB, pod: names.podB, self: UNDERLAY.b, net: POD_NET.b, peer: { ul: UNDERLAY.a, net: POD_NET.a } },
  ];
  try {
    for (const ns of all) {
      ip(['netns', 'add', ns]);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    ip(['link', 'add', 'ul0', 'netns', names.nodeA, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', names.nodeB]);
    for (const [i, n] of nodes.entries()) {
      ip(['-n', n.ns, 'addr', 'add', `${n.self}/30`, 'dev', 'ul0']);
      ip(['-n', n.ns, 'link', 'set', 'ul0', 'up']);
      // A node routes between its pods and the other node (the kernel's default is 0 per netns).
      execIn(n.ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
      // The flannel CNI's bridge plugin (isGateway: true): cni0 holds the pod CIDR's .1, the pod's
      // veth host end is a bridge port, and the pod's default route goes via .1.
      ip(['-n', n.ns, 'link', 'add', 'cni0', 'mtu', mtu, 'type', 'bridge']);
      ip(['-n', n.ns, 'addr', 'add', `${n.net.gateway}/24`, 'dev', 'cni0']);
      ip(['-n', n.ns, 'link', 'set', 'cni0', 'up']);
      const hostEnd = `veth${(((process.pid << 4) | i) >>> 0).toString(16).padStart(8, '0').slice(-8)}`;
      ip(['link', 'add', 'eth0', 'netns', n.pod, 'mtu', mtu, 'type', 'veth', 'peer', 'name', hostEnd, 'netns', n.ns, 'mtu', mtu]);
      ip(['-n', n.ns, 'link', 'set', hostEnd, 'master', 'cni0']);
      ip(['-n', n.ns, 'link', 'set', hostEnd, 'up']);
      ip(['-n', n.pod, 'addr', 'add', `${n.net.pod}/24`, 'dev', 'eth0']);
      ip(['-n', n.pod, 'link', 'set', 'eth0', 'up']);
      ip(['-n', n.pod, 'route', 'add', 'default', 'via', n.net.gateway, 'dev', 'eth0']);
      if (backend === 'vxlan') {
        // flannel's VTEP (pkg/backend/vxlan/device.go): VNI 1, UDP 4789, on the external interface,
        // no learning (flannel programs the FDB itself), addressed with the pod CIDR's .0/32.
        addFlannelVxlan(n.ns, n.self);
        ip(['-n', n.ns, 'addr', 'add', `${n.net.vtep}/32`, 'dev', 'flannel.1']);
        ip(['-n', n.ns, 'link', 'set', 'flannel.1', 'up']);
      }
      loadNodeRules(n.ns, n.net.podCidr);
    }
    for (const [i, n] of nodes.entries()) {
      if (backend === 'vxlan') {
        // flannel pkg/backend/vxlan/vxlan_network.go handleSubnetEvents, for the other node's lease:
        // a permanent neighbour (AddARP) for its VTEP address → its VTEP MAC, an FDB entry (AddFDB)
        // VTEP MAC → its public (underlay) IP, and last the route to its pod CIDR via its VTEP
        // address, onlink, on flannel.1.
        const remote = nodes[1 - i];
        const [vtep] = JSON.parse(ip(['-n', remote.ns, '-j', 'link', 'show', 'flannel.1']));
        const mac = vtep?.address;
        if (!mac) throw new Error(`no MAC on flannel.1 in ${remote.ns}`);
        ip(['-n', n.ns, 'neigh', 'replace', n.peer.net.vtep, 'lladdr', mac, 'dev', 'flannel.1', 'nud', 'permanent']);
        execIn(n.ns, ['bridge', 'fdb', 'append', mac, 'dev', 'flannel.1', 'dst', n.peer.ul]);
        ip(['-n', n.ns, 'route', 'replace', n.peer.net.podCidr, 'via', n.peer.net.vtep, 'dev', 'flannel.1', 'onlink']);
      } else {
        // flannel pkg/backend/hostgw: the other node's pod CIDR via its public IP on the external interface.
        ip(['-n', n.ns, 'route', 'replace', n.peer.net.podCidr, 'via', n.peer.ul, 'dev', 'ul0']);
      }
    }
  } catch (error) {
    close();
    throw error;
  }
  return { backend, ...names, a: names.podA, b: names.podB, underlay: names.nodeA, close };
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

/** rx + tx bytes and packets of device `dev` in namespace ns (`ip -s -j link`). */
export function linkCounters(ns, dev) {
  const [link] = JSON.parse(ip(['-n', ns, '-s', '-j', 'link', 'show', dev]));
  const s = link?.stats64 ?? link?.stats;
  return { bytes: s.rx.bytes + s.tx.bytes, packets: s.rx.packets + s.tx.packets };
}

/** rx + tx bytes and packets of the underlay veth in namespace ns (both directions of the pair). */
export const underlayCounters = (ns) => linkCounters(ns, 'ul0');

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
 * end.sum_received), bytes received, and the underlay bytes counted meanwhile (on pair.underlay,
 * the namespace holding ul0: a itself for the node pair, node-a for the pod pair).
 */
export async function iperf3(pair, address, seconds) {
  const port = '5201'; // inside b, a namespace of its own: no other listener there
  const server = await startIn(pair.b, ['iperf3', '-s', '-1', '--forceflush', '-B', address, '-p', port], 'Server listening');
  try {
    const before = underlayCounters(pair.underlay ?? pair.a);
    const json = JSON.parse(runIn(pair.a, ['iperf3', '-c', address, '-p', port, '-t', String(seconds), '-J'], (seconds + 20) * 1000));
    const after = underlayCounters(pair.underlay ?? pair.a);
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
    const before = underlayCounters(pair.underlay ?? pair.a);
    const r = JSON.parse(
      runIn(pair.a, [process.execPath, rrScript, 'client', address, port, String(size), String(rounds), String(maxMs)], maxMs + 20_000),
    );
    const after = underlayCounters(pair.underlay ?? pair.a);
    return { rate: (r.rounds * 1000) / r.ms, rounds: r.rounds, wireBytes: after.bytes - before.bytes };
  } finally {
    server.kill('SIGKILL');
  }
}
