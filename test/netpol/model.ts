// The upstream NetworkPolicy e2e model (kubernetes test/e2e/network/netpol/model.go): namespaces
// x, y, z labelled ns=<name> (plus kubernetes.io/metadata.name), pods a, b, c in each labelled
// pod=<name>, serving 80 and 81 on TCP, UDP and SCTP with named ports serve-80-tcp etc. — spread
// over two emulated nodes, each with its own rule engine (packages/netfilter) holding a kube-proxy
// payload and the policy payload this package renders for it. A probe is a NEW packet per cell
// crossing the real hooks of the nodes on its path (same node: bridged on cni0; otherwise the
// source node's FORWARD out flannel.1 and the destination node's FORWARD in from flannel.1);
// the matrix prints as the upstream suite does (`.` allowed, `X` denied, rows are sources).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Conntrack,
  type HookContext,
  type HookName,
  type HookPacket,
  Netfilter,
  type PacketState,
  type TraceEvent,
} from '../../packages/netfilter/src/index.ts';
import { sctpPacket, TCP, tcpPacket, udpPacket } from '../../packages/netfilter/src/testing/conntrack-packets.ts';
import {
  buildMatrix,
  formatMatrix,
  type Namespace,
  type NetworkPolicy,
  type Pod,
  renderPolicies,
} from '../../packages/netpol/src/index.ts';
import { parseIpv4, SeededRng } from '../../packages/wire/src/index.ts';
import { FakeClock } from '../../packages/wire/src/testing/fake-clock.ts';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_NAMES = ['a', 'b', 'c'] as const;
export const ALL_PODS: string[] = NAMESPACES.flatMap((ns) => POD_NAMES.map((p) => `${ns}/${p}`));
export const NODES = ['node-1', 'node-2'] as const;
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

const kubeProxyRules = readFileSync(
  join(import.meta.dirname, '..', '..', 'packages', 'netfilter', 'fixtures', 'kube-proxy', 'clusterip.rules'),
  'utf8',
);

/** Where each pod runs and its address: a and c of x on node-1, and so on, so every matrix has same-node and cross-node cells. */
function placement(index: number): { node: (typeof NODES)[number]; ip: string } {
  const node = NODES[index % 2] as (typeof NODES)[number];
  return { node, ip: `10.244.${node === 'node-1' ? 1 : 2}.${10 + index}` };
}

export function modelPod(ns: string, name: string, index: number): Pod {
  const { node, ip } = placement(index);
  const ports = [80, 81].flatMap((port) =>
    (['TCP', 'UDP', 'SCTP'] as const).map((protocol) => ({
      name: `serve-${port}-${protocol.toLowerCase()}`,
      containerPort: port,
      protocol,
    })),
  );
  return {
    metadata: { namespace: ns, name, labels: { pod: name } },
    spec: { nodeName: node, containers: [{ name: 'cont-80-81', ports }] },
    status: { phase: 'Running', podIP: ip },
  };
}

export class Cluster {
  namespaces = new Map<string, Namespace>();
  pods = new Map<string, Pod>();
  policies = new Map<string, NetworkPolicy>();
  readonly nodes = new Map<string, { nf: Netfilter; conntrack: Conntrack; chains: string[]; jump: boolean }>();
  readonly clock = new FakeClock(0);
  events: TraceEvent[] = [];
  #sport = 20000;

  constructor() {
    for (const ns of NAMESPACES) this.namespaces.set(ns, { metadata: { name: ns, labels: { ns } } });
    let i = 0;
    for (const ns of NAMESPACES) for (const p of POD_NAMES) this.pods.set(`${ns}/${p}`, modelPod(ns, p, i++));
    for (const node of NODES) {
      const conntrack = new Conntrack({ clock: this.clock, gcIntervalMs: 0 });
      const nf = new Netfilter({ clock: this.clock, conntrack, rng: new SeededRng(7), trace: (e) => this.events.push(e) });
      nf.restore(kubeProxyRules);
      this.nodes.set(node, { nf, conntrack, chains: [], jump: false });
    }
    this.sync();
  }

  ip(pod: string): string {
    return this.pods.get(pod)?.status?.podIP ?? '';
  }

  nodeOf(pod: string): string {
    return this.pods.get(pod)?.spec?.nodeName ?? '';
  }

  apply(policy: NetworkPolicy): void {
    this.policies.set(`${policy.metadata.namespace}/${policy.metadata.name}`, policy);
    this.sync();
  }

  delete(key: string): void {
    this.policies.delete(key);
    this.sync();
  }

  /** Renders and restores (--noflush) every node's payload, as each node's agent would. */
  sync(): void {
    for (const [node, n] of this.nodes) {
      const rendered = renderPolicies(
        { node, policies: [...this.policies.values()], pods: [...this.pods.values()], namespaces: [...this.namespaces.values()] },
        { existingChains: n.chains, jumpRule: n.jump ? 'none' : 'insert' },
      );
      if (rendered.invalid.length > 0) throw rendered.invalid[0];
      n.nf.restore(rendered.payload, { noflush: true });
      n.chains = rendered.chains;
      n.jump = true;
    }
  }

  #context(hook: HookName, inIf: string | undefined, outIf: string | undefined, physIn?: string, physOut?: string): HookContext {
    const local = new Set<number>();
    return {
      hook,
      bridged: inIf === 'cni0' && outIf === 'cni0',
      isLocalAddress: (a) => local.has(a),
      interfaceAddress: () => undefined,
      ...(inIf === undefined ? {} : { inInterface: inIf }),
      ...(outIf === undefined ? {} : { outInterface: outIf }),
      ...(physIn === undefined ? {} : { physInInterface: physIn }),
      ...(physOut === undefined ? {} : { physOutInterface: physOut }),
    };
  }

  /** Runs one packet along its path (the nodes the packet crosses); returns whether every hook accepted it. */
  send(from: string, to: string, packet: () => HookPacket, trace = false): boolean {
    if (from === to) return true; // a pod reaching its own IP never leaves its namespace (lo): no node hook sees it
    const src = this.nodeOf(from);
    const dst = this.nodeOf(to);
    const vethOf = (pod: string) => `veth${parseIpv4(this.ip(pod)) & 0xff}`;
    const legs: Array<[string, Array<[HookName, string | undefined, string | undefined, string?, string?]>]> =
      src === dst
        ? [
            [
              src,
              [
                ['PREROUTING', 'cni0', undefined, vethOf(from)],
                ['FORWARD', 'cni0', 'cni0', vethOf(from), vethOf(to)],
                ['POSTROUTING', undefined, 'cni0', vethOf(from), vethOf(to)],
              ],
            ],
          ]
        : [
            [
              src,
              [
                ['PREROUTING', 'cni0', undefined, vethOf(from)],
                ['FORWARD', 'cni0', 'flannel.1', vethOf(from)],
                ['POSTROUTING', undefined, 'flannel.1'],
              ],
            ],
            [
              dst,
              [
                ['PREROUTING', 'flannel.1', undefined],
                ['FORWARD', 'flannel.1', 'cni0', undefined, vethOf(to)],
                ['POSTROUTING', undefined, 'cni0', undefined, vethOf(to)],
              ],
            ],
          ];
    const p = packet();
    for (const [node, hooks] of legs) {
      const nf = this.nodes.get(node)?.nf;
      if (!nf) throw new Error(`no node ${node}`);
      const state: PacketState = { mark: 0, trace };
      for (const [hook, inIf, outIf, physIn, physOut] of hooks) {
        if (nf.run(hook, p, this.#context(hook, inIf, outIf, physIn, physOut), state).kind !== 'accept') return false;
      }
    }
    return true;
  }

  /** One NEW connection attempt (TCP SYN, UDP datagram or SCTP INIT) from a fresh source port. */
  probe(from: string, to: string, port: number, protocol: Protocol, trace = false): boolean {
    const sport = this.#sport++;
    const s = this.ip(from);
    const d = this.ip(to);
    return this.send(
      from,
      to,
      () =>
        protocol === 'TCP'
          ? tcpPacket({ src: s, sport, dst: d, dport: port, flags: TCP.SYN, seq: 1000 })
          : protocol === 'UDP'
            ? udpPacket(s, sport, d, port)
            : sctpPacket(s, sport, d, port, 1),
      trace,
    );
  }

  /** The 9x9 matrix in the upstream suite's print format (the package's formatMatrix, as `podnet netpol probe` prints it). */
  matrix(port: number, protocol: Protocol): string {
    return formatMatrix(buildMatrix(ALL_PODS, (from, to) => this.probe(from, to, port, protocol)));
  }
}

/** An expected reachability table, built like upstream's Reachability (ExpectPeer, ExpectAllIngress, ...). */
export class Reachability {
  readonly cells = new Map<string, boolean>();
  constructor(initial: boolean) {
    for (const f of ALL_PODS) for (const t of ALL_PODS) this.cells.set(`${f}>${t}`, initial);
  }
  /** A peer is a namespace ("x"), a pod ("x/a") or every pod (""). */
  static matches(peer: string, pod: string): boolean {
    return peer === '' || peer === pod || (!peer.includes('/') && pod.startsWith(`${peer}/`));
  }
  expectPeer(from: string, to: string, allowed: boolean): this {
    for (const f of ALL_PODS)
      for (const t of ALL_PODS) if (Reachability.matches(from, f) && Reachability.matches(to, t)) this.cells.set(`${f}>${t}`, allowed);
    return this;
  }
  expect(from: string, to: string, allowed: boolean): this {
    this.cells.set(`${from}>${to}`, allowed);
    return this;
  }
  /** Upstream AllowLoopback: a pod always reaches itself (the packet never leaves the pod). */
  allowLoopback(): this {
    for (const p of ALL_PODS) this.cells.set(`${p}>${p}`, true);
    return this;
  }
  print(): string {
    return formatMatrix(buildMatrix(ALL_PODS, (f, t) => this.cells.get(`${f}>${t}`) === true));
  }
}
