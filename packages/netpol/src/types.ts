// The subset of the Kubernetes objects the policy agent reads (networking.k8s.io/v1 NetworkPolicy,
// core/v1 Pod and Namespace), with the field names of the API so informer objects pass straight in.
// Reference: k8s.io/api/networking/v1/types.go.

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export type PolicyProtocol = 'TCP' | 'UDP' | 'SCTP';

export interface NetworkPolicyPort {
  /** Defaults to TCP. */
  protocol?: PolicyProtocol;
  /** A number, or the name of a container port on the destination pod. Missing: every port. */
  port?: number | string;
  /** With a numeric port: the last port of the range (inclusive). */
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export type PolicyType = 'Ingress' | 'Egress';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
}

export interface NetworkPolicy {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: {
    podSelector: LabelSelector;
    policyTypes?: PolicyType[];
    ingress?: NetworkPolicyIngressRule[];
    egress?: NetworkPolicyEgressRule[];
  };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: PolicyProtocol;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: {
    nodeName?: string;
    hostNetwork?: boolean;
    containers?: Array<{ name: string; ports?: ContainerPort[] }>;
  };
  status?: { phase?: string; podIP?: string; podIPs?: Array<{ ip: string }> };
}

export interface Namespace {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}
