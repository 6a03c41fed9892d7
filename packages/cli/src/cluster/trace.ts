// `podnet trace --from POD --to IP:PORT`: arms the cni-agent trace API on every node (as
// `iptables -t raw -j TRACE` with a match would: the packet is marked where it enters a host
// namespace, PREROUTING, and every rule it hits is recorded), sends one packet from inside the
// pod through its own stack (the toolbox's nc -z / nc -u / nc --sctp -z / ping -c 1 via pods/exec), and prints
// the path node by node: the interfaces, each rule hit, DNAT/SNAT, the outgoing device (flannel.1:
// VXLAN-encapsulated to the peer; cni0: delivered to a local pod; eth0: routed) and the verdict.
// The source node matches the original destination; the other nodes match the pod's source
// address only, because DNAT has rewritten the destination by the time the packet reaches them.
// Each node records up to MAX_PACKETS packets; the probe is the first packet on the source node
// that traverses the nat table (a NEW connection, as only those do), and on the other nodes the
// packet of the same flow (same source port, the DNATed destination). Other new connections of
// the same pod to the same destination at the same moment could be picked instead.

import { KubeClient, NotFoundError } from '@podnet/client';
import { CniAgentClient, type TraceEventBody } from '@podnet/cni-agent';
import { formatTracePolicy, tracePolicy } from '../netpol/trace-policy.js';
import type { Output } from '../pcap-read.js';
import { UsageError } from '../usage.js';
import { ClusterError, ClusterErrorCodes } from './errors.js';
import { podExec } from './pod-exec.js';
import type { ClusterRecord } from './state.js';

export interface TraceOptions {
  from: string;
  namespace: string;
  to: string;
  proto: 'tcp' | 'udp' | 'sctp' | 'icmp';
  json: boolean;
}

export function parseTarget(text: string, proto: string): { ip: string; port?: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(text);
  const port = m?.[2] === undefined ? undefined : Number(m[2]);
  if (!m || (port !== undefined && (port < 1 || port > 65535)) || (m[1] ?? '').split('.').some((o) => Number(o) > 255)) {
    throw new UsageError(
      `podnet trace: --to "${text}" is not IPv4:PORT`,
      'give a Service or pod address, e.g. --to 10.96.0.12:80 (run `podnet help trace`)',
    );
  }
  if (proto !== 'icmp' && port === undefined) {
    throw new UsageError(
      `podnet trace: --to "${text}" needs a port for --proto ${proto}`,
      'add :PORT, e.g. --to 10.96.0.12:80; only --proto icmp takes a bare address',
    );
  }
  return { ip: m[1] as string, ...(port === undefined ? {} : { port }) };
}

/** The toolbox command that makes exactly one first packet of the flow. */
export function probeCommand(proto: TraceOptions['proto'], ip: string, port: number | undefined): string[] {
  switch (proto) {
    case 'tcp':
      return ['nc', '-z', '-w', '2', ip, String(port)];
    case 'udp':
      return ['sh', '-c', `echo hostname | nc -u -w 1 ${ip} ${port}`];
    case 'icmp':
      return ['ping', '-c', '1', ip];
    case 'sctp':
      // One INIT chunk (the toolbox's ncat-style --sctp probe): the first packet of an association.
      return ['nc', '--sctp', '-z', '-w', '2', ip, String(port)];
  }
}

const MAX_PACKETS = 64;

/** Splits a node's trace events into packets: each packet starts at raw PREROUTING or raw OUTPUT. */
export function splitPackets(events: TraceEventBody[]): TraceEventBody[][] {
  const packets: TraceEventBody[][] = [];
  for (const e of events) {
    const starts = e.table === 'raw' && (e.hook === 'PREROUTING' || e.hook === 'OUTPUT');
    if (starts || packets.length === 0) packets.push([]);
    (packets[packets.length - 1] as TraceEventBody[]).push(e);
  }
  return packets;
}

/** The probe on the source node, then its continuation on each other node. */
export function pickProbe(
  sourceEvents: TraceEventBody[],
  others: Map<string, TraceEventBody[]>,
): { source: TraceEventBody[]; remote: Map<string, TraceEventBody[]> } {
  const packets = splitPackets(sourceEvents);
  const source = packets.find((p) => p.some((e) => e.table === 'nat')) ?? packets[0] ?? [];
  const remote = new Map<string, TraceEventBody[]>();
  const first = source[0];
  const last = source[source.length - 1];
  if (!first || !last) return { source, remote };
  for (const [node, events] of others) {
    const match = splitPackets(events).find(
      (p) => p[0]?.src === first.src && p[0]?.srcPort === first.srcPort && p[0]?.dst === last.dst && p[0]?.dstPort === last.dstPort,
    );
    if (match) remote.set(node, match);
  }
  return { source, remote };
}

function describeEvent(e: TraceEventBody): string {
  // The engine's line is already the kernel's TRACE format (table:chain:kind:n IN= OUT= SRC= ...).
  if (e.line) return e.line;
  const ports = e.srcPort !== undefined ? ` ${e.src}:${e.srcPort} > ${e.dst}:${e.dstPort}` : ` ${e.src} > ${e.dst}`;
  const ifaces = `${e.inInterface ? ` IN=${e.inInterface}` : ''}${e.outInterface ? ` OUT=${e.outInterface}` : ''}`;
  return `TRACE: ${e.table}:${e.chain}:${e.kind}:${e.ruleNumber} ${e.target}${ifaces}${ports}${e.mark ? ` MARK=0x${e.mark.toString(16)}` : ''}`;
}

/** Where eth0 takes a routed packet: a node's own address, or under host-gw the node owning a pod CIDR. */
function eth0NextHop(dst: string, record: Pick<ClusterRecord, 'backend' | 'nodes'>): string {
  const node = record.nodes.find((n) => n.nodeIp === dst);
  if (node) return `the underlay: ${node.name}'s node IP`;
  return record.backend === 'host-gw' ? 'host-gw: the next hop is the node owning the pod CIDR' : 'the underlay';
}

function summarize(events: TraceEventBody[], record: Pick<ClusterRecord, 'backend' | 'nodes'>): string[] {
  const out: string[] = [];
  const first = events[0];
  if (!first) return out;
  const last = events[events.length - 1] as TraceEventBody;
  out.push(
    `    enters on ${first.inInterface ?? 'a local socket'} (${first.hook}) as ${first.src}${first.srcPort === undefined ? '' : `:${first.srcPort}`} > ${first.dst}${first.dstPort === undefined ? '' : `:${first.dstPort}`}`,
  );
  for (const e of events) {
    if (e.target === 'DNAT' || e.target === 'SNAT' || e.target === 'MASQUERADE')
      out.push(`    ${e.target} in ${e.table}/${e.chain}${e.rule ? `: ${e.rule}` : ''}`);
  }
  const dst = `${last.dst}${last.dstPort === undefined ? '' : `:${last.dstPort}`}`;
  const via = last.outInterface;
  if (events.some((e) => e.target === 'DROP' || e.target === 'REJECT')) {
    const d = events.find((e) => e.target === 'DROP' || e.target === 'REJECT') as TraceEventBody;
    out.push(`    ${d.target === 'DROP' ? 'dropped' : 'rejected'} by ${d.table}/${d.chain} rule ${d.ruleNumber}`);
  } else if (via === 'flannel.1')
    out.push(`    routed to ${dst} via flannel.1: VXLAN-encapsulated (UDP 4789, VNI 1) to the node that owns it`);
  else if (via === 'cni0') out.push(`    delivered to ${dst} on cni0 (a pod of this node)`);
  else if (via === 'eth0')
    out.push(`    routed to ${dst} via eth0${last.hook === 'POSTROUTING' ? ` (${eth0NextHop(last.dst, record)})` : ''}`);
  else if (last.hook === 'INPUT') out.push(`    delivered locally to ${dst} (INPUT)`);
  else out.push(`    last seen at ${last.hook} ${via ? `leaving on ${via}` : ''}`.trimEnd());
  return out;
}

export async function trace(record: ClusterRecord, options: TraceOptions, io: Output): Promise<number> {
  const target = parseTarget(options.to, options.proto);
  const client = new KubeClient({ kubeconfig: record.kubeconfig });
  let podIP: string;
  let nodeName: string;
  let container: string | undefined;
  try {
    const pod = (await client.resource('pods').get(options.from, { namespace: options.namespace })) as {
      spec?: { nodeName?: string; containers?: Array<{ name: string }> };
      status?: { podIP?: string };
    };
    // The pod's first container, as kubectl exec defaults to: a multi-container pod needs one named.
    container = pod.spec?.containers?.[0]?.name;
    podIP = pod.status?.podIP ?? '';
    nodeName = pod.spec?.nodeName ?? '';
  } catch (error) {
    if (error instanceof NotFoundError)
      throw new ClusterError(ClusterErrorCodes.TARGET, `podnet trace: pod "${options.from}" not found in namespace "${options.namespace}"`);
    throw error;
  } finally {
    client.close();
  }
  if (!podIP || !nodeName)
    throw new ClusterError(ClusterErrorCodes.TARGET, `podnet trace: pod "${options.from}" has no IP yet (not running)`);
  const probe = probeCommand(options.proto, target.ip, target.port);
  const agents = record.nodes.map((n) => ({ node: n, agent: new CniAgentClient({ socketPath: n.controlSocket, timeoutMs: 10_000 }) }));
  try {
    const traces = await Promise.all(
      agents.map(async ({ node, agent }) => {
        const source = node.name === nodeName;
        const id = await agent
          .traceStart({
            protocol: options.proto,
            src: podIP,
            ...(source ? { dst: target.ip, ...(target.port === undefined ? {} : { dstPort: target.port }) } : {}),
            maxPackets: MAX_PACKETS,
            durationMs: 15_000,
          })
          .catch((error: Error) => {
            io.err(`podnet trace: cannot trace on ${node.name}: ${error.message}`);
            return undefined;
          });
        return { node, agent, id };
      }),
    );
    const sent = await podExec({
      kubeconfig: record.kubeconfig,
      namespace: options.namespace,
      pod: options.from,
      ...(container ? { container } : {}),
      command: probe,
      timeoutMs: 15_000,
    });
    // Let a packet that crossed to another node be processed there before reading.
    await new Promise((r) => setTimeout(r, 300));
    const results = await Promise.all(
      traces.map(async (t) => ({ ...t, result: t.id ? await t.agent.traceResults(t.id, true).catch(() => undefined) : undefined })),
    );
    const sourceResult = results.find((r) => r.node.name === nodeName);
    const others = new Map(results.filter((r) => r.node.name !== nodeName).map((r) => [r.node.name, r.result?.events ?? []] as const));
    const picked = pickProbe(sourceResult?.result?.events ?? [], others);
    const hops = [
      ...(sourceResult && picked.source.length > 0 ? [{ node: sourceResult.node, events: picked.source }] : []),
      ...results.filter((r) => picked.remote.has(r.node.name)).map((r) => ({ node: r.node, events: picked.remote.get(r.node.name) ?? [] })),
    ];
    // Which NetworkPolicy decided: from the rules the packet hit on every node it crossed.
    const policyClient = new KubeClient({ kubeconfig: record.kubeconfig });
    const policy = await tracePolicy(
      policyClient,
      hops.flatMap((h) => h.events.map((e) => ({ ...e, kind: e.kind as 'rule' | 'return' | 'policy' }))),
    ).finally(() => policyClient.close());
    if (options.json) {
      io.out(
        JSON.stringify({
          from: { pod: options.from, namespace: options.namespace, ip: podIP, node: nodeName },
          to: options.to,
          proto: options.proto,
          probe: { argv: probe, exitCode: sent.exitCode },
          hops: hops.map((h) => ({ node: h.node.name, events: h.events })),
          policy,
        }),
      );
      return 0;
    }
    io.out(
      `trace ${options.proto} ${podIP} (${options.namespace}/${options.from} on ${nodeName}) -> ${options.to}  [sent with: ${probe.join(' ')}; exit ${sent.exitCode}]`,
    );
    if (hops.length === 0)
      io.out('  no traced packet was seen on any node (the pod did not send it: is the destination on the pod itself?)');
    hops.forEach((h, i) => {
      const events = h.events;
      io.out(`hop ${i + 1}: ${h.node.name} (node IP ${h.node.nodeIp})`);
      for (const e of events) io.out(`  ${describeEvent(e)}`);
      for (const line of summarize(events, record)) io.out(line);
    });
    if (hops.length > 0) for (const line of formatTracePolicy(policy)) io.out(line);
    return 0;
  } finally {
    for (const a of agents) a.agent.close();
  }
}
