// What the live page shows of the cluster, kept current by informers (the same list+watch every
// controller uses): nodes, pods by node with their IPs and readiness, and Services with the
// endpoints their EndpointSlices list. `onChange` fires (coalesced) whenever any of it changes,
// so the page's server-sent events follow the cluster without polling the API server.
import { Informer, type KubeClient, type KubeObject, type Logger } from '@podnet/client';

interface NodeObj extends KubeObject {
  spec?: { podCIDR?: string; unschedulable?: boolean };
  status?: { addresses?: Array<{ type: string; address: string }>; conditions?: Array<{ type: string; status: string }> };
}
interface PodObj extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string }> };
}
interface ServiceObj extends KubeObject {
  spec?: { type?: string; clusterIP?: string; ports?: Array<{ name?: string; port: number; protocol?: string; nodePort?: number }> };
}
interface SliceObj extends KubeObject {
  endpoints?: Array<{
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    nodeName?: string;
    targetRef?: { name?: string };
  }>;
}

export interface NodeView {
  name: string;
  ready: string;
  internalIP: string;
  transportAddress: string;
  podCIDR: string;
}
export interface PodView {
  namespace: string;
  name: string;
  node: string;
  ip: string;
  phase: string;
  ready: boolean;
  terminating: boolean;
}
export interface EndpointView {
  ip: string;
  ready: boolean;
  terminating: boolean;
  node: string;
  pod: string;
}
export interface ServiceView {
  namespace: string;
  name: string;
  type: string;
  clusterIP: string;
  ports: string[];
  endpoints: EndpointView[];
}
export interface ClusterSnapshot {
  /** Bumped on every change the page is told about. */
  version: number;
  nodes: NodeView[];
  pods: PodView[];
  services: ServiceView[];
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const byName = <T extends { namespace?: string; name: string }>(a: T, b: T) =>
  `${a.namespace ?? ''}/${a.name}`.localeCompare(`${b.namespace ?? ''}/${b.name}`);

export class ClusterView {
  readonly #nodes: Informer<NodeObj>;
  readonly #pods: Informer<PodObj>;
  readonly #services: Informer<ServiceObj>;
  readonly #slices: Informer<SliceObj>;
  readonly #listeners = new Set<() => void>();
  /** EndpointSlice writes seen per Service ("ns/name"): what the endpoint changes metric counts. */
  readonly endpointChanges = new Map<string, number>();
  #version = 0;
  #pending: NodeJS.Timeout | undefined;

  constructor(client: KubeClient, logger?: Logger) {
    const opts = { component: 'live-page', ...(logger ? { logger } : {}) };
    this.#nodes = new Informer<NodeObj>(client.resource<NodeObj>('nodes'), opts);
    this.#pods = new Informer<PodObj>(client.resource<PodObj>('pods'), opts);
    this.#services = new Informer<ServiceObj>(client.resource<ServiceObj>('services'), opts);
    this.#slices = new Informer<SliceObj>(client.resource<SliceObj>('endpointslices'), opts);
    const changed = { add: () => this.#changed(), update: () => this.#changed(), delete: () => this.#changed() };
    for (const i of [this.#nodes, this.#pods, this.#services, this.#slices]) i.addEventHandler(changed);
    const sliceChanged = (s: SliceObj) => {
      const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (!svc) return;
      const key = `${s.metadata?.namespace}/${svc}`;
      this.endpointChanges.set(key, (this.endpointChanges.get(key) ?? 0) + 1);
    };
    this.#slices.addEventHandler({ update: (_old, s) => sliceChanged(s), delete: sliceChanged });
  }

  start(): void {
    for (const i of [this.#nodes, this.#pods, this.#services, this.#slices]) i.start();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#pending);
    await Promise.all([this.#nodes, this.#pods, this.#services, this.#slices].map((i) => i.stop()));
  }

  /** Called (at most every 50 ms) after the cluster changed. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    this.#version++;
    // Coalesce bursts (a Deployment rollout touches many objects) into one push.
    this.#pending ??= setTimeout(() => {
      this.#pending = undefined;
      for (const l of this.#listeners) l();
    }, 50);
  }

  nodes(): NodeView[] {
    return this.#nodes.store
      .list()
      .map((n) => ({
        name: n.metadata?.name ?? '',
        ready: n.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown',
        internalIP: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '',
        transportAddress: n.metadata?.annotations?.['podnet.dev/transport-address'] ?? '',
        podCIDR: n.spec?.podCIDR ?? '',
      }))
      .sort(byName);
  }

  snapshot(): ClusterSnapshot {
    const pods: PodView[] = this.#pods.store
      .list()
      .map((p) => ({
        namespace: p.metadata?.namespace ?? '',
        name: p.metadata?.name ?? '',
        node: p.spec?.nodeName ?? '',
        ip: p.status?.podIP ?? '',
        phase: p.status?.phase ?? 'Pending',
        ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        terminating: p.metadata?.deletionTimestamp !== undefined,
      }))
      .sort(byName);
    const slicesByService = new Map<string, SliceObj[]>();
    for (const s of this.#slices.store.list()) {
      const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (!svc) continue;
      const key = `${s.metadata?.namespace}/${svc}`;
      slicesByService.set(key, [...(slicesByService.get(key) ?? []), s]);
    }
    const services: ServiceView[] = this.#services.store
      .list()
      .map((s) => {
        const namespace = s.metadata?.namespace ?? '';
        const name = s.metadata?.name ?? '';
        const endpoints = (slicesByService.get(`${namespace}/${name}`) ?? [])
          .flatMap((slice) => slice.endpoints ?? [])
          .flatMap((e) =>
            e.addresses.map((ip) => ({
              ip,
              ready: e.conditions?.ready ?? true,
              terminating: e.conditions?.terminating ?? false,
              node: e.nodeName ?? '',
              pod: e.targetRef?.name ?? '',
            })),
          )
          .sort((a, b) => a.ip.localeCompare(b.ip, undefined, { numeric: true }));
        return {
          namespace,
          name,
          type: s.spec?.type ?? 'ClusterIP',
          clusterIP: s.spec?.clusterIP ?? '',
          ports: (s.spec?.ports ?? []).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`),
          endpoints,
        };
      })
      .sort(byName);
    return { version: this.#version, nodes: this.nodes(), pods, services };
  }
}
