// The cni-agent (DESIGN §2): wires the host namespace, the backend, the CNI endpoint, the NodePort
// relay, the node commands and the control socket to the API (its own Node for the podCIDR and
// the annotations it publishes, every other Node for the backend, Services for NodePorts).
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { Informer, type KubeClient, type KubeObject } from '@podnet/client';
import { type Link, udpSegmentationState } from '@podnet/netstack';
import { type Cidr, formatCidr, formatIpv4, formatMac, isIpv4, parseCidr, parseIpv4, parseMac, pcap, type TimerHandle } from '@podnet/wire';
import type { Logger } from 'pino';
import { ANNOTATIONS, type Backend, createBackend, type RemoteNode, VXLAN_PORT } from './backends/index.js';
import { VxlanBackend } from './backends/vxlan.js';
import { CniEndpoint } from './cni/endpoint.js';
import type { ConntrackFilterBody, StatusResponseBody } from './control/protocol.js';
import { ControlServer, type Handlers } from './control/server.js';
import { CniAgentError, CniAgentErrorCodes } from './errors.js';
import { NodeExec } from './exec/node-exec.js';
import { HostNetwork } from './host/host-network.js';
import { ensureMasquerade } from './host/masquerade.js';
import { ensureNodeNetworkPeer, nodeNetworkAnnotations, removeNodeNetworkPeer } from './host/node-network-peers.js';
import { type AgentMetrics, createMetrics, serveMetrics } from './metrics.js';
import { PolicyHost } from './netpol/policy-host.js';
import { type NodePortKey, NodePortRelay } from './nodeports/relay.js';
import { instrumentAgent } from './observability/instrument.js';
import type { TunnelMetrics } from './observability/tunnel-metrics.js';

export interface CniAgentOptions {
  node: string;
  client: KubeClient;
  transportAddress: string;
  nodeIp: string;
  controlSocket: string;
  dataDir: string;
  backend: string;
  clusterCidr?: string;
  /** VXLAN UDP port (4789; 0: any free one, published in podnet.dev/vxlan-port). */
  vxlanPort?: number;
  /** eth0 wire UDP port (4790; 0: any free one, published in podnet.dev/uplink-port). */
  uplinkPort?: number;
  /** /metrics port (9099; 0: any free one; -1: no metrics server). */
  metricsPort?: number;
  /** How often the backend re-checks what it programmed (flannel resyncs; default 10 s). */
  reconcileMs?: number;
  /** NetworkPolicy periodic full sync (--netpol-sync-period; repairs PODNET-* rules changed by hand; default 30 s). */
  netpolSyncMs?: number;
  /** NetworkPolicy least time between syncs after a burst (--netpol-min-sync-period; default 100 ms). */
  netpolMinSyncPeriodMs?: number;
  logger: Logger;
}

interface NodeObject extends KubeObject {
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: Array<{ type: string; address: string }> };
}
interface ServiceObject extends KubeObject {
  spec?: { type?: string; ports?: Array<{ protocol?: string; nodePort?: number }> };
}

interface Capture {
  writer: pcap.PcapWriter;
  untap: Array<() => void>;
  packets: number;
  bytes: number;
  path: string;
  timer?: NodeJS.Timeout;
}

function parsePort(text: string | undefined, fallback: number): number {
  const n = Number(text);
  return text !== undefined && Number.isInteger(n) && n > 0 && n < 65536 ? n : fallback;
}

/** A Node object → what a backend needs, or why it cannot be used yet. */
export function remoteNodeOf(node: NodeObject): RemoteNode | string {
  const name = node.metadata?.name ?? '';
  const a = node.metadata?.annotations ?? {};
  const podCidrText = node.spec?.podCIDR;
  if (!podCidrText) return `node ${name} has no spec.podCIDR yet`;
  let podCidr: Cidr;
  try {
    podCidr = parseCidr(podCidrText, { strict: true });
  } catch {
    return `node ${name}: spec.podCIDR "${podCidrText}" is not a network CIDR`;
  }
  const ipText = a[ANNOTATIONS.publicIp] ?? node.status?.addresses?.find((x) => x.type === 'InternalIP')?.address;
  if (!ipText || !isIpv4(ipText)) return `node ${name} has no InternalIP (or ${ANNOTATIONS.publicIp})`;
  const transport = a[ANNOTATIONS.transportAddress];
  if (!transport || !isIpv4(transport)) return `node ${name} has no ${ANNOTATIONS.transportAddress} annotation`;
  const remote: RemoteNode = {
    name,
    podCidr,
    nodeIp: parseIpv4(ipText),
    transportAddress: transport,
    vxlanPort: parsePort(a[ANNOTATIONS.vxlanPort], VXLAN_PORT),
    uplinkPort: parsePort(a[ANNOTATIONS.uplinkPort], 4790),
  };
  const data = a[ANNOTATIONS.backendData];
  if (data) {
    try {
      const parsed = JSON.parse(data) as { VtepMAC?: string } | null;
      if (parsed?.VtepMAC) remote.vtepMac = parseMac(parsed.VtepMAC);
    } catch {
      // A malformed backend-data annotation: vxlan reports it missing.
    }
  }
  return remote;
}

export class CniAgent {
  readonly options: CniAgentOptions;
  readonly host: HostNetwork;
  readonly backend: Backend;
  readonly endpoint: CniEndpoint;
  readonly relay: NodePortRelay;
  readonly exec: NodeExec;
  readonly metrics: AgentMetrics;
  readonly clusterCidr: string;
  /** Tunnel accounting (observability); set at start once the backend's device is open. */
  tunnel: TunnelMetrics | undefined;
  /** NetworkPolicy enforcement for this node's pods (set at start). */
  netpol: PolicyHost | undefined;
  readonly #log: Logger;
  readonly #remotes = new Map<string, RemoteNode>();
  readonly #captures = new Map<string, Capture>();
  readonly #started = Date.now();
  #nodes: Informer<NodeObject> | undefined;
  #services: Informer<ServiceObject> | undefined;
  #control: ControlServer | undefined;
  #metricsServer: http.Server | undefined;
  #reconcileTimer: TimerHandle | undefined;
  #nextReconcileAt = 0;
  #podCidr: Cidr | undefined;
  #configuring: Promise<void> | undefined;
  #closed = false;

  private constructor(options: CniAgentOptions, host: HostNetwork, backend: Backend) {
    this.options = options;
    this.host = host;
    this.backend = backend;
    this.#log = options.logger;
    this.clusterCidr = options.clusterCidr ?? '10.244.0.0/16';
    this.endpoint = new CniEndpoint({
      dataDir: options.dataDir,
      host,
      mtu: backend.mtu,
      podCidr: () => this.#podCidr,
      log: (o, m) => this.#log.info(o, m),
    });
    this.relay = new NodePortRelay({ host, transportAddress: options.transportAddress, log: this.#log });
    this.exec = new NodeExec(host);
    this.metrics = createMetrics(options.node, host, {
      pods: () => this.endpoint.count,
      remotes: () => this.#remotes.size,
      nodePorts: () => this.relay.ports.length,
    });
  }

  static async start(options: CniAgentOptions): Promise<CniAgent> {
    try {
      parseCidr(options.clusterCidr ?? '10.244.0.0/16', { strict: true });
    } catch {
      throw new CniAgentError(CniAgentErrorCodes.USAGE, `--cluster-cidr "${options.clusterCidr}" is not a network CIDR like 10.244.0.0/16`);
    }
    const host = await HostNetwork.create({
      node: options.node,
      nodeIp: options.nodeIp,
      transportAddress: options.transportAddress,
      uplinkPort: options.uplinkPort ?? 4790,
    });
    const backend = createBackend(options.backend, {
      node: options.node,
      transportAddress: options.transportAddress,
      port: options.vxlanPort ?? VXLAN_PORT,
    });
    const agent = new CniAgent(options, host, backend);
    try {
      await agent.#start();
    } catch (error) {
      await agent.close();
      throw error;
    }
    return agent;
  }

  async #start(): Promise<void> {
    await this.backend.open(this.host);
    this.tunnel = instrumentAgent(this.metrics.registry, this.host, this.backend, {
      nameOf: (ip) => [...this.#remotes.values()].find((r) => r.nodeIp === ip)?.name,
      known: () => [...this.#remotes.values()].map((r) => r.nodeIp),
    });
    this.#control = await ControlServer.listen(this.options.controlSocket, this.#handlers(), (error, request) =>
      this.#log.debug({ method: request.method, err: (error as Error).message }, 'control request failed'),
    );
    const metricsPort = this.options.metricsPort ?? 9099;
    if (metricsPort >= 0) {
      try {
        this.#metricsServer = await serveMetrics(this.metrics.registry, this.options.transportAddress, metricsPort);
      } catch (error) {
        throw new CniAgentError(
          CniAgentErrorCodes.USAGE,
          `cannot serve /metrics on ${this.options.transportAddress}:${metricsPort}: ${(error as Error).message}. Is another cni-agent running on this address? Pass --metrics-port N (0: any free port, -1: none).`,
          { cause: error },
        );
      }
    }
    const client = this.options.client;
    this.#nodes = new Informer<NodeObject>(client.resource<NodeObject>('nodes'), { component: 'cni-agent', logger: this.#log });
    this.#nodes.addEventHandler({
      add: (n) => this.#onNode(n),
      update: (_old, n) => this.#onNode(n),
      delete: (n) => this.#onNodeDelete(n),
    });
    this.#services = new Informer<ServiceObject>(client.resource<ServiceObject>('services'), { component: 'cni-agent', logger: this.#log });
    const resync = () => void this.#syncNodePorts();
    this.#services.addEventHandler({ add: resync, update: resync, delete: resync });
    this.#nodes.start();
    this.#services.start();
    this.netpol = new PolicyHost({
      node: this.options.node,
      client,
      host: this.host,
      registry: this.metrics.registry,
      logger: this.#log,
      ...(this.options.netpolSyncMs !== undefined ? { syncPeriodMs: this.options.netpolSyncMs } : {}),
      ...(this.options.netpolMinSyncPeriodMs !== undefined ? { minSyncPeriodMs: this.options.netpolMinSyncPeriodMs } : {}),
    });
    this.netpol.start();
    this.#scheduleReconcile();
    this.#log.info(
      {
        controlSocket: this.options.controlSocket,
        backend: this.backend.name,
        nodeIp: this.options.nodeIp,
        transportAddress: this.options.transportAddress,
        metrics: this.metricsAddress,
        // UDP GSO/GRO on the tunnel sockets (netstack links/udp-segmentation.ts): why not, when not.
        udpSegmentation: udpOffloadSummary(),
      },
      'cni-agent started',
    );
  }

  get metricsAddress(): string | undefined {
    const a = this.#metricsServer?.address();
    return a && typeof a === 'object' ? `http://${a.address}:${a.port}/metrics` : undefined;
  }

  get podCidr(): Cidr | undefined {
    return this.#podCidr;
  }

  // ---- nodes ----------------------------------------------------------------------------------

  #onNode(node: NodeObject): void {
    const name = node.metadata?.name;
    if (!name) return;
    if (name === this.options.node) {
      void this.#onOwnNode(node);
      return;
    }
    const remote = remoteNodeOf(node);
    const previous = this.#remotes.get(name);
    if (typeof remote === 'string') {
      this.#log.debug({ remote: name, reason: remote }, 'remote node not programmable yet');
      return;
    }
    const missing = this.backend.missing(remote);
    if (missing) {
      this.#log.debug({ remote: name, missing }, 'remote node lacks backend data');
      return;
    }
    if (
      previous &&
      (previous.podCidr.network !== remote.podCidr.network || previous.nodeIp !== remote.nodeIp || previous.vtepMac !== remote.vtepMac)
    ) {
      this.backend.removeRemote(previous);
      removeNodeNetworkPeer(this.host, previous);
    }
    this.#remotes.set(name, remote);
    if (this.#podCidr) this.#ensureRemote(remote, !previous);
  }

  #ensureRemote(remote: RemoteNode, added: boolean): void {
    try {
      const n = ensureNodeNetworkPeer(this.host, remote) + this.backend.ensureRemote(remote);
      if (n > 0) {
        if (added)
          this.#log.info(
            { remote: remote.name, podCIDR: formatCidr(remote.podCidr), nodeIp: formatIpv4(remote.nodeIp) },
            'remote node programmed',
          );
        else {
          this.metrics.reconcileRestored.inc(n);
          this.#log.warn({ remote: remote.name, restored: n }, 'restored backend state for remote node (deleted by hand?)');
        }
      }
    } catch (error) {
      this.#log.warn({ remote: remote.name, err: (error as Error).message }, 'cannot program remote node');
    }
  }

  #onNodeDelete(node: NodeObject): void {
    const name = node.metadata?.name;
    if (!name || name === this.options.node) return;
    const remote = this.#remotes.get(name);
    if (!remote) return;
    this.#remotes.delete(name);
    this.backend.removeRemote(remote);
    removeNodeNetworkPeer(this.host, remote);
    this.#log.info({ remote: name, podCIDR: formatCidr(remote.podCidr) }, 'remote node removed');
  }

  async #onOwnNode(node: NodeObject): Promise<void> {
    const cidrText = node.spec?.podCIDR;
    if (this.#podCidr && cidrText && cidrText !== formatCidr(this.#podCidr)) {
      // Like the kubelet, the agent treats the podCIDR as fixed for its lifetime: pods hold
      // addresses from the old range. A re-created Node with a new range needs a restart.
      this.#log.error(
        { configured: formatCidr(this.#podCidr), node: cidrText },
        'own Node has a different spec.podCIDR than the one configured; restart the cni-agent (and its pods) to use it',
      );
    }
    if (!this.#podCidr) {
      const text = node.spec?.podCIDR;
      if (!text) return;
      let cidr: Cidr;
      try {
        cidr = parseCidr(text, { strict: true });
      } catch {
        this.#log.error({ podCIDR: text }, 'own Node has a spec.podCIDR that is not a network CIDR');
        return;
      }
      this.#configuring ??= this.#configure(cidr).catch((error) => {
        this.#configuring = undefined;
        this.#log.error({ err: (error as Error).message }, 'cannot configure the pod network');
      });
      await this.#configuring;
    }
    await this.#publishAnnotations(node);
  }

  async #configure(cidr: Cidr): Promise<void> {
    this.host.configurePodCidr(cidr, this.backend.mtu);
    await this.backend.setup(this.host, cidr);
    ensureMasquerade(this.host.netfilter, this.clusterCidr, formatCidr(cidr));
    this.#podCidr = cidr;
    const restored = await this.endpoint.restore();
    for (const r of this.#remotes.values()) this.#ensureRemote(r, true);
    this.#log.info({ podCIDR: formatCidr(cidr), restoredPods: restored, mtu: this.backend.mtu }, 'pod network configured');
  }

  async #publishAnnotations(node: NodeObject): Promise<void> {
    if (!this.#podCidr) return;
    const want: Record<string, string> = {
      ...nodeNetworkAnnotations(this.host),
      ...this.backend.annotations(),
      [ANNOTATIONS.transportAddress]: this.options.transportAddress,
    };
    const have = node.metadata?.annotations ?? {};
    if (Object.entries(want).every(([k, v]) => have[k] === v)) return;
    try {
      await this.options.client.resource('nodes').patch(this.options.node, { metadata: { annotations: want } }, { type: 'merge' });
      this.#log.info({ annotations: want }, 'published node annotations');
    } catch (error) {
      this.#log.warn({ err: (error as Error).message }, 'cannot annotate own Node; retrying on the next update');
    }
  }

  #scheduleReconcile(): void {
    if (this.#closed) return;
    const period = this.options.reconcileMs ?? 10_000;
    this.#nextReconcileAt = this.host.clock.now() + period;
    this.#reconcileTimer = this.host.clock.setTimeout(() => {
      this.reconcile();
      this.#scheduleReconcile();
    }, period);
  }

  /** flannel's resync: re-program every remote node and re-check the masquerade rules. */
  reconcile(): void {
    if (!this.#podCidr) return;
    for (const r of this.#remotes.values()) this.#ensureRemote(r, false);
    try {
      if (ensureMasquerade(this.host.netfilter, this.clusterCidr, formatCidr(this.#podCidr)))
        this.#log.warn({}, 'restored flannel masquerade rules');
    } catch (error) {
      this.#log.warn({ err: (error as Error).message }, 'cannot restore masquerade rules');
    }
    const own = this.#nodes?.store.getByName(undefined, this.options.node) as NodeObject | undefined;
    if (own) void this.#publishAnnotations(own);
  }

  async #syncNodePorts(): Promise<void> {
    const want = new Map<string, NodePortKey>();
    for (const svc of this.#services?.store.list() ?? []) {
      for (const p of svc.spec?.ports ?? []) {
        if (!p.nodePort) continue;
        const protocol = (p.protocol ?? 'TCP').toUpperCase();
        if (protocol !== 'TCP' && protocol !== 'UDP') continue;
        want.set(`${protocol}/${p.nodePort}`, { protocol, port: p.nodePort });
      }
    }
    await this.relay.sync([...want.values()]);
  }

  // ---- control socket ---------------------------------------------------------------------------

  #filterArgs(f: ConntrackFilterBody | undefined): string[] {
    const args: string[] = [];
    if (!f) return args;
    if (f.protocol) args.push('-p', f.protocol);
    if (f.origSrc) args.push('--orig-src', f.origSrc);
    if (f.origDst) args.push('--orig-dst', f.origDst);
    if (f.replySrc) args.push('--reply-src', f.replySrc);
    if (f.replyDst) args.push('--reply-dst', f.replyDst);
    if (f.sport !== undefined) args.push('--sport', String(f.sport));
    if (f.dport !== undefined) args.push('--dport', String(f.dport));
    if (f.dstNat) args.push('--dst-nat', f.dstNat);
    return args;
  }

  #handlers(): Handlers {
    return {
      cni: async (body) => {
        const r = await this.endpoint.handle(body);
        this.metrics.cniCalls.inc({ command: (body.command ?? '').toUpperCase(), result: r.cniError ? String(r.cniError.code) : 'ok' });
        return r;
      },
      attach: (body) => this.endpoint.attach(body.containerId, body.ifname ?? 'eth0'),
      iptablesRestore: (body) => {
        const r = this.host.netfilter.restore(body.payload, { noflush: !!body.noflush, test: !!body.test, counters: !!body.counters });
        // Over the socket this is kube-proxy (or a person): re-check our FORWARD jump right away.
        if (!body.test) this.netpol?.afterExternalRestore();
        return { tables: r.tables, rules: r.rules };
      },
      iptablesSave: (body) => {
        const table = body.table || undefined;
        if (table && !['raw', 'mangle', 'nat', 'filter'].includes(table)) {
          throw new CniAgentError(CniAgentErrorCodes.EXEC, `iptables-save: table '${table}' does not exist (raw, mangle, nat, filter)`);
        }
        return { text: this.host.netfilter.save({ ...(table ? { table: table as 'nat' } : {}), counters: !!body.counters }) };
      },
      exec: (body) => this.exec.run(body.argv ?? [], body.stdin ?? ''),
      conntrackList: (body) => {
        const r = this.exec.run(['conntrack', '-L', ...this.#filterArgs(body.filter)]);
        if (r.exitCode !== 0 && r.exitCode !== 1) throw new CniAgentError(CniAgentErrorCodes.EXEC, r.stderr.trim());
        return { text: r.stdout, count: r.stdout.split('\n').filter(Boolean).length };
      },
      conntrackDelete: (body) => {
        const r = this.exec.run(['conntrack', '-D', ...this.#filterArgs(body.filter)]);
        if (r.exitCode === 2) throw new CniAgentError(CniAgentErrorCodes.EXEC, r.stderr.trim());
        return { deleted: r.stdout.split('\n').filter(Boolean).length };
      },
      traceStart: (body) => ({ traceId: this.host.tracing.start(body) }),
      traceResults: (body) => this.host.tracing.results(body.traceId, !!body.stop),
      captureStart: (body) => ({ captureId: this.#captureStart(body.iface, body.path, !!body.underlay, body.durationMs ?? 0) }),
      captureStop: (body) => this.#captureStop(body.captureId),
      status: () => this.status(),
    };
  }

  #captureStart(iface: string, path: string, underlay: boolean, durationMs: number): string {
    if (!path) throw new CniAgentError(CniAgentErrorCodes.OBSERVE, 'capture: no file path given (-w FILE.pcap)');
    const links: Link[] =
      iface === 'any' || !iface
        ? this.host.ns.links().filter((l) => l.name !== 'lo')
        : [this.host.ns.link(iface)].filter((l): l is Link => !!l);
    if (links.length === 0) {
      throw new CniAgentError(
        CniAgentErrorCodes.OBSERVE,
        `capture: no interface "${iface}" on node ${this.options.node} (have: ${this.host.ns
          .links()
          .map((l) => l.name)
          .join(', ')})`,
      );
    }
    const writer = new pcap.PcapWriter(path);
    const id = randomUUID();
    const capture: Capture = { writer, untap: [], packets: 0, bytes: 0, path };
    const sink = {
      write: (frame: Buffer, ts?: { seconds: number; nanoseconds: number }) => {
        capture.packets++;
        capture.bytes += frame.length;
        return writer.write(frame, ts);
      },
    };
    for (const l of links) {
      const u = l as Link & { tapUnderlay?: (s: typeof sink) => () => void };
      if (underlay) {
        if (!u.tapUnderlay)
          throw new CniAgentError(CniAgentErrorCodes.OBSERVE, `capture: ${l.name} has no underlay (only flannel.1 and eth0 do)`);
        capture.untap.push(u.tapUnderlay(sink));
      } else capture.untap.push(l.tap(sink));
    }
    if (durationMs > 0) capture.timer = setTimeout(() => void this.#captureStop(id).catch(() => {}), durationMs);
    this.#captures.set(id, capture);
    return id;
  }

  async #captureStop(id: string): Promise<{ packets: number; bytes: number; path: string }> {
    const c = this.#captures.get(id);
    if (!c) throw new CniAgentError(CniAgentErrorCodes.OBSERVE, `capture ${id} is not running on node ${this.options.node}`);
    this.#captures.delete(id);
    if (c.timer) clearTimeout(c.timer);
    for (const u of c.untap) u();
    await c.writer.close();
    return { packets: c.packets, bytes: c.bytes, path: c.path };
  }

  status(): StatusResponseBody {
    const vtep = this.backend instanceof VxlanBackend ? this.backend.device : undefined;
    return {
      node: this.options.node,
      backend: this.backend.name,
      podCidr: this.#podCidr ? formatCidr(this.#podCidr) : '',
      nodeIp: this.options.nodeIp,
      transportAddress: this.options.transportAddress,
      vtepMac: vtep ? formatMac(vtep.mac) : '',
      pods: this.endpoint.count,
      peers: [...this.#remotes.keys()].sort(),
      nodePorts: this.relay.ports.length,
      ready: this.#podCidr !== undefined,
      uptimeSeconds: (Date.now() - this.#started) / 1000,
      pid: process.pid,
      mtu: this.backend.mtu,
      nextReconcileMs: Math.max(0, Math.round(this.#nextReconcileAt - this.host.clock.now())),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.host.clock.clearTimeout(this.#reconcileTimer);
    for (const id of [...this.#captures.keys()]) await this.#captureStop(id).catch(() => {});
    await this.#nodes?.stop();
    await this.#services?.stop();
    await this.netpol?.close();
    await this.#control?.close();
    await this.relay.close();
    await this.endpoint.close();
    if (this.#metricsServer) {
      const s = this.#metricsServer;
      s.closeAllConnections?.();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    await this.backend.close();
    await this.host.close();
  }
}

function udpOffloadSummary(): string {
  const state = udpSegmentationState();
  return state.available ? 'on' : `off: ${state.reason}`;
}
