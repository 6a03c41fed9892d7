// The Kubernetes objects kube-proxy reads, as structural interfaces over their JSON shape
// (core/v1 Service and Node, discovery/v1 EndpointSlice). Only the fields the proxier renders
// are listed; anything else an object carries is ignored. packages/api owns the full types:
// an object of those types satisfies these interfaces, so callers pass them unchanged.

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** RFC 3339 time, set by the API server when the object was created. */
  creationTimestamp?: string;
  resourceVersion?: string;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServicePort {
  name?: string;
  protocol?: Protocol;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
}

export interface ClientIPConfig {
  timeoutSeconds?: number;
}

export interface ServiceSpec {
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  clusterIP?: string;
  clusterIPs?: string[];
  ports?: ServicePort[];
  externalIPs?: string[];
  loadBalancerSourceRanges?: string[];
  sessionAffinity?: 'None' | 'ClientIP';
  sessionAffinityConfig?: { clientIP?: ClientIPConfig };
  externalTrafficPolicy?: 'Cluster' | 'Local';
  internalTrafficPolicy?: 'Cluster' | 'Local';
  healthCheckNodePort?: number;
}

export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
  /** "VIP" (default) or "Proxy": kube-proxy only captures VIP-mode ingress IPs (KEP-1860). */
  ipMode?: 'VIP' | 'Proxy';
}

export interface Service {
  metadata: ObjectMeta;
  spec?: ServiceSpec;
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] } };
}

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  nodeName?: string;
  zone?: string;
}

export interface EndpointPort {
  name?: string;
  protocol?: Protocol;
  port?: number;
}

export interface EndpointSlice {
  metadata: ObjectMeta;
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints?: Endpoint[];
  ports?: EndpointPort[];
}

export interface Node {
  metadata: ObjectMeta;
}

/** The label an EndpointSlice carries to name its Service (discovery/v1 LabelServiceName). */
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';

/** The annotation the EndpointSlice controller sets to the time of the change that caused the update. */
export const ANNOTATION_LAST_CHANGE_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';
