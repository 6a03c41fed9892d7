// Policy change → enforcement on every node, on a real `podnet up` cluster (issue 8's goal: under
// 100 ms p99 at 100 policies), for the netpol benchmark group's part (c).
//
// The cluster is started through the CLI's documented interface (as lib/cluster.js does for the
// scale group, plus `--netpol-min-sync-period` when a period is asked for). Its workload: on every
// node (pods pinned with spec.nodeName) two `app=target` agnhost servers and one `app=client` pod;
// 100 NetworkPolicies that all select the targets, so each node's table holds every policy's
// chains: `bench-peers` (ingress TCP 8080 from pods labelled role=client) and 99 fillers whose
// peers are ipBlocks outside the pod network or the targets themselves, never a client.
//
// A sample is one API write, acknowledged (its HTTP response read), then each node's own table
// polled over its cni-agent control socket (`iptables -S CHAIN`, the rendered chain of the
// changed policy rule, every POLL_MS) until the change is there on every node hosting a target
// (all of them: each must change). Kinds: create a policy (a new ipBlock peer), update it (another
// ipBlock), delete it (its chain gone), and a pod label change (a client gets or loses role=client,
// so its /32 appears in or leaves bench-peers' peer chain on every node). The latency is the
// arrival of the first poll that saw the change on the slowest node, minus the acknowledgement:
// an upper bound, at most one poll period plus one control round trip late.
import { readFileSync } from 'node:fs';
import { KubeClient } from '@podnet/client';
import { CniAgentClient } from '@podnet/cni-agent';
import { peerChain } from '@podnet/netpol';
import { run, startCluster } from './cluster.js';

export const NAMESPACE = 'npbench';
export const POLL_MS = 5;
const SYNC_HISTOGRAM = 'podnet_netpol_sync_duration_seconds';
const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * `podnet up --nodes N` on its own name, state directory, API port and transport prefix, with
 * `--netpol-min-sync-period` when minSyncPeriod is given. Resolves with {error} or a handle.
 */
export async function startPolicyCluster({ nodes, prefix, minSyncPeriod, timeoutS }) {
  const cluster = await startCluster({
    nodes,
    prefix,
    timeoutS,
    label: 'npbench',
    upArgs: minSyncPeriod === undefined ? [] : ['--netpol-min-sync-period', minSyncPeriod],
  });
  if (cluster.error) return cluster;
  return { record: cluster.record, upSeconds: cluster.upSeconds, stop: cluster.stop };
}

/**
 * The period each node's policy agent reports in its "enforcing" log line (the cni-agent's pino
 * line, in the node's log): proof the flag reached every cni-agent. undefined where not found.
 */
export function reportedMinSyncPeriods(record) {
  return record.nodes.map((n) => {
    let text = '';
    try {
      text = readFileSync(n.log, 'utf8');
    } catch {
      return undefined;
    }
    const m = /"minSyncPeriodMs":(\d+)[^\n]*netpol: policies, pods and namespaces listed; enforcing/.exec(text);
    return m ? Number(m[1]) : undefined;
  });
}

function pod(name, nodeName, labels) {
  return {
    metadata: { namespace: NAMESPACE, name, labels },
    spec: { nodeName, containers: [{ name: 'web', image: AGNHOST, args: ['netexec', '--http-port=8080'] }] },
  };
}

/** The 99 filler policies: they select the targets and admit ipBlocks outside the pod network or other targets, never a client. */
export function fillerPolicies(count) {
  return Array.from({ length: count }, (_, p) => {
    const from = [
      [{ ipBlock: { cidr: `10.${100 + (p % 100)}.0.0/16` } }],
      [{ podSelector: { matchLabels: { app: 'target' } } }],
      [
        {
          namespaceSelector: { matchLabels: { team: 'bench' } },
          podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['target', `other-${p}`] }] },
        },
      ],
      [{ ipBlock: { cidr: '192.168.0.0/16', except: [`192.168.${p % 250}.0/24`] } }],
    ][p % 4];
    return {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { namespace: NAMESPACE, name: `filler-${p}` },
      spec: {
        podSelector:
          p % 2
            ? { matchLabels: { app: 'target' } }
            : { matchExpressions: [{ key: 'app', operator: 'In', values: ['target', `other-${p}`] }] },
        policyTypes: ['Ingress'],
        ingress: [{ from, ports: [{ protocol: 'TCP', port: 8080 + (p % 3) }] }],
      },
    };
  });
}

const PEERS_POLICY = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace: NAMESPACE, name: 'bench-peers' },
  spec: {
    podSelector: { matchLabels: { app: 'target' } },
    policyTypes: ['Ingress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }],
  },
};

/** The changing policy of one sample cycle: the targets, ingress from one ipBlock. */
function probePolicy(k, cidr) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: NAMESPACE, name: `bench-probe-${k}` },
    spec: {
      podSelector: { matchLabels: { app: 'target' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ ipBlock: { cidr } }], ports: [{ protocol: 'TCP', port: 8080 }] }],
    },
  };
}

async function waitFor(what, fn, timeoutMs, everyMs = 200) {
  const end = performance.now() + timeoutMs;
  let last;
  while (performance.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s${last ? ` (${last.message})` : ''}`);
}

/**
 * The workload and 100 policies on a started cluster; resolves with a handle that takes samples.
 * Waits until every pod runs with an IP and every node's table has bench-peers' peer chain with
 * every client in it.
 */
export async function preparePolicyWorkload(cluster, { policies = 100, timeoutMs = 90_000 }) {
  const kube = new KubeClient({ kubeconfig: cluster.record.kubeconfig });
  const agents = cluster.record.nodes.map((n) => new CniAgentClient({ socketPath: n.controlSocket, timeoutMs: 5000 }));
  const close = () => {
    for (const a of agents) a.close();
    kube.close();
  };
  try {
    await kube
      .resource('namespaces')
      .create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels: { team: 'bench' } } });
    const pods = kube.resource('pods');
    const names = [];
    for (const n of cluster.record.nodes) {
      for (const [name, labels] of [
        [`target-a-${n.name}`, { app: 'target' }],
        [`target-b-${n.name}`, { app: 'target' }],
        [`client-${n.name}`, { app: 'client', role: 'client' }],
      ]) {
        await pods.create(pod(name, n.name, labels), { namespace: NAMESPACE });
        names.push(name);
      }
    }
    const policiesApi = kube.resource('networkpolicies');
    await policiesApi.create(PEERS_POLICY, { namespace: NAMESPACE });
    for (const p of fillerPolicies(policies - 1)) await policiesApi.create(p, { namespace: NAMESPACE });
    const ips = await waitFor(
      'every bench pod Running with an IP',
      async () => {
        const items = (await pods.list({ namespace: NAMESPACE })).items;
        const byName = new Map(items.map((p) => [p.metadata.name, p]));
        const ready = names.every((name) => byName.get(name)?.status?.phase === 'Running' && byName.get(name)?.status?.podIP);
        return ready ? new Map(names.map((name) => [name, byName.get(name).status.podIP])) : undefined;
      },
      timeoutMs,
    );
    const clients = cluster.record.nodes.map((n) => ({ name: `client-${n.name}`, ip: ips.get(`client-${n.name}`) }));
    const peersChain = peerChain(`${NAMESPACE}/bench-peers`, 'ingress', 0);
    await waitFor(
      'bench-peers with every client in every node table',
      async () => {
        const lists = await Promise.all(agents.map((a) => a.exec(['iptables', '-S', peersChain])));
        return lists.every((r) => r.exitCode === 0 && clients.every((c) => r.stdout.includes(`-s ${c.ip}/32 `)));
      },
      timeoutMs,
    );
    return { kube, agents, clients, ips, peersChain, close };
  } catch (error) {
    close();
    throw error;
  }
}

/**
 * Polls every node's table (`iptables -S chain`) every POLL_MS until inForce(stdout, exitCode) holds on
 * all of them; resolves with each node's time (performance.now() at the arrival of its first
 * positive answer) or rejects after timeoutMs.
 */
async function pollUntilInForce(agents, chain, inForce, timeoutMs, pollMs = POLL_MS) {
  const deadline = performance.now() + timeoutMs;
  return Promise.all(
    agents.map(async (agent, i) => {
      for (;;) {
        const asked = performance.now();
        const r = await agent.exec(['iptables', '-S', chain]);
        const now = performance.now();
        if (inForce(r.stdout, r.exitCode)) return now;
        if (now > deadline) throw new Error(`node ${i + 1}: change not in its table within ${timeoutMs} ms (chain ${chain})`);
        const wait = pollMs - (now - asked);
        if (wait > 0) await sleep(wait);
      }
    }),
  );
}

/** One write (fn resolves at its acknowledgement), then the latency per node until inForce everywhere. */
async function sample(w, kind, write, chain, inForce, timeoutMs) {
  await write();
  const acked = performance.now();
  const at = await pollUntilInForce(w.agents, chain, inForce, timeoutMs, w.pollMs);
  const perNode = at.map((t) => Math.max(0, t - acked));
  return { kind, perNode, slowest: Math.max(...perNode) };
}

/**
 * `cycles` rounds of: create bench-probe-k, update it, delete it, toggle a client's role label
 * (4 single changes a round), with gapMs between samples so each change is measured on its own
 * (not queued behind the previous one's rate limit); and, with `burst`, three creates back to
 * back (kind 'burst of 3 creates', reported apart from the single changes). Returns the samples.
 */
export async function measurePolicyChanges(w, { cycles, gapMs, timeoutMs = 10_000, pollMs = POLL_MS, burst = true }) {
  w.pollMs = pollMs;
  const policies = w.kube.resource('networkpolicies');
  const pods = w.kube.resource('pods');
  const out = [];
  for (let k = 0; k < cycles; k++) {
    const name = `bench-probe-${k}`;
    const chain = peerChain(`${NAMESPACE}/${name}`, 'ingress', 0);
    const first = `10.200.${k % 250}.0/24`;
    const second = `10.201.${k % 250}.0/24`;
    out.push(
      await sample(
        w,
        'create',
        () => policies.create(probePolicy(k, first), { namespace: NAMESPACE }),
        chain,
        (s, code) => code === 0 && s.includes(`-s ${first} `),
        timeoutMs,
      ),
    );
    await sleep(gapMs);
    // The read is not part of the change: only the PUT's acknowledgement starts the clock.
    const current = await policies.get(name, { namespace: NAMESPACE });
    out.push(
      await sample(
        w,
        'update',
        () => policies.update({ ...probePolicy(k, second), metadata: current.metadata }, { namespace: NAMESPACE }),
        chain,
        (s, code) => code === 0 && s.includes(`-s ${second} `) && !s.includes(`-s ${first} `),
        timeoutMs,
      ),
    );
    await sleep(gapMs);
    out.push(
      await sample(
        w,
        'delete',
        () => policies.delete(name, { namespace: NAMESPACE }),
        chain,
        (_s, code) => code !== 0,
        timeoutMs,
      ),
    );
    await sleep(gapMs);
    const client = w.clients[k % w.clients.length];
    const removing = Math.floor(k / w.clients.length) % 2 === 0;
    out.push(
      await sample(
        w,
        removing ? 'label removed' : 'label added',
        () =>
          pods.patch(client.name, { metadata: { labels: { role: removing ? null : 'client' } } }, { namespace: NAMESPACE, type: 'merge' }),
        w.peersChain,
        // The last client leaving leaves the rule without peers: its chain is then not rendered at all.
        (s, code) => (code === 0 && s.includes(`-s ${client.ip}/32 `)) !== removing,
        timeoutMs,
      ),
    );
    await sleep(gapMs);
    if (burst) {
      // Three creates back to back (each acknowledged before the next is sent), timed from the
      // last acknowledgement: the agent's rate limit (--netpol-min-sync-period, a burst of two
      // syncs) decides whether the third waits. Each sync renders the whole state, so the last
      // policy in force means the other two are as well.
      const names = [0, 1, 2].map((j) => `bench-burst-${k}-${j}`);
      const last = peerChain(`${NAMESPACE}/${names[2]}`, 'ingress', 0);
      const cidr = (j) => `10.202.${(k * 3 + j) % 250}.0/24`;
      out.push(
        await sample(
          w,
          'burst of 3 creates',
          async () => {
            for (const [j, n] of names.entries())
              await policies.create({ ...probePolicy(k, cidr(j)), metadata: { namespace: NAMESPACE, name: n } }, { namespace: NAMESPACE });
          },
          last,
          (s, code) => code === 0 && s.includes(`-s ${cidr(2)} `),
          timeoutMs,
        ),
      );
      for (const n of names) await policies.delete(n, { namespace: NAMESPACE });
      // Six changes spent the rate limit's tokens: let them refill before the next single change.
      await sleep(Math.max(gapMs, 600));
    }
  }
  return out;
}

function kubectl(record, args, timeoutMs = 20_000) {
  return run('kubectl', ['--kubeconfig', record.kubeconfig, ...args], { timeoutMs });
}

/**
 * A real frame confirms one sample: a TCP connect (the toolbox nc -z, a SYN through the nodes'
 * netfilter and, across nodes, VXLAN) from a client to a target on another node succeeds while
 * the client has role=client, and times out (DROP) right after the label removal is seen in
 * force; then the label is put back. Resolves with what each probe gave.
 */
export async function confirmWithFrame(w, cluster) {
  const pods = w.kube.resource('pods');
  const client = w.clients[0];
  const nodes = cluster.record.nodes;
  const targetName = `target-a-${(nodes[1] ?? nodes[0]).name}`;
  const target = w.ips.get(targetName);
  const nc = async () =>
    (await kubectl(cluster.record, ['exec', '-n', NAMESPACE, client.name, '--', 'nc', '-z', '-w', '2', target, '8080'])).code;
  const label = async (value) => {
    await pods.patch(client.name, { metadata: { labels: { role: value } } }, { namespace: NAMESPACE, type: 'merge' });
    const at = await pollUntilInForce(
      w.agents,
      w.peersChain,
      (s, code) => (code === 0 && s.includes(`-s ${client.ip}/32 `)) === (value !== null),
      10_000,
    );
    return at;
  };
  await label('client');
  const allowed = await nc();
  await label(null);
  const denied = await nc();
  await label('client');
  return { from: client.name, to: `${targetName} ${target}:8080`, allowedExit: allowed, deniedExit: denied };
}

/**
 * Each node's policy sync histogram (count, sum in seconds) from its cni-agent's /metrics on the
 * transport address (port 9099, DESIGN §4; loopback only). Read before and after the samples, not
 * during: a scrape also reads the drop counters (an iptables-save).
 */
export async function readSyncHistograms(record) {
  return Promise.all(
    record.nodes.map(async (n) => {
      const res = await fetch(`http://${n.transportAddress}:9099/metrics`, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`cni-agent metrics on ${n.transportAddress}:9099: HTTP ${res.status}`);
      let count = 0;
      let sum = 0;
      for (const line of (await res.text()).split('\n')) {
        if (line.startsWith(`${SYNC_HISTOGRAM}_count`)) count += Number(line.slice(line.lastIndexOf(' ') + 1));
        else if (line.startsWith(`${SYNC_HISTOGRAM}_sum`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return { count, sum };
    }),
  );
}
