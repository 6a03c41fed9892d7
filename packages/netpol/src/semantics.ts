// NetworkPolicy semantics (networking.k8s.io/v1), resolved against the cluster's pods and
// namespaces into plain facts the renderer writes as rules. Everything here follows the API's
// documented meaning (k8s.io/api/networking/v1/types.go) and the upstream conformance suite
// (test/e2e/network/netpol):
// - a policy selects pods of its own namespace by spec.podSelector ({} = every pod there);
// - policyTypes, when absent, is [Ingress] plus Egress when spec.egress has at least one rule
//   (pkg/apis/networking/v1 defaults: SetDefaults_NetworkPolicy);
// - a pod is isolated for a direction once any policy selecting it has that policy type; the
//   allowed traffic is the union of every such policy's rules (policies only add up);
// - a rule with missing or empty from/to matches every peer; missing or empty ports every port;
//   a policy type with no rules allows nothing in that direction;
// - a peer with podSelector alone selects pods of the policy's namespace; namespaceSelector alone
//   every pod in the namespaces it selects; both together the pods matching podSelector in those
//   namespaces (AND); ipBlock a CIDR minus its except ranges;
// - a port's protocol defaults to TCP; a named port resolves on the destination pod, to the
//   container port with that name and protocol; endPort makes a range with a numeric port.
import { type LabelRequirement, labelSelectorRequirements, matchesLabels } from '@podnet/api';
import { type Cidr, cidrContainsCidr, parseCidr, parseIpv4 } from '@podnet/wire';
import { NetpolError, NetpolErrorCodes } from './errors.js';
import type {
  LabelSelector,
  Namespace,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Pod,
  PolicyProtocol,
  PolicyType,
} from './types.js';

/** What the renderer needs to know about one pod. */
export interface PodInfo {
  namespace: string;
  name: string;
  ip: string;
  nodeName: string;
  labels: Record<string, string>;
  /** Named container ports: `name/PROTOCOL` → port number. */
  namedPorts: ReadonlyMap<string, number>;
}

export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
}

/** A peer resolved to source/destination addresses. */
export type ResolvedPeer =
  | { kind: 'pods'; ips: string[] }
  | { kind: 'ipBlock'; cidr: string; except: string[] }
  /** Missing or empty from/to: every address. */
  | { kind: 'any' };

/** A port entry as the rule engine matches it. Named ports are resolved per destination pod. */
export type ResolvedPort =
  | { kind: 'all' }
  | { kind: 'protocol'; protocol: PolicyProtocol }
  | { kind: 'number'; protocol: PolicyProtocol; port: number; endPort?: number }
  | { kind: 'named'; protocol: PolicyProtocol; name: string };

export interface CompiledRule {
  index: number;
  peers: ResolvedPeer[];
  ports: ResolvedPort[];
}

export interface CompiledPolicy {
  /** namespace/name */
  key: string;
  namespace: string;
  name: string;
  selector: LabelRequirement[];
  types: ReadonlySet<PolicyType>;
  ingress: CompiledRule[];
  egress: CompiledRule[];
}

export const policyKey = (p: { metadata: { namespace?: string; name: string } }): string =>
  `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`;

const PROTOCOLS: readonly PolicyProtocol[] = ['TCP', 'UDP', 'SCTP'];

/** The pod facts a policy agent uses, or undefined for pods policies cannot address (no IP yet, host network, finished). */
export function podInfo(pod: Pod): PodInfo | undefined {
  const ip = pod.status?.podIP ?? pod.status?.podIPs?.[0]?.ip;
  if (!ip || pod.spec?.hostNetwork) return undefined;
  // A finished pod's IP may already belong to a new pod (kubelet releases it): never match it.
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return undefined;
  const namedPorts = new Map<string, number>();
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name) namedPorts.set(`${p.name}/${p.protocol ?? 'TCP'}`, p.containerPort);
    }
  }
  return {
    namespace: pod.metadata.namespace ?? 'default',
    name: pod.metadata.name,
    ip,
    nodeName: pod.spec?.nodeName ?? '',
    labels: { ...(pod.metadata.labels ?? {}) },
    namedPorts,
  };
}

export function namespaceInfo(ns: Namespace): NamespaceInfo {
  // The API server sets kubernetes.io/metadata.name on every namespace (NamespaceDefaultLabelName, 1.21+).
  return { name: ns.metadata.name, labels: { 'kubernetes.io/metadata.name': ns.metadata.name, ...(ns.metadata.labels ?? {}) } };
}

function invalid(key: string, where: string, what: string): NetpolError {
  return new NetpolError(NetpolErrorCodes.INVALID_POLICY, `NetworkPolicy ${key}: ${where}: ${what}`);
}

function selector(key: string, where: string, sel: LabelSelector): LabelRequirement[] {
  try {
    return labelSelectorRequirements(sel);
  } catch (e) {
    throw invalid(key, where, (e as Error).message);
  }
}

function checkCidr(key: string, where: string, text: string): Cidr {
  try {
    return parseCidr(text);
  } catch (e) {
    throw invalid(key, where, (e as Error).message);
  }
}

/** spec.policyTypes with the API's defaulting applied. */
export function effectivePolicyTypes(policy: NetworkPolicy): Set<PolicyType> {
  const given = policy.spec.policyTypes;
  if (given && given.length > 0) return new Set(given);
  const types = new Set<PolicyType>(['Ingress']);
  if ((policy.spec.egress?.length ?? 0) > 0) types.add('Egress');
  return types;
}

function compilePort(key: string, where: string, p: NetworkPolicyPort): ResolvedPort {
  const protocol = p.protocol ?? 'TCP';
  if (!PROTOCOLS.includes(protocol)) throw invalid(key, `${where}.protocol`, `"${protocol}" is not TCP, UDP or SCTP`);
  if (p.port === undefined) {
    if (p.endPort !== undefined) throw invalid(key, `${where}.endPort`, 'endPort needs a numeric port');
    return { kind: 'protocol', protocol };
  }
  if (typeof p.port === 'string' && !/^\d+$/.test(p.port)) {
    if (p.endPort !== undefined) throw invalid(key, `${where}.endPort`, `endPort cannot be used with the named port "${p.port}"`);
    return { kind: 'named', protocol, name: p.port };
  }
  const port = Number(p.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(key, `${where}.port`, `${p.port} is not a port 1-65535`);
  if (p.endPort !== undefined) {
    if (!Number.isInteger(p.endPort) || p.endPort < port || p.endPort > 65535) {
      throw invalid(key, `${where}.endPort`, `endPort ${p.endPort} must be an integer from port (${port}) to 65535`);
    }
    return { kind: 'number', protocol, port, endPort: p.endPort };
  }
  return { kind: 'number', protocol, port };
}

/** Pods of the cluster a peer selects (namespace of the policy for a bare podSelector). */
function resolvePeer(
  key: string,
  where: string,
  peer: NetworkPolicyPeer,
  policyNamespace: string,
  pods: readonly PodInfo[],
  namespaces: ReadonlyMap<string, NamespaceInfo>,
): ResolvedPeer {
  if (peer.ipBlock) {
    if (peer.podSelector || peer.namespaceSelector)
      throw invalid(key, where, 'ipBlock cannot be combined with podSelector or namespaceSelector');
    const cidr = checkCidr(key, `${where}.ipBlock.cidr`, peer.ipBlock.cidr);
    const except = (peer.ipBlock.except ?? []).map((e, i) => {
      const c = checkCidr(key, `${where}.ipBlock.except[${i}]`, e);
      if (!cidrContainsCidr(cidr, c) || c.prefix <= cidr.prefix) {
        throw invalid(key, `${where}.ipBlock.except[${i}]`, `"${e}" must be a strict subset of cidr "${peer.ipBlock?.cidr}"`);
      }
      return e;
    });
    return { kind: 'ipBlock', cidr: peer.ipBlock.cidr, except };
  }
  if (!peer.podSelector && !peer.namespaceSelector) throw invalid(key, where, 'a peer needs podSelector, namespaceSelector or ipBlock');
  const podReqs = peer.podSelector ? selector(key, `${where}.podSelector`, peer.podSelector) : [];
  const nsReqs = peer.namespaceSelector ? selector(key, `${where}.namespaceSelector`, peer.namespaceSelector) : undefined;
  const ips: string[] = [];
  for (const pod of pods) {
    if (nsReqs === undefined) {
      if (pod.namespace !== policyNamespace) continue;
    } else {
      const ns = namespaces.get(pod.namespace);
      if (!ns || !matchesLabels(nsReqs, ns.labels)) continue;
    }
    if (matchesLabels(podReqs, pod.labels)) ips.push(pod.ip);
  }
  return { kind: 'pods', ips: sortIps(ips) };
}

/** Unique addresses in numeric order (each parsed once: the comparator runs n log n times). */
export function sortIps(ips: readonly string[]): string[] {
  return [...new Set(ips)]
    .map((ip) => ({ ip, n: parseIpv4(ip) }))
    .sort((a, b) => a.n - b.n)
    .map((x) => x.ip);
}

/**
 * Compiles a policy against the current pods and namespaces. Throws NetpolError
 * (PODNET_ERR_NETPOL_INVALID_POLICY) naming the field for a policy the API would refuse.
 */
export function compilePolicy(
  policy: NetworkPolicy,
  pods: readonly PodInfo[],
  namespaces: ReadonlyMap<string, NamespaceInfo>,
): CompiledPolicy {
  const key = policyKey(policy);
  const namespace = policy.metadata.namespace ?? 'default';
  if (!policy.spec || typeof policy.spec !== 'object') throw invalid(key, 'spec', 'missing');
  const sel = selector(key, 'spec.podSelector', policy.spec.podSelector ?? {});
  const types = effectivePolicyTypes(policy);
  for (const t of types) if (t !== 'Ingress' && t !== 'Egress') throw invalid(key, 'spec.policyTypes', `"${t}" is not Ingress or Egress`);
  const rules = (list: Array<{ peers?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }>, field: string, peerField: string) =>
    list.map((r, index): CompiledRule => {
      const where = `spec.${field}[${index}]`;
      const peersIn = r.peers ?? [];
      const peers =
        peersIn.length === 0
          ? [{ kind: 'any' } as const]
          : peersIn.map((p, i) => resolvePeer(key, `${where}.${peerField}[${i}]`, p, namespace, pods, namespaces));
      const portsIn = r.ports ?? [];
      const ports = portsIn.length === 0 ? [{ kind: 'all' } as const] : portsIn.map((p, i) => compilePort(key, `${where}.ports[${i}]`, p));
      return { index, peers, ports };
    });
  return {
    key,
    namespace,
    name: policy.metadata.name,
    selector: sel,
    types,
    ingress: types.has('Ingress')
      ? rules(
          (policy.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })),
          'ingress',
          'from',
        )
      : [],
    egress: types.has('Egress')
      ? rules(
          (policy.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports })),
          'egress',
          'to',
        )
      : [],
  };
}

/** Whether a compiled policy selects a pod (same namespace, podSelector matches). */
export function selectsPod(policy: CompiledPolicy, pod: PodInfo): boolean {
  return pod.namespace === policy.namespace && matchesLabels(policy.selector, pod.labels);
}
