// Scale of a real `podnet up` cluster (issue 9): the time from `podnet up` to every node Ready
// for 3, 10 and 20 nodes, then 10 agnhost pods per node until all are Ready, the resident memory
// per node (node-agent + cni-agent + kube-proxy, their process group) and of the control plane,
// and the largest cluster (nodes with 10 pods each) this machine brings up within 60 s, trying
// larger sizes while the group's time budget lasts.
// Goals: 20 nodes with 200 pods within 60 s; under 256 MiB per node.
import { startCluster } from '../lib/cluster.js';

const GOAL_S = 60;
const GOAL_MIB = 256;
const PODS_PER_NODE = 10;
/** Memory is read this many times, this far apart, after the pods are Ready (its peak is reported). */
const MEMORY_SAMPLES = 10;
const MEMORY_EVERY_MS = 2500;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Each node's (and the control plane's) largest RSS over `samples` readings MEMORY_EVERY_MS apart,
 * starting once every pod is Ready: the minute after a burst of pod creation is when the node
 * processes hold the most (kube-proxy's restores, endpoint and policy churn), so one reading right
 * at rollout understates what a node needs (a 20-node cluster's cni-agents measured 89 MiB at
 * rollout and 110 MiB a minute later before the young generation was capped).
 */
async function peakMemory(cluster, samples) {
  let peak;
  for (let i = 0; i < samples; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, MEMORY_EVERY_MS));
    const m = cluster.memory();
    if (peak === undefined) {
      peak = m;
      continue;
    }
    peak.nodes = peak.nodes.map((n, j) => (m.nodes[j] && m.nodes[j].mib > n.mib ? m.nodes[j] : n));
    if (m.controlPlane.mib > peak.controlPlane.mib) peak.controlPlane = m.controlPlane;
  }
  return peak;
}

async function measureSize(nodes, { smoke }) {
  const podsPerNode = smoke ? 2 : PODS_PER_NODE;
  const cluster = await startCluster({ nodes, prefix: smoke ? '127.0.78' : '127.0.77', timeoutS: smoke ? 60 : 90 });
  if (cluster.error) return { nodes, error: cluster.error };
  try {
    const ready = await cluster.readyNodes();
    if (ready.length !== nodes) return { nodes, error: `podnet up returned with ${ready.length} of ${nodes} nodes Ready` };
    const pods = await cluster.deployPods(nodes * podsPerNode, smoke ? 60 : 90);
    const memory = await peakMemory(cluster, smoke ? 1 : MEMORY_SAMPLES);
    return {
      nodes,
      upSeconds: cluster.upSeconds,
      pods: nodes * podsPerNode,
      podSeconds: pods.seconds,
      podsReady: pods.ready,
      podsComplete: pods.complete,
      memory,
    };
  } finally {
    await cluster.stop();
  }
}

const bound = (name, value) => ({ name, value, min: value, max: value });

export async function run({ smoke, budgetMs }) {
  const started = performance.now();
  const planned = smoke ? [1] : [3, 10, 20];
  const extra = smoke ? [] : [30, 40];
  const runs = [];
  for (const n of planned) runs.push(await measureSize(n, { smoke }));
  // The largest within 60 s: keep growing while the last size met it and the budget allows one more
  // run of about the last one's length (plus start-up and teardown).
  for (const n of extra) {
    const last = runs[runs.length - 1];
    if (!last || last.error || !last.podsComplete || last.upSeconds + last.podSeconds > GOAL_S) break;
    const spent = performance.now() - started;
    if (spent + 2.5 * (last.upSeconds + last.podSeconds + 15) * 1000 > budgetMs) break;
    runs.push(await measureSize(n, { smoke }));
  }

  const figures = [];
  for (const r of runs) {
    if (r.error) {
      figures.push({
        name: `${r.nodes} nodes: podnet up to all nodes Ready`,
        unit: 's',
        value: null,
        unavailable: r.error,
        reference: bound(`the ${GOAL_S} s goal`, GOAL_S),
      });
      continue;
    }
    const total = r.upSeconds + r.podSeconds;
    const perNode = r.memory.nodes.map((n) => n.mib);
    const perNodeMedian = median(perNode);
    const is20 = r.nodes === 20;
    figures.push(
      {
        name: `${r.nodes} nodes: podnet up to all nodes Ready`,
        unit: 's',
        decimals: 1,
        value: r.upSeconds,
        min: r.upSeconds,
        max: r.upSeconds,
        reference: bound(`the ${GOAL_S} s bound`, GOAL_S),
        ratio: r.upSeconds / GOAL_S,
      },
      {
        name: `${r.nodes} nodes: up, then ${r.pods} pods Ready`,
        unit: 's',
        decimals: 1,
        value: r.podsComplete ? total : null,
        ...(r.podsComplete ? {} : { unavailable: `only ${r.podsReady} of ${r.pods} pods Ready within the bound` }),
        min: total,
        max: total,
        reference: bound(`the ${GOAL_S} s bound`, GOAL_S),
        ratio: total / GOAL_S,
        ...(is20 ? { goal: `20 nodes, 200 pods ≤ ${GOAL_S} s`, met: r.podsComplete && total <= GOAL_S } : {}),
      },
      {
        name: `${r.nodes} nodes: memory per node (RSS of its processes, with ${r.pods / r.nodes} pods)`,
        unit: 'MiB',
        decimals: 0,
        value: perNodeMedian,
        min: Math.min(...perNode),
        max: Math.max(...perNode),
        reference: bound(`the ${GOAL_MIB} MiB bound`, GOAL_MIB),
        ratio: Math.max(...perNode) / GOAL_MIB,
        ...(is20 || smoke ? { goal: `< ${GOAL_MIB} MiB per node (every node)`, met: Math.max(...perNode) < GOAL_MIB } : {}),
      },
    );
  }
  const within = runs.filter((r) => !r.error && r.podsComplete && r.upSeconds + r.podSeconds <= GOAL_S);
  const largest = within.reduce((a, r) => (r.nodes > (a?.nodes ?? 0) ? r : a), undefined);
  const triedMax = Math.max(...runs.map((r) => r.nodes));
  if (largest) {
    figures.push({
      name: `largest cluster Ready within ${GOAL_S} s (nodes, ${smoke ? 2 : PODS_PER_NODE} pods each)${largest.nodes === triedMax ? ': the largest tried' : ''}`,
      unit: 'nodes',
      decimals: 0,
      value: largest.nodes,
      min: largest.nodes,
      max: largest.nodes,
      reference: bound('the 20-node goal', 20),
      ratio: largest.nodes / 20,
      goal: '≥ 20 nodes',
      met: largest.nodes >= 20,
    });
  } else {
    figures.push({
      name: `largest cluster Ready within ${GOAL_S} s`,
      unit: 'nodes',
      value: null,
      unavailable: 'no size tried came up with its pods within the bound',
      reference: bound('the 20-node goal', 20),
      goal: '≥ 20 nodes',
      met: false,
    });
  }
  const cp = runs.filter((r) => !r.error).map((r) => `${r.nodes} nodes: ${r.memory.controlPlane.mib.toFixed(0)} MiB`);
  // Where a node's memory goes: the median over the nodes of each program's RSS.
  const perProgram = runs
    .filter((r) => !r.error)
    .map((r) => {
      const programs = [...new Set(r.memory.nodes.flatMap((n) => Object.keys(n.byProgram)))].sort();
      const parts = programs.map((p) => `${p} ${median(r.memory.nodes.map((n) => n.byProgram[p] ?? 0)).toFixed(0)}`);
      return `${r.nodes} nodes: ${parts.join(', ')}`;
    });
  return {
    title: 'Scale: podnet up, nodes Ready, pods Ready, memory per node',
    description: `A real \`podnet up --nodes N\` (its own name, state directory, API port and transport prefix), timed until it returns, which it does once every node is Ready (checked again with kubectl); then a Deployment of ${smoke ? 2 : PODS_PER_NODE} agnhost pods per node, timed until \`kubectl rollout status\` reports all Ready; then the resident memory (VmRSS) of each node's process group (node-agent, cni-agent, kube-proxy, the pods' workloads), each node's peak over ${smoke ? 1 : MEMORY_SAMPLES} readings ${MEMORY_EVERY_MS / 1000} s apart from then on, median [min–max] over the nodes; then \`podnet down --purge\`. One run per size (each is a whole cluster start). There is no second cluster to compare with on this machine, so the reference column is the goal's bound (not a measurement) and the ratio is the figure / that bound.`,
    figures,
    notes: [
      `Control plane (API server + controllers, one process group) RSS: ${cp.join('; ') || 'not measured'}.`,
      `RSS per node by process, median over the nodes (MiB; each Node.js process counts the node binary's ~44 MiB of shared, clean pages in its RSS too): ${perProgram.join('; ') || 'not measured'}.`,
      `Sizes tried: ${runs.map((r) => r.nodes).join(', ')}.`,
    ],
  };
}
