// What every controller gets: the client, the shared informers with the indexes the controllers
// use, a logger, an event recorder per component, the clock, and the options.
import type { Informer, KubeClient, Logger } from '@podnet/client';
import { type Clock, systemClock } from '@podnet/wire';
import type { Deployment, EndpointSlice, Endpoints, Lease, Node, Pod, ReplicaSet, Service } from '../kube-types.js';
import { controllerOf } from '../kube-types.js';
import { EventRecorder } from './event-recorder.js';
import { SharedInformers } from './shared-informers.js';

export interface ControllerOptions {
  /** A node whose Lease is not renewed for this long is marked NotReady (Unknown). Default 10000. */
  nodeMonitorGracePeriodMs?: number;
  /** How often the node lifecycle controller checks the Leases. Default 1000. */
  nodeMonitorPeriodMs?: number;
  /** Pods on an unreachable node are evicted after this long, unless they tolerate it. Default 30000. */
  podEvictionTimeoutMs?: number;
  /** Default 10.244.0.0/16. */
  clusterCIDR?: string;
  /** Default 24. */
  nodeCIDRMaskSize?: number;
}

export interface ControllerContext {
  client: KubeClient;
  informers: SharedInformers;
  pods: Informer<Pod>;
  nodes: Informer<Node>;
  services: Informer<Service>;
  endpointSlices: Informer<EndpointSlice>;
  endpoints: Informer<Endpoints>;
  replicaSets: Informer<ReplicaSet>;
  deployments: Informer<Deployment>;
  leases: Informer<Lease>;
  log: Logger;
  clock: Clock;
  /** Wall-clock time for timestamps written to objects. */
  now: () => Date;
  recorder(component: string): EventRecorder;
  options: Required<ControllerOptions>;
}

export const BY_NODE = 'byNode';
export const BY_NAMESPACE = 'byNamespace';
export const BY_OWNER = 'byOwner';
export const BY_SERVICE = 'byService';

const byNamespace = (o: { metadata?: { namespace?: string } }) => [o.metadata?.namespace ?? ''];
const byOwner = (o: { metadata?: { ownerReferences?: { uid: string; controller?: boolean }[] } }) => {
  const c = controllerOf(o as Pod);
  return c ? [c.uid] : [];
};

export function makeContext(
  client: KubeClient,
  log: Logger,
  options: ControllerOptions = {},
  clock: Clock = systemClock,
  now: () => Date = () => new Date(),
): ControllerContext {
  const informers = new SharedInformers(client, log);
  const recorders = new Map<string, EventRecorder>();
  return {
    client,
    informers,
    pods: informers.get<Pod>('pods', {
      indexers: { [BY_NODE]: (p) => (p.spec?.nodeName ? [p.spec.nodeName] : []), [BY_NAMESPACE]: byNamespace, [BY_OWNER]: byOwner },
    }),
    nodes: informers.get<Node>('nodes'),
    services: informers.get<Service>('services', { indexers: { [BY_NAMESPACE]: byNamespace } }),
    endpointSlices: informers.get<EndpointSlice>('endpointslices', {
      labelSelector: 'endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io',
      indexers: { [BY_SERVICE]: (s) => [`${s.metadata.namespace}/${s.metadata.labels?.['kubernetes.io/service-name'] ?? ''}`] },
    }),
    endpoints: informers.get<Endpoints>('endpoints'),
    replicaSets: informers.get<ReplicaSet>('replicasets', { indexers: { [BY_OWNER]: byOwner } }),
    deployments: informers.get<Deployment>('deployments'),
    leases: informers.get<Lease>('leases', { namespace: 'kube-node-lease' }),
    log,
    clock,
    now,
    recorder(component: string) {
      let r = recorders.get(component);
      if (!r) {
        r = new EventRecorder(client, component, log.child({ component }), now);
        recorders.set(component, r);
      }
      return r;
    },
    options: {
      nodeMonitorGracePeriodMs: options.nodeMonitorGracePeriodMs ?? 10_000,
      nodeMonitorPeriodMs: options.nodeMonitorPeriodMs ?? 1000,
      podEvictionTimeoutMs: options.podEvictionTimeoutMs ?? 30_000,
      clusterCIDR: options.clusterCIDR ?? '10.244.0.0/16',
      nodeCIDRMaskSize: options.nodeCIDRMaskSize ?? 24,
    },
  };
}

/** Kubernetes timestamps (metav1.Time): RFC 3339 in UTC, whole seconds. */
export function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A controller: started after the caches synced, stopped on shutdown. */
export interface Controller {
  readonly name: string;
  start(): void;
  stop(): void;
}
